//! The last point (height, round, step) this validator signed, in a small
//! file of its own, outside the data directory.
//!
//! The consensus WAL lives in the database, and a database is what an
//! operator deletes to resync a broken node. A validator that voted at a
//! stalled height and then lost its WAL could sign a conflicting vote at
//! the same height and round. Like CometBFT's `priv_validator_state.json`,
//! this file survives that: it is written (and fsynced, with its directory)
//! before each signed message leaves the node, and consensus refuses to
//! sign anything at or below the point it records.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::consensus::SignPoint;

/// Largest state file read: it holds three numbers.
const MAX_FILE_BYTES: u64 = 4096;

/// The signing state and where it is kept.
#[derive(Debug)]
pub struct SignState {
    path: PathBuf,
    last: Option<SignPoint>,
}

impl SignState {
    /// Loads the state; a missing file means this validator never signed.
    /// A file that cannot be read or parsed stops the node: guessing would
    /// risk a double sign.
    pub fn load(path: &Path) -> Result<SignState, String> {
        let last = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read signing state {}: {e}", path.display())),
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                return Err(format!(
                    "signing state {} is {} bytes; it should hold three numbers",
                    path.display(),
                    m.len()
                ))
            }
            Ok(_) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read signing state {}: {e}", path.display()))?;
                Some(serde_json::from_str::<SignPoint>(&text).map_err(|e| {
                    format!(
                        "signing state {} is damaged ({e}); restore it from a backup. Do not delete it: it keeps this validator from signing twice",
                        path.display()
                    )
                })?)
            }
        };
        Ok(SignState {
            path: path.to_path_buf(),
            last,
        })
    }

    /// The last point signed, if any.
    pub fn last(&self) -> Option<SignPoint> {
        self.last
    }

    /// Records that `point` is about to be signed; durable when this
    /// returns. Points at or below the recorded one change nothing (a
    /// re-send of a message from the WAL).
    pub fn record(&mut self, point: SignPoint) -> std::io::Result<()> {
        if self.last.is_some_and(|l| point <= l) {
            return Ok(());
        }
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(&point).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        self.last = Some(point);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(height: u64, round: u32, step: u8) -> SignPoint {
        SignPoint {
            height,
            round,
            step,
        }
    }

    #[test]
    fn records_only_forward_and_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing_state.json");
        let mut s = SignState::load(&path).unwrap();
        assert_eq!(s.last(), None);
        s.record(point(5, 1, 1)).unwrap();
        s.record(point(5, 0, 2)).unwrap();
        assert_eq!(s.last(), Some(point(5, 1, 1)));
        s.record(point(5, 1, 2)).unwrap();
        let again = SignState::load(&path).unwrap();
        assert_eq!(again.last(), Some(point(5, 1, 2)));
        std::fs::write(&path, "{not json").unwrap();
        let e = SignState::load(&path).unwrap_err();
        assert!(e.contains("Do not delete it"), "{e}");
    }
}
