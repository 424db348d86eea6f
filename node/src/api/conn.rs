//! Connection admission for the API: a bounded set of connections that an
//! idle crowd cannot take over.
//!
//! Each accepted TCP stream is registered in [`Connections`] and wrapped in a
//! [`Tracked`] stream that records when it last moved a byte. When the set is
//! full, a new client does not wait behind the crowd: the connection that has
//! been quiet longest is closed to make room, and connections that never sent
//! a byte go first. Only when every connection is busy (moved a byte within
//! [`MIN_QUIET`]) is the newcomer refused. Together with hyper's header-read
//! timeout, which also bounds how long a keep-alive connection may sit
//! between requests, a client holding hundreds of idle sockets can no longer
//! lock the others out.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connection that moved a byte more recently than this is busy and is
/// never closed to make room.
pub const MIN_QUIET: Duration = Duration::from_secs(1);

/// One registered connection.
struct Conn {
    /// Milliseconds since the registry's epoch of the last byte moved.
    last_active_ms: AtomicU64,
    /// True once the client sent any byte.
    spoke: AtomicBool,
    evicted: AtomicBool,
    waker: AtomicWaker,
}

/// The set of open API connections.
pub struct Connections {
    epoch: Instant,
    max: usize,
    next_id: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
    evictions: AtomicU64,
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl Connections {
    /// A set of at most `max` connections.
    pub fn new(max: usize) -> Arc<Connections> {
        Arc::new(Connections {
            epoch: Instant::now(),
            max: max.max(1),
            next_id: AtomicU64::new(0),
            open: Mutex::new(BTreeMap::new()),
            evictions: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.open.lock().expect("connections lock").len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Connections closed so far to make room for new ones.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Registers a new connection, closing the quietest one if the set is
    /// full. Refuses only when every open connection is busy.
    pub fn admit(self: &Arc<Self>, stream: TcpStream) -> Result<Tracked, Full> {
        let now = self.now_ms();
        let conn = Arc::new(Conn {
            last_active_ms: AtomicU64::new(now),
            spoke: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        let mut open = self.open.lock().expect("connections lock");
        // Evicted connections leave the map when their task drops them; do
        // not count them against the limit meanwhile.
        let live = open
            .values()
            .filter(|c| !c.evicted.load(Ordering::Relaxed))
            .count();
        if live >= self.max {
            let min_quiet_ms = MIN_QUIET.as_millis() as u64;
            // Silent ones first, then the longest quiet; ties by age.
            let victim = open
                .iter()
                .filter(|(_, c)| !c.evicted.load(Ordering::Relaxed))
                .map(|(id, c)| {
                    (
                        c.spoke.load(Ordering::Relaxed),
                        c.last_active_ms.load(Ordering::Relaxed),
                        *id,
                    )
                })
                .filter(|(_, last, _)| now.saturating_sub(*last) >= min_quiet_ms)
                .min();
            let Some((_, _, id)) = victim else {
                return Err(Full);
            };
            let c = &open[&id];
            c.evicted.store(true, Ordering::Relaxed);
            c.waker.wake();
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        open.insert(id, conn.clone());
        drop(open);
        Ok(Tracked {
            stream,
            conn,
            id,
            registry: self.clone(),
        })
    }
}

/// A TCP stream that reports its activity to [`Connections`] and ends when
/// it is evicted.
pub struct Tracked {
    stream: TcpStream,
    conn: Arc<Conn>,
    id: u64,
    registry: Arc<Connections>,
}

impl Tracked {
    fn touch(&self) {
        self.conn
            .last_active_ms
            .store(self.registry.now_ms(), Ordering::Relaxed);
    }

    fn evicted(&self) -> bool {
        self.conn.evicted.load(Ordering::Relaxed)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.registry
            .open
            .lock()
            .expect("connections lock")
            .remove(&self.id);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.conn.waker.register(cx.waker());
        if self.evicted() {
            // End of stream: hyper closes the connection.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.spoke.store(true, Ordering::Relaxed);
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.evicted() {
            return Poll::Ready(Err(std::io::ErrorKind::ConnectionAborted.into()));
        }
        let r = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let addr = listener.local_addr().unwrap();
        let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.unwrap(), server.unwrap().0)
    }

    /// A full set makes room by closing the connection that never spoke,
    /// not the one that is talking, and refuses only when all are busy.
    #[tokio::test]
    async fn a_full_set_closes_the_quietest_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let set = Connections::new(2);
        let (_c1, s1) = pair(&listener).await;
        let mut silent = set.admit(s1).unwrap();
        let (mut c2, s2) = pair(&listener).await;
        let mut talker = set.admit(s2).unwrap();
        c2.write_all(b"GET").await.unwrap();
        let mut buf = [0u8; 3];
        talker.read_exact(&mut buf).await.unwrap();
        // Both are busy for MIN_QUIET: a third is refused.
        let (_c3, s3) = pair(&listener).await;
        assert!(matches!(set.admit(s3), Err(Full)));
        tokio::time::sleep(MIN_QUIET + Duration::from_millis(50)).await;
        let (_c4, s4) = pair(&listener).await;
        let _newcomer = set.admit(s4).unwrap();
        assert_eq!(set.evictions(), 1);
        // The silent one was chosen: its reads now end.
        let n = tokio::time::timeout(Duration::from_secs(1), silent.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0);
        drop(silent);
        assert_eq!(set.len(), 2);
        assert!(!talker.evicted());
    }
}
