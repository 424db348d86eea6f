//! The query audit trail: every read of enterprise data, granted or
//! refused, is made durable in the node's outbox before the answer leaves,
//! and carried onto the chain in `audit_batch` transactions signed by the
//! node's validator key.
//!
//! Two tasks. The writer group-commits into the [`outbox`] file: entries
//! that arrive while one sync is in progress share the next, so a burst of
//! reads costs one disk sync, not one each. The shipper wakes every `audit.ship_interval_ms`,
//! reads from the chain which of its entries are recorded (the ledger keeps
//! the next expected sequence number per node), drops those from the
//! outbox, and sends the rest. A crash between answering and shipping loses
//! nothing: the outbox survives and the shipper resumes from what the
//! chain says. A batch sent twice is recorded once. Sequence numbers only
//! grow, from a floor taken from the clock at start, so a node whose outbox
//! was lost never reuses a number the chain holds.

pub mod outbox;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deltachain_protocol::access::MAX_AUDIT_ENTRIES;
use deltachain_protocol::{AuditBatch, AuditEntry, Hash, Keypair, Payload, Transaction};
use tokio::sync::{mpsc, oneshot, watch};

use crate::node::Shared;
use outbox::Outbox;

/// Most entries waiting in the outbox (they are held in memory too, about
/// 200 bytes each). Past it, reads of enterprise data are refused (503)
/// rather than answered without a durable record.
pub const MAX_OUTBOX: usize = 200_000;
/// Most entries one flush writes.
const MAX_GROUP: usize = 4096;
/// Most batch transactions in flight at once.
const MAX_IN_FLIGHT_TXS: usize = 64;
/// How long a sent batch may stay uncommitted and unknown to the mempool
/// before it is sent again.
const RESEND_AFTER: Duration = Duration::from_secs(20);

/// Why an audit entry could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// This node cannot put entries on chain.
    #[error("this node is not a validator, so it cannot record queries on chain; read enterprise data through a validator's API")]
    NotValidator,
    /// Too many entries wait to be shipped.
    #[error("the audit outbox is full ({0} entries wait to go on chain); try again shortly")]
    Backlog(usize),
    /// The disk failed.
    #[error("the audit outbox could not be written: {0}")]
    Storage(String),
}

type Job = (AuditEntry, oneshot::Sender<Result<u64, AuditError>>);

/// Handle the API uses to record entries.
pub struct AuditLog {
    tx: Option<mpsc::Sender<Job>>,
    outbox: Option<Arc<Mutex<Outbox>>>,
    /// Entries in the outbox (not yet known to be on chain).
    waiting: Arc<AtomicUsize>,
}

impl AuditLog {
    /// A log that refuses every entry (not a validator).
    pub fn disabled() -> AuditLog {
        AuditLog {
            tx: None,
            outbox: None,
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Records `entry` durably; returns its sequence number.
    pub async fn record(&self, entry: AuditEntry) -> Result<u64, AuditError> {
        let Some(tx) = &self.tx else {
            return Err(AuditError::NotValidator);
        };
        let waiting = self.waiting.load(Ordering::Relaxed);
        if waiting >= MAX_OUTBOX {
            return Err(AuditError::Backlog(waiting));
        }
        let (done, rx) = oneshot::channel();
        tx.send((entry, done))
            .await
            .map_err(|_| AuditError::Storage("the audit writer stopped".into()))?;
        let seq = rx
            .await
            .map_err(|_| AuditError::Storage("the audit writer stopped".into()))??;
        Ok(seq)
    }

    /// Entries waiting to go on chain.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// Opens the outbox in `data_dir` and starts the writer; the shipper is
/// started by [`spawn_shipper`] once the node's shared state exists.
pub fn start(data_dir: &std::path::Path, chain_next: u64) -> Result<AuditLog, String> {
    let outbox = Outbox::open(&data_dir.join("audit-outbox.log"))?;
    // Never reuse a number: not one the chain holds, nor one a lost outbox
    // (a rebuilt data directory, a node still behind the chain) used. The
    // clock gives a floor past both; numbers only need to grow.
    let floor = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64 * 1000)
        .unwrap_or(0);
    let next = outbox
        .last_seq()
        .map_or(0, |l| l + 1)
        .max(chain_next)
        .max(floor);
    let waiting = Arc::new(AtomicUsize::new(outbox.len()));
    let outbox = Arc::new(Mutex::new(outbox));
    let (tx, rx) = mpsc::channel(MAX_GROUP);
    tokio::spawn(writer(outbox.clone(), rx, next, waiting.clone()));
    Ok(AuditLog {
        tx: Some(tx),
        outbox: Some(outbox),
        waiting,
    })
}

async fn writer(
    outbox: Arc<Mutex<Outbox>>,
    mut rx: mpsc::Receiver<Job>,
    mut next: u64,
    waiting: Arc<AtomicUsize>,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let entries: Vec<(u64, AuditEntry)> = jobs
            .iter()
            .enumerate()
            .map(|(i, (e, _))| (next + i as u64, e.clone()))
            .collect();
        let n = entries.len();
        let ob = outbox.clone();
        let written = tokio::task::spawn_blocking(move || {
            ob.lock().unwrap_or_else(|e| e.into_inner()).append(entries)
        })
        .await
        .unwrap_or_else(|e| Err(format!("the audit writer failed: {e}")));
        match written {
            Ok(()) => {
                waiting.fetch_add(n, Ordering::Relaxed);
                for (i, (_, done)) in jobs.into_iter().enumerate() {
                    let _ = done.send(Ok(next + i as u64));
                }
                next += n as u64;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot write the audit outbox; refusing reads of enterprise data");
                for (_, done) in jobs {
                    let _ = done.send(Err(AuditError::Storage(e.clone())));
                }
            }
        }
    }
}

struct InFlight {
    end: u64,
    hashes: Vec<Hash>,
    sent: Instant,
}

/// Ships outbox entries to the chain every `interval` until `shutdown`.
pub fn spawn_shipper(
    shared: Arc<Shared>,
    key: Keypair,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut in_flight: Option<InFlight> = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.wait_for(|v| *v) => return,
            }
            if let Err(e) = ship_once(&shared, &key, &mut in_flight).await {
                tracing::warn!(error = %e, "audit shipping failed; will retry");
            }
        }
    });
}

