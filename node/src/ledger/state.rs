//! State access for the ledger: a read trait the storage implements, and an
//! in-memory overlay that collects writes without touching disk.
//!
//! Validators execute a proposed block on an [`Overlay`] over the committed
//! state before they prevote; only a decided block's write set reaches the disk.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use deltachain_protocol::codec;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A failure to read state: the disk, not the transaction, is at fault. The
/// node stops rather than guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state read failed: {0}")]
pub struct StateFault(pub String);

/// Read access to ledger state.
pub trait StateRead {
    /// The value at `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateFault>;
}

/// An empty state (the world before genesis).
pub struct EmptyState;

impl StateRead for EmptyState {
    fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StateFault> {
        Ok(None)
    }
}

impl StateRead for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateFault> {
        Ok(BTreeMap::get(self, key).cloned())
    }
}

/// The sorted set of writes a block makes: `None` deletes.
pub type WriteSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Writes layered over a base state.
///
/// Base reads are remembered for the life of the overlay, so that a block
/// of thousands of transactions from a few hundred members reads each
/// member record once from storage instead of once per transaction. The
/// cache holds only what the base returned and is consulted after the
/// overlay's own writes, so it cannot change an answer.
pub struct Overlay<'a, S: StateRead + ?Sized> {
    base: &'a S,
    writes: WriteSet,
    reads: RefCell<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    read_bytes: Cell<usize>,
}

/// Bound on the bytes of remembered base reads per overlay (one block).
const MAX_CACHED_READ_BYTES: usize = 8 << 20;

impl<'a, S: StateRead + ?Sized> Overlay<'a, S> {
    /// A fresh overlay with no writes.
    pub fn new(base: &'a S) -> Self {
        Overlay {
            base,
            writes: BTreeMap::new(),
            reads: RefCell::new(BTreeMap::new()),
            read_bytes: Cell::new(0),
        }
    }

    /// Reads through the overlay.
    pub fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateFault> {
        if let Some(v) = self.writes.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.reads.borrow().get(key) {
            return Ok(v.clone());
        }
        let value = self.base.get(key)?;
        let size = key.len() + value.as_ref().map_or(0, Vec::len);
        if self.read_bytes.get() + size <= MAX_CACHED_READ_BYTES {
            self.read_bytes.set(self.read_bytes.get() + size);
            self.reads.borrow_mut().insert(key.to_vec(), value.clone());
        }
        Ok(value)
    }

    /// Reads and decodes a value.
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StateFault> {
        match self.get_raw(key)? {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes, codec::MAX_DECODE_BYTES, "state value")
                .map(Some)
                .map_err(|e| {
                    StateFault(format!(
                        "corrupt state at {}: {e}",
                        String::from_utf8_lossy(key)
                    ))
                }),
        }
    }

    /// Encodes and writes a value.
    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.writes.insert(key, Some(codec::encode(value)));
    }

    /// Deletes a key.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// The collected writes.
    pub fn into_writes(self) -> WriteSet {
        self.writes
    }

    /// The collected writes, by reference.
    pub fn writes(&self) -> &WriteSet {
        &self.writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A base that counts how often it is read.
    struct Counting {
        map: BTreeMap<Vec<u8>, Vec<u8>>,
        reads: Cell<usize>,
    }

    impl StateRead for Counting {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateFault> {
            self.reads.set(self.reads.get() + 1);
            Ok(self.map.get(key).cloned())
        }
    }

    #[test]
    fn base_reads_are_remembered_and_writes_still_win() {
        let base = Counting {
            map: [(b"m/a".to_vec(), b"1".to_vec())].into_iter().collect(),
            reads: Cell::new(0),
        };
        let mut o = Overlay::new(&base);
        for _ in 0..100 {
            assert_eq!(o.get_raw(b"m/a").unwrap(), Some(b"1".to_vec()));
            assert_eq!(o.get_raw(b"m/none").unwrap(), None);
        }
        assert_eq!(base.reads.get(), 2, "one base read per key");
        o.put(b"m/a".to_vec(), &7u64);
        assert_eq!(o.get::<u64>(b"m/a").unwrap(), Some(7));
        o.delete(b"m/a".to_vec());
        assert_eq!(o.get_raw(b"m/a").unwrap(), None);
        o.put(b"m/none".to_vec(), &9u64);
        assert_eq!(o.get::<u64>(b"m/none").unwrap(), Some(9));
        assert_eq!(base.reads.get(), 2);
    }

    #[test]
    fn remembered_reads_are_bounded() {
        let big = vec![0u8; 1 << 20];
        let base = Counting {
            map: (0..20u8).map(|i| (vec![i], big.clone())).collect(),
            reads: Cell::new(0),
        };
        let o = Overlay::new(&base);
        for _ in 0..2 {
            for i in 0..20u8 {
                assert_eq!(o.get_raw(&[i]).unwrap().map(|v| v.len()), Some(1 << 20));
            }
        }
        assert!(o.read_bytes.get() <= MAX_CACHED_READ_BYTES);
        // Seven fit under the bound; the other thirteen are read again.
        assert_eq!(base.reads.get(), 20 + 13);
    }
}
