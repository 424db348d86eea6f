//! The last point (height, round, step) this validator signed, and the
//! last vote itself, in a small file of its own outside the data directory.
//!
//! The consensus WAL lives in the database, and a database is what an
//! operator deletes to resync a broken node. A validator that voted at a
//! stalled height and then lost its WAL could sign a conflicting vote at
//! the same height and round. Like CometBFT's `priv_validator_state.json`,
//! this file survives that: it is written (and fsynced, with its directory)
//! before each signed message leaves the node, and consensus refuses to
//! sign anything at or below the point it records.
//!
//! The file is written before the WAL, so a crash between the two leaves
//! the file one message ahead. Holding only the point, that left a lone
//! validator (a dev node, or the last honest one) unable to vote again at
//! that round and unable to leave it: stuck for good. The file therefore
//! also keeps the last vote, which the node puts back into the WAL on
//! start when the WAL lacks it (CometBFT keeps its last signature for the
//! same reason). A lost proposal needs nothing: its round times out and the
//! validator prevotes nil above the floor.

use std::io::Write;
use std::path::{Path, PathBuf};

use deltachain_protocol::{codec, Height, SignedVote};
use serde::{Deserialize, Serialize};

use crate::consensus::{SignPoint, WalEntry};

/// Largest state file read: three numbers and one vote.
const MAX_FILE_BYTES: u64 = 4096;

/// Largest encoded vote accepted from the file.
const MAX_VOTE_BYTES: usize = 1024;

/// The file's form. `vote` (hex of the canonical encoding) is absent in
/// files written before it existed; they still load.
#[derive(Serialize, Deserialize)]
struct OnDisk {
    #[serde(flatten)]
    point: SignPoint,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vote: Option<String>,
}

/// The signing state and where it is kept.
#[derive(Debug)]
pub struct SignState {
    path: PathBuf,
    last: Option<SignPoint>,
    vote: Option<SignedVote>,
}