async fn ship_once(
    s: &Shared,
    key: &Keypair,
    in_flight: &mut Option<InFlight>,
) -> Result<(), String> {
    let me = key.public();
    let Some(outbox) = s.audit.outbox.clone() else {
        return Ok(());
    };
    let chain_next = s.store.audit_next(&me).map_err(|e| e.to_string())?;
    let (removed, entries) = tokio::task::spawn_blocking(move || {
        let mut o = outbox.lock().unwrap_or_else(|e| e.into_inner());
        let removed = o.drop_below(chain_next)?;
        Ok::<_, String>((
            removed,
            o.from(chain_next, MAX_AUDIT_ENTRIES * MAX_IN_FLIGHT_TXS),
        ))
    })
    .await
    .map_err(|e| e.to_string())??;
    if removed > 0 {
        let w = &s.audit.waiting;
        let _ = w.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(removed))
        });
    }
    if let Some(f) = in_flight {
        if chain_next >= f.end {
            *in_flight = None;
        } else {
            let pending = {
                let pool = s.mempool.lock().expect("mempool lock");
                f.hashes.iter().any(|h| pool.get(h).is_some())
            };
            if pending || f.sent.elapsed() < RESEND_AFTER {
                return Ok(());
            }
            tracing::info!(
                from = chain_next,
                "audit batches were dropped before commit; sending again"
            );
            *in_flight = None;
        }
    }
    if entries.is_empty() {
        return Ok(());
    }
    let committed = s.store.nonce(&me).map_err(|e| e.to_string())?;
    let pending = s
        .mempool
        .lock()
        .expect("mempool lock")
        .max_pending_nonce(&me);
    let first_nonce = pending.unwrap_or(committed).max(committed) + 1;
    let mut raw = Vec::new();
    let mut hashes = Vec::new();
    let mut end = entries[0].0;
    // Consecutive runs only: a hole in sequence numbers would be refused.
    for (nonce, chunk) in (first_nonce..).zip(entries.chunks(MAX_AUDIT_ENTRIES)) {
        if chunk[0].0 != end {
            break;
        }
        let contiguous = chunk
            .iter()
            .enumerate()
            .take_while(|(i, (seq, _))| *seq == end + *i as u64)
            .count();
        let tx = Transaction {
            chain_id: s.genesis.chain_id.clone(),
            sender: me,
            nonce,
            payload: Payload::AuditBatch(AuditBatch {
                first_seq: end,
                entries: chunk[..contiguous].iter().map(|(_, e)| e.clone()).collect(),
            }),
        }
        .sign(key);
        hashes.push(tx.hash());
        raw.push(tx.encode());
        end += contiguous as u64;
        if contiguous < chunk.len() {
            break;
        }
    }
    let results = s.admit(raw, true).await;
    if let Some(e) = results.iter().find_map(|r| r.as_ref().err()) {
        return Err(format!("the mempool refused an audit batch: {e}"));
    }
    *in_flight = Some(InFlight {
        end,
        hashes,
        sent: Instant::now(),
    });
    Ok(())
}
