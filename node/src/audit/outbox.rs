//! The audit outbox: an append-only file of the entries a node answered
//! for and has not yet seen on chain.
//!
//! A file of its own rather than a sled tree, because the promise "durable
//! before the answer leaves" costs one `fdatasync` of a few hundred bytes
//! here (about 0.2 ms on this machine), where a sled flush writes out
//! whatever the chain has dirtied too and took several milliseconds under
//! load. Each record is `len (u32 LE) | check (4 bytes of sha256) | payload`,
//! with the payload the canonical encoding of `(seq, entry)`. A torn tail
//! (a crash in the middle of an append) is cut off on open; it was never
//! acknowledged, since acknowledgement waits for the sync. Shipped entries
//! are dropped from memory at once and from the file when it is empty of
//! unshipped ones or mostly shipped (rewritten, synced and renamed).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use deltachain_protocol::{codec, crypto, AuditEntry, MAX_TX_BYTES};

/// The outbox file and the unshipped entries it holds, in order.
pub struct Outbox {
    path: PathBuf,
    file: File,
    entries: VecDeque<(u64, AuditEntry)>,
    /// Records in the file, shipped ones included.
    in_file: usize,
    /// Bytes of whole records in the file: where a failed append is cut
    /// back to.
    len: u64,
    /// Set when a failed append could not be cut back: nothing more is
    /// appended after bytes that might hide the records behind them.
    broken: bool,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> String {
    format!("audit outbox {}: {what}: {e}", path.display())
}

fn record(seq: u64, e: &AuditEntry) -> Vec<u8> {
    let payload = codec::encode(&(seq, e));
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crypto::sha256(&payload).0[..4]);
    out.extend_from_slice(&payload);
    out
}

/// Parses records from `bytes`; returns them and how many bytes were good.
fn parse(bytes: &[u8]) -> (Vec<(u64, AuditEntry)>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= 8 {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        if len > MAX_TX_BYTES || bytes.len() - at - 8 < len {
            break;
        }
        let payload = &bytes[at + 8..at + 8 + len];
        if crypto::sha256(payload).0[..4] != bytes[at + 4..at + 8] {
            break;
        }
        match codec::decode::<(u64, AuditEntry)>(payload, MAX_TX_BYTES, "audit entry") {
            Ok(r) => out.push(r),
            Err(_) => break,
        }
        at += 8 + len;
    }
    (out, at)
}