impl SignState {
    /// Loads the state; a missing file means this validator never signed.
    /// A file that cannot be read or parsed stops the node: guessing would
    /// risk a double sign.
    pub fn load(path: &Path) -> Result<SignState, String> {
        let damaged = |why: String| {
            format!(
                "signing state {} is damaged ({why}); restore it from a backup. Do not delete it: it keeps this validator from signing twice",
                path.display()
            )
        };
        let disk = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read signing state {}: {e}", path.display())),
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                return Err(format!(
                    "signing state {} is {} bytes; it should hold three numbers and a vote",
                    path.display(),
                    m.len()
                ))
            }
            Ok(_) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read signing state {}: {e}", path.display()))?;
                Some(serde_json::from_str::<OnDisk>(&text).map_err(|e| damaged(e.to_string()))?)
            }
        };
        let Some(disk) = disk else {
            return Ok(SignState {
                path: path.to_path_buf(),
                last: None,
                vote: None,
            });
        };
        let vote = match &disk.vote {
            None => None,
            Some(text) => {
                let bytes = hex::decode(text).map_err(|e| damaged(format!("vote: {e}")))?;
                let v: SignedVote = codec::decode(&bytes, MAX_VOTE_BYTES, "signed vote")
                    .map_err(|e| damaged(format!("vote: {e}")))?;
                if SignPoint::of(&WalEntry::Vote(v)) > disk.point {
                    return Err(damaged("its vote is above its point".into()));
                }
                Some(v)
            }
        };
        Ok(SignState {
            path: path.to_path_buf(),
            last: Some(disk.point),
            vote,
        })
    }

    /// The last point signed, if any.
    pub fn last(&self) -> Option<SignPoint> {
        self.last
    }

    /// Records that `entry` is about to be signed and sent; durable when
    /// this returns. Entries at or below the recorded point change nothing
    /// (a re-send of a message from the WAL).
    pub fn record(&mut self, entry: &WalEntry) -> std::io::Result<()> {
        let vote = match entry {
            WalEntry::Vote(v) => Some(*v),
            WalEntry::Proposal { .. } => self.vote,
        };
        self.write(SignPoint::of(entry), vote)
    }

    fn write(&mut self, point: SignPoint, vote: Option<SignedVote>) -> std::io::Result<()> {
        if self.last.is_some_and(|l| point <= l) {
            return Ok(());
        }
        let disk = OnDisk {
            point,
            vote: vote.map(|v| hex::encode(codec::encode(&v))),
        };
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(&disk).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        self.last = Some(point);
        self.vote = vote;
        Ok(())
    }

    /// The recorded vote when it belongs to `height` and `wal` (that
    /// height's records) lacks it: the node crashed after this file was
    /// written and before the WAL was. Putting it back lets the validator
    /// re-send the vote it may already have sent, and nothing else.
    pub fn unlogged_vote(&self, height: Height, wal: &[WalEntry]) -> Option<SignedVote> {
        let v = self.vote?;
        let logged = wal.iter().any(|e| {
            matches!(e, WalEntry::Vote(w) if w.vote.round == v.vote.round && w.vote.kind == v.vote.kind)
        });
        (v.vote.height == height && !logged).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltachain_protocol::{Hash, Keypair, Vote, VoteKind};

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
        s.write(point(5, 1, 1), None).unwrap();
        s.write(point(5, 0, 2), None).unwrap();
        assert_eq!(s.last(), Some(point(5, 1, 1)));
        s.write(point(5, 1, 2), None).unwrap();
        let again = SignState::load(&path).unwrap();
        assert_eq!(again.last(), Some(point(5, 1, 2)));
        std::fs::write(&path, "{not json").unwrap();
        let e = SignState::load(&path).unwrap_err();
        assert!(e.contains("Do not delete it"), "{e}");
    }

    fn vote(height: u64, round: u32, kind: VoteKind) -> SignedVote {
        Vote {
            height,
            round,
            kind,
            block: Some(Hash([7; 32])),
            validator: 0,
        }
        .sign(&Keypair::from_secret([1; 32]), "c")
    }

    #[test]
    fn a_file_from_before_votes_were_kept_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing_state.json");
        std::fs::write(&path, r#"{"height":6,"round":0,"step":1}"#).unwrap();
        let s = SignState::load(&path).unwrap();
        assert_eq!(s.last(), Some(point(6, 0, 1)));
        assert_eq!(s.unlogged_vote(6, &[]), None);
    }

    /// The crash this file's vote is for: written here, not in the WAL.
    #[test]
    fn the_last_vote_survives_and_is_handed_back_only_when_the_wal_lacks_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing_state.json");
        let mut s = SignState::load(&path).unwrap();
        let prevote = vote(6, 0, VoteKind::Prevote);
        s.record(&WalEntry::Vote(prevote)).unwrap();
        let s = SignState::load(&path).unwrap();
        assert_eq!(s.last(), Some(point(6, 0, 1)));
        assert_eq!(s.unlogged_vote(6, &[]), Some(prevote));
        assert_eq!(s.unlogged_vote(6, &[WalEntry::Vote(prevote)]), None);
        assert_eq!(s.unlogged_vote(7, &[]), None, "another height");
        // A precommit of the same round in the WAL is not the prevote.
        let precommit = vote(6, 0, VoteKind::Precommit);
        assert_eq!(
            s.unlogged_vote(6, &[WalEntry::Vote(precommit)]),
            Some(prevote)
        );
    }

    #[test]
    fn a_vote_above_the_recorded_point_or_oversized_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing_state.json");
        let v = hex::encode(codec::encode(&vote(9, 0, VoteKind::Prevote)));
        std::fs::write(
            &path,
            format!(r#"{{"height":6,"round":0,"step":1,"vote":"{v}"}}"#),
        )
        .unwrap();
        let e = SignState::load(&path).unwrap_err();
        assert!(e.contains("above its point"), "{e}");
        std::fs::write(
            &path,
            format!(r#"{{"height":6,"round":0,"step":1,"vote":"zz{v}"}}"#),
        )
        .unwrap();
        assert!(SignState::load(&path).unwrap_err().contains("vote"));
        std::fs::write(&path, " ".repeat(5000)).unwrap();
        assert!(SignState::load(&path).unwrap_err().contains("bytes"));
    }
}
