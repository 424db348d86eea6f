//! State access for the ledger: a read trait the storage implements, and an
//! in-memory overlay that collects writes without touching disk.
//!
//! Validators execute a proposed block on an [`Overlay`] over the committed
//! state before they prevote; only a decided block's write set reaches the disk.

use std::collections::BTreeMap;

use deltachain_protocol::{codec, crypto, Hash};
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
pub struct Overlay<'a, S: StateRead + ?Sized> {
    base: &'a S,
    writes: WriteSet,
}

impl<'a, S: StateRead + ?Sized> Overlay<'a, S> {
    /// A fresh overlay with no writes.
    pub fn new(base: &'a S) -> Self {
        Overlay {
            base,
            writes: BTreeMap::new(),
        }
    }

    /// Reads through the overlay.
    pub fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateFault> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
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

/// `state_root = sha256(previous root || canonical encoding of the sorted
/// write set)`. A node that executes differently diverges in the next header.
pub fn next_state_root(prev: &Hash, writes: &WriteSet) -> Hash {
    let entries: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = writes.iter().collect();
    crypto::sha256_parts(&[&prev.0, &codec::encode(&entries)])
}