impl Outbox {
    /// Opens (or creates) the outbox at `path`, cutting off a torn tail.
    pub fn open(path: &Path) -> Result<Outbox, String> {
        let mut bytes = Vec::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes)
                    .map_err(|e| io(path, "cannot read", e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(path, "cannot open", e)),
        }
        let (records, good) = parse(&bytes);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io(path, "cannot open for appending", e))?;
        if good < bytes.len() {
            tracing::warn!(path = %path.display(), cut = bytes.len() - good,
                "audit outbox ends in a torn record (a crash mid-append); cutting it off");
            file.set_len(good as u64)
                .and_then(|_| file.sync_all())
                .map_err(|e| io(path, "cannot cut the torn tail", e))?;
        }
        Ok(Outbox {
            path: path.to_path_buf(),
            file,
            in_file: records.len(),
            entries: records.into(),
            len: good as u64,
            broken: false,
        })
    }

    /// Appends entries and syncs them to disk.
    pub fn append(&mut self, entries: Vec<(u64, AuditEntry)>) -> Result<(), String> {
        if self.broken {
            return Err(format!(
                "audit outbox {} could not be repaired after a failed write; restart the node",
                self.path.display()
            ));
        }
        let mut buf = Vec::new();
        for (seq, e) in &entries {
            buf.extend_from_slice(&record(*seq, e));
        }
        if let Err(e) = self
            .file
            .write_all(&buf)
            .and_then(|_| self.file.sync_data())
        {
            // Cut a partial record off, so that later appends are not
            // hidden behind it when the file is read back.
            if self
                .file
                .set_len(self.len)
                .and_then(|_| self.file.sync_all())
                .is_err()
            {
                self.broken = true;
            }
            return Err(io(&self.path, "cannot append", e));
        }
        self.len += buf.len() as u64;
        self.in_file += entries.len();
        self.entries.extend(entries);
        Ok(())
    }

    /// The highest sequence number held, if any.
    pub fn last_seq(&self) -> Option<u64> {
        self.entries.back().map(|(s, _)| *s)
    }

    /// Unshipped entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing waits to be shipped.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Up to `limit` entries from `seq` on.
    pub fn from(&self, seq: u64, limit: usize) -> Vec<(u64, AuditEntry)> {
        self.entries
            .iter()
            .filter(|(s, _)| *s >= seq)
            .take(limit)
            .cloned()
            .collect()
    }

    /// Forgets entries below `seq` (the chain holds them); returns how many.
    pub fn drop_below(&mut self, seq: u64) -> Result<usize, String> {
        let mut n = 0;
        while self.entries.front().is_some_and(|(s, _)| *s < seq) {
            self.entries.pop_front();
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        if self.entries.is_empty() {
            self.file
                .set_len(0)
                .and_then(|_| self.file.sync_all())
                .map_err(|e| io(&self.path, "cannot empty", e))?;
            self.in_file = 0;
            self.len = 0;
        } else if self.in_file > 4 * self.entries.len() + 4096 {
            self.rewrite()?;
        }
        Ok(n)
    }

    /// Rewrites the file with only the unshipped entries.
    fn rewrite(&mut self) -> Result<(), String> {
        let tmp = self.path.with_extension("tmp");
        let mut buf = Vec::new();
        for (seq, e) in &self.entries {
            buf.extend_from_slice(&record(*seq, e));
        }
        let mut f = File::create(&tmp).map_err(|e| io(&tmp, "cannot create", e))?;
        f.write_all(&buf)
            .and_then(|_| f.sync_all())
            .map_err(|e| io(&tmp, "cannot write", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io(&self.path, "cannot replace", e))?;
        if let Some(dir) = self.path.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| io(&self.path, "cannot reopen", e))?;
        self.in_file = self.entries.len();
        self.len = buf.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use deltachain_protocol::{AccessBasis, AuditOutcome, AuditRoute, Hash, Keypair};

    use super::*;

    fn entry(n: u64) -> AuditEntry {
        AuditEntry {
            time_ms: n,
            requester: Keypair::from_secret([1; 32]).public(),
            enterprise: "91350100M000100Y43".into(),
            route: AuditRoute::EnterpriseRecords,
            purpose: None,
            basis: AccessBasis::Regulator,
            outcome: AuditOutcome::Granted,
            response_hash: Hash([n as u8; 32]),
        }
    }

    #[test]
    fn survives_reopen_cuts_a_torn_tail_and_compacts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        let mut o = Outbox::open(&path).unwrap();
        o.append((0..10).map(|i| (i, entry(i))).collect()).unwrap();
        drop(o);
        // A crash mid-append leaves half a record.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&record(10, &entry(10))[..20]).unwrap();
        drop(f);
        let mut o = Outbox::open(&path).unwrap();
        assert_eq!(o.len(), 10);
        assert_eq!(o.last_seq(), Some(9));
        assert_eq!(o.from(7, 100).len(), 3);
        // Appending after the cut keeps the file readable.
        o.append(vec![(10, entry(10))]).unwrap();
        assert_eq!(o.drop_below(4).unwrap(), 4);
        drop(o);
        let mut o = Outbox::open(&path).unwrap();
        assert_eq!(
            o.from(0, 100).first().map(|e| e.0),
            Some(0),
            "the file still holds shipped ones until compaction"
        );
        o.drop_below(4).unwrap();
        assert_eq!(o.from(0, 100).first().map(|e| e.0), Some(4));
        // Everything shipped: the file is emptied.
        o.drop_below(11).unwrap();
        assert!(o.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        // Mostly shipped: rewritten to the rest.
        o.append((11..6000).map(|i| (i, entry(i))).collect())
            .unwrap();
        o.drop_below(5990).unwrap();
        drop(o);
        let o = Outbox::open(&path).unwrap();
        assert_eq!(o.len(), 10);
        assert_eq!(o.from(0, 1)[0].0, 5990);
        // Garbage is not trusted.
        std::fs::write(&path, b"\xff\xff\xff\xffgarbage").unwrap();
        assert!(Outbox::open(&path).unwrap().is_empty());
    }
}
