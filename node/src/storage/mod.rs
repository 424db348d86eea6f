//! Durable storage in sled.
//!
//! Everything the chain needs lives in one sled tree, `chain`, under
//! one-letter key prefixes, so that committing a block is a single
//! [`sled::Batch`] (atomic) followed by one flush:
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `B` | height (u64 BE) | the block's header and last commit |
//! | `X` | height, chunk (u32 BE) | up to [`TXS_PER_CHUNK`] transactions with their receipts |
//! | `C` | height | the [`CommitCertificate`] that committed it |
//! | `H` | block hash | height |
//! | `S` | ledger state key | ledger state value |
//! | `M` | `tip`, `genesis`, `format`, `pruned` | [`Tip`], genesis hash, layout, oldest state version |
//! | `J` `Z` | | the state tree's nodes (with the values beside their leaves) and its pruning index (see `tree.rs`) |
//!
//! Each transaction is stored once, under an append-order key (in chunks of
//! 16, so that a block is a few sled items rather than thousands: sled's
//! commit and recovery costs grow with the number of items); the ledger
//! state refers to it by (height, index) (the `t/<hash>` entry finds it by
//! hash, a credit record names its transaction). Keeping bulky values out of
//! random-order keys is what keeps sled's rewriting, and so the disk and the
//! commit cost, proportional to a block rather than to the whole chain.
//!
//! The consensus write-ahead log lives in its own tree, `wal`, flushed on
//! every append. On open the store checks the genesis hash and the tip: the
//! tip block exists, its hash, certificate and state root match, and it
//! links to its parent. Corruption is reported, never run on.

use std::path::Path;
use std::sync::{Arc, RwLock};

use deltachain_protocol::{
    codec, Block, BlockHeader, CommitCertificate, Credit, Genesis, Hash, Height, PublicKey,
    Receipt, SignedTransaction, MAX_TX_BYTES,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ledger::{self, keys, StateFault, StateRead, WriteSet};

mod registry;
mod tree;

pub use registry::{Party, PublicView};
pub use tree::ProofUnavailable;

/// Storage failures. Any of them stops the node: it must not run on state
/// it could not save or read back.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an I/O or internal error.
    #[error("storage I/O error in {path}")]
    Io {
        /// Data directory.
        path: String,
        /// The sled error.
        source: sled::Error,
    },
    /// Stored data fails a consistency check.
    #[error("storage in {path} is corrupt: {detail}; restore it from a backup, or move it aside and let the node sync from its peers (keep the signing state file: it lives outside the data directory so that a validator cannot sign twice)")]
    Corrupt {
        /// Data directory.
        path: String,
        /// What failed.
        detail: String,
    },
    /// Another process holds the data directory.
    #[error("data directory {path} is in use by another process; is another node running on it?")]
    Locked {
        /// Data directory.
        path: String,
    },
    /// The data directory was written in another storage layout.
    #[error("data directory {path} uses storage format {found}, this node reads format {FORMAT_VERSION}; move the directory aside and let the node sync from its peers (keep the signing state file, which lives outside it)")]
    WrongFormat {
        /// Data directory.
        path: String,
        /// Format found (1 for directories written before formats were recorded).
        found: u32,
    },
    /// The data directory holds another network's chain.
    #[error("data directory {path} belongs to the chain with genesis {stored}, but this node's genesis is {expected}")]
    WrongGenesis {
        /// Data directory.
        path: String,
        /// Genesis hash stored.
        stored: Hash,
        /// Genesis hash expected.
        expected: Hash,
    },
    /// A commit out of order.
    #[error("cannot commit height {got}: the tip is {tip}")]
    OutOfOrder {
        /// Height offered.
        got: Height,
        /// Current tip.
        tip: Height,
    },
}

/// The last committed block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tip {
    /// Height (0 before the first block).
    pub height: Height,
    /// Its hash (zero at height 0).
    pub hash: Hash,
    /// State root after it (the genesis root at height 0).
    pub state_root: Hash,
    /// Its time (genesis time at height 0).
    pub time_ms: u64,
}

/// Where a committed transaction is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxLocation {
    /// Block height.
    pub height: Height,
    /// Index in the block.
    pub index: u32,
    /// Its receipt.
    pub receipt: Receipt,
}

/// A credit record as queries show it: the ledger's entry joined with the
/// transaction that reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditRecord {
    /// Position in the enterprise's list, from 0.
    pub seq: u64,
    /// The reporting transaction.
    pub tx_hash: Hash,
    /// The reporting bank.
    pub reporter: PublicKey,
    /// Height of its block.
    pub height: Height,
    /// Block time.
    pub time_ms: u64,
    /// The record as reported.
    pub record: Credit,
    /// Corrections, oldest first.
    pub corrections: Vec<ledger::Correction>,
}

impl CreditRecord {
    /// True once the reporter withdrew it.
    pub fn withdrawn(&self) -> bool {
        self.corrections.iter().any(|c| c.withdraw)
    }
}

/// What `B` holds: a block without its transactions.
#[derive(Serialize, Deserialize)]
struct BlockShell {
    header: BlockHeader,
    last_commit: Option<CommitCertificate>,
}

/// [`BlockShell`] by reference, encoding to the same bytes.
#[derive(Serialize)]
struct BlockShellRef<'a> {
    header: &'a BlockHeader,
    last_commit: &'a Option<CommitCertificate>,
}

/// Largest stored receipt + transaction: a transaction and a receipt
/// whose reason is bounded like any text.
const MAX_STORED_TX: usize = MAX_TX_BYTES + 64 * 1024;

/// Transactions per `X` item. Small enough that reading one transaction
/// decodes little and a sled leaf of chunks stays inline in its log
/// (under 128 KiB); large enough that a block is few items.
pub const TXS_PER_CHUNK: u32 = 16;

/// A chunk's encoding: `count` (u32 LE), `count` lengths (u32 LE), then
/// each item's bytes (an encoded `(Receipt, SignedTransaction)`), so one
/// item can be decoded without decoding the others.
fn encode_chunk(items: &[Vec<u8>]) -> Vec<u8> {
    let body: usize = items.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(4 + 4 * items.len() + body);
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for item in items {
        out.extend_from_slice(&(item.len() as u32).to_le_bytes());
    }
    for item in items {
        out.extend_from_slice(item);
    }
    out
}

/// Splits a chunk into its items, checking every bound.
fn decode_chunk(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let word = |at: usize| -> Result<usize, String> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
            .ok_or_else(|| "chunk is truncated".to_string())
    };
    let count = word(0)?;
    if count == 0 || count > TXS_PER_CHUNK as usize {
        return Err(format!("chunk claims {count} transactions"));
    }
    let mut at = 4 + 4 * count;
    let mut items = Vec::with_capacity(count);
    for i in 0..count {
        let len = word(4 + 4 * i)?;
        if len > MAX_STORED_TX {
            return Err(format!("chunk item of {len} bytes"));
        }
        let item = bytes
            .get(at..at + len)
            .ok_or_else(|| "chunk is truncated".to_string())?;
        items.push(item);
        at += len;
    }
    if at != bytes.len() {
        return Err("chunk has trailing bytes".into());
    }
    Ok(items)
}

/// How long opening waits for another holder of the data directory's lock
/// to let go: a store dropped in this process, or a node that is exiting.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// Opens sled, waiting up to [`LOCK_WAIT`] for its file lock: sled's
/// background threads can hold the lock briefly after a `Db` is dropped.
fn open_sled(dir: &Path, cache_bytes: u64) -> sled::Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
        {
            Err(e) if is_lock_error(&e) && started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Handle to the node's database. Cheap to clone; all clones share one sled
/// instance and one cached tip.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    chain: sled::Tree,
    wal: sled::Tree,
    path: String,
    tip: Arc<RwLock<Tip>>,
}

fn hkey(prefix: u8, height: Height) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&height.to_be_bytes());
    k
}

fn xkey(height: Height, chunk: u32) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[..9].copy_from_slice(&hkey(b'X', height));
    k[9..].copy_from_slice(&chunk.to_be_bytes());
    k
}

fn pkey(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

const TIP: &[u8] = b"Mtip";
const GENESIS: &[u8] = b"Mgenesis";
const FORMAT: &[u8] = b"Mformat";

/// The storage layout version. A node refuses a data directory written in
/// another layout rather than misread it.
pub const FORMAT_VERSION: u32 = 4;

/// sled page cache used by [`Store::open`]; a node takes its size from
/// `config.toml` (`[storage] cache_mb`).
pub const DEFAULT_CACHE_BYTES: u64 = 128 << 20;

impl Store {
    /// Opens (or creates) the store in `dir` for the chain of `genesis`
    /// with the default page cache.
    pub fn open(dir: &Path, genesis: &Genesis) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, genesis, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store with a page cache of `cache_bytes`.
    pub fn open_with_cache(
        dir: &Path,
        genesis: &Genesis,
        cache_bytes: u64,
    ) -> Result<Store, StoreError> {
        let path = dir.display().to_string();
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io(sled::Error::Io(e)))?;
        let db = open_sled(dir, cache_bytes).map_err(|e| match e {
            sled::Error::Corruption { .. } => StoreError::Corrupt {
                path: path.clone(),
                detail: format!("sled cannot read its log: {e}"),
            },
            e if is_lock_error(&e) => StoreError::Locked { path: path.clone() },
            e => io(e),
        })?;
        let chain = db.open_tree("chain").map_err(io)?;
        let wal = db.open_tree("wal").map_err(io)?;
        let mut store = Store {
            db,
            chain,
            wal,
            path: path.clone(),
            tip: Arc::new(RwLock::new(Tip {
                height: 0,
                hash: Hash::ZERO,
                state_root: Hash::ZERO,
                time_ms: 0,
            })),
        };
        let expected = genesis.hash();
        match store.chain.get(GENESIS).map_err(io)? {
            None => store.init_genesis(genesis)?,
            Some(stored) => {
                let stored = Hash(
                    stored
                        .as_ref()
                        .try_into()
                        .map_err(|_| store.corrupt("genesis hash is not 32 bytes"))?,
                );
                if stored != expected {
                    return Err(StoreError::WrongGenesis {
                        path,
                        stored,
                        expected,
                    });
                }
                let found = match store.chain.get(FORMAT).map_err(io)? {
                    None => 1,
                    Some(v) => v
                        .as_ref()
                        .try_into()
                        .map(u32::from_be_bytes)
                        .map_err(|_| store.corrupt("the format record is not 4 bytes"))?,
                };
                if found != FORMAT_VERSION {
                    return Err(StoreError::WrongFormat { path, found });
                }
                let tip: Tip = store
                    .get_decoded(TIP, 1024, "tip")?
                    .ok_or_else(|| store.corrupt("the tip record is missing"))?;
                *store.tip.write().expect("tip lock") = tip;
                store.check_tip(genesis)?;
            }
        }
        Ok(store)
    }

    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    fn io(&self, source: sled::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn init_genesis(&mut self, genesis: &Genesis) -> Result<(), StoreError> {
        let (writes, tree_batch, root) = ledger::genesis_state(genesis);
        let tip = Tip {
            height: 0,
            hash: Hash::ZERO,
            state_root: root,
            time_ms: genesis.genesis_time,
        };
        let mut batch = sled::Batch::default();
        apply_writes(&mut batch, &writes);
        tree::apply(&mut batch, &tree_batch);
        batch.insert(TIP, codec::encode(&tip));
        batch.insert(GENESIS, &genesis.hash().0[..]);
        batch.insert(FORMAT, &FORMAT_VERSION.to_be_bytes());
        self.chain.apply_batch(batch).map_err(|e| self.io(e))?;
        self.db.flush().map_err(|e| self.io(e))?;
        *self.tip.write().expect("tip lock") = tip;
        Ok(())
    }

    fn check_tip(&self, genesis: &Genesis) -> Result<(), StoreError> {
        let tip = self.tip();
        if self.tree_root(tip.height)? != tip.state_root {
            return Err(self.corrupt(format!(
                "the state tree's root at {} differs from the tip's state root",
                tip.height
            )));
        }
        if tip.height == 0 {
            let (_, _, root) = ledger::genesis_state(genesis);
            if root != tip.state_root {
                return Err(self.corrupt("the genesis state root does not match the genesis file"));
            }
            return Ok(());
        }
        let block = self
            .block(tip.height)?
            .ok_or_else(|| self.corrupt(format!("the tip block {} is missing", tip.height)))?;
        if block.hash() != tip.hash {
            return Err(self.corrupt(format!(
                "block {} does not hash to the recorded tip",
                tip.height
            )));
        }
        if block.header.state_root != tip.state_root {
            return Err(self.corrupt(format!(
                "block {} state root differs from the stored state root",
                tip.height
            )));
        }
        if block.check_body(&block.tx_hashes()).is_err() {
            return Err(self.corrupt(format!(
                "block {} body does not match its header",
                tip.height
            )));
        }
        let cert = self.cert(tip.height)?.ok_or_else(|| {
            self.corrupt(format!(
                "the commit certificate of block {} is missing",
                tip.height
            ))
        })?;
        cert.verify(
            &genesis.chain_id,
            tip.height,
            &tip.hash,
            &genesis.validator_keys(),
        )
        .map_err(|e| {
            self.corrupt(format!(
                "the commit certificate of block {}: {e}",
                tip.height
            ))
        })?;
        if tip.height > 1 {
            let parent = self
                .block(tip.height - 1)?
                .ok_or_else(|| self.corrupt(format!("block {} is missing", tip.height - 1)))?;
            if parent.hash() != block.header.prev_hash {
                return Err(self.corrupt(format!(
                    "block {} does not link to block {}",
                    tip.height,
                    tip.height - 1
                )));
            }
        }
        Ok(())
    }

    fn get_decoded<T: DeserializeOwned>(
        &self,
        key: &[u8],
        limit: usize,
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        match self.chain.get(key).map_err(|e| self.io(e))? {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes, limit, what)
                .map(Some)
                .map_err(|e| self.corrupt(e.to_string())),
        }
    }

    /// The last committed block.
    pub fn tip(&self) -> Tip {
        *self.tip.read().expect("tip lock")
    }

    /// Commits a decided block: block, certificate, receipts, tx index, state
    /// writes, state tree and tip in one atomic batch, then a flush. After
    /// this returns the block survives a crash; if it fails the node must
    /// stop.
    pub fn commit_block(
        &self,
        block: &Block,
        cert: &CommitCertificate,
        outcome: &ledger::BlockOutcome,
    ) -> Result<Tip, StoreError> {
        let receipts = &outcome.receipts[..];
        let tip = self.tip();
        let height = block.header.height;
        if height != tip.height + 1 {
            return Err(StoreError::OutOfOrder {
                got: height,
                tip: tip.height,
            });
        }
        let hash = block.hash();
        assert_eq!(cert.block_hash, hash, "certificate must commit this block");
        assert_eq!(
            receipts.len(),
            block.txs.len(),
            "one receipt per transaction"
        );
        let mut batch = sled::Batch::default();
        let shell = BlockShellRef {
            header: &block.header,
            last_commit: &block.last_commit,
        };
        batch.insert(&hkey(b'B', height), codec::encode(&shell));
        for (chunk, (txs, receipts)) in block
            .txs
            .chunks(TXS_PER_CHUNK as usize)
            .zip(receipts.chunks(TXS_PER_CHUNK as usize))
            .enumerate()
        {
            let items: Vec<Vec<u8>> = txs
                .iter()
                .zip(receipts)
                .map(|(tx, r)| codec::encode(&(r, tx)))
                .collect();
            batch.insert(&xkey(height, chunk as u32), encode_chunk(&items));
        }
        batch.insert(&hkey(b'C', height), codec::encode(cert));
        batch.insert(pkey(b'H', &hash.0), &height.to_be_bytes());
        apply_writes(&mut batch, &outcome.writes);
        tree::apply(&mut batch, &outcome.tree);
        let new_tip = Tip {
            height,
            hash,
            state_root: block.header.state_root,
            time_ms: block.header.time_ms,
        };
        batch.insert(TIP, codec::encode(&new_tip));
        self.chain.apply_batch(batch).map_err(|e| self.io(e))?;
        self.db.flush().map_err(|e| self.io(e))?;
        *self.tip.write().expect("tip lock") = new_tip;
        Ok(new_tip)
    }

    /// Block at a height.
    pub fn block(&self, height: Height) -> Result<Option<Block>, StoreError> {
        Ok(self.block_with_receipts(height)?.map(|(b, _)| b))
    }

    /// Block at a height with its receipts, assembled from its header and
    /// its transactions.
    pub fn block_with_receipts(
        &self,
        height: Height,
    ) -> Result<Option<(Block, Vec<Receipt>)>, StoreError> {
        let Some(shell) = self.get_decoded::<BlockShell>(&hkey(b'B', height), 1 << 20, "block")?
        else {
            return Ok(None);
        };
        let count = shell.header.tx_count as usize;
        let mut txs = Vec::with_capacity(count.min(1 << 16));
        let mut receipts = Vec::with_capacity(count.min(1 << 16));
        for (chunk, item) in self.chain.scan_prefix(hkey(b'X', height)).enumerate() {
            let (key, value) = item.map_err(|e| self.io(e))?;
            if key[9..] != (chunk as u32).to_be_bytes() {
                return Err(self.corrupt(format!(
                    "block {height} is missing transaction chunk {chunk}"
                )));
            }
            let items =
                decode_chunk(&value).map_err(|e| self.corrupt(format!("block {height}: {e}")))?;
            for item in items {
                let (receipt, tx): (Receipt, SignedTransaction) =
                    codec::decode(item, MAX_STORED_TX, "stored transaction")
                        .map_err(|e| self.corrupt(format!("block {height}: {e}")))?;
                txs.push(tx);
                receipts.push(receipt);
            }
        }
        if txs.len() != count {
            return Err(self.corrupt(format!(
                "block {height} has {} of its {count} transactions",
                txs.len()
            )));
        }
        let block = Block {
            header: shell.header,
            txs: Arc::new(txs),
            last_commit: shell.last_commit,
        };
        Ok(Some((block, receipts)))
    }

    /// Encoded block at a height (for block sync).
    pub fn block_bytes(&self, height: Height) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.block(height)?.map(|b| b.encode()))
    }

    /// The header of the block at a height, without its transactions.
    pub fn header(&self, height: Height) -> Result<Option<BlockHeader>, StoreError> {
        Ok(self
            .get_decoded::<BlockShell>(&hkey(b'B', height), 1 << 20, "block")?
            .map(|b| b.header))
    }

    /// Hash of the block at a height, from its header alone.
    pub fn block_hash(&self, height: Height) -> Result<Option<Hash>, StoreError> {
        Ok(self
            .get_decoded::<BlockShell>(&hkey(b'B', height), 1 << 20, "block")?
            .map(|b| b.header.hash()))
    }

    /// The transaction at (height, index) and its receipt.
    pub fn tx_at(
        &self,
        height: Height,
        index: u32,
    ) -> Result<Option<(SignedTransaction, Receipt)>, StoreError> {
        let Some(chunk) = self
            .chain
            .get(xkey(height, index / TXS_PER_CHUNK))
            .map_err(|e| self.io(e))?
        else {
            return Ok(None);
        };
        let items =
            decode_chunk(&chunk).map_err(|e| self.corrupt(format!("block {height}: {e}")))?;
        let Some(item) = items.get((index % TXS_PER_CHUNK) as usize) else {
            return Ok(None);
        };
        let (receipt, tx): (Receipt, SignedTransaction) =
            codec::decode(item, MAX_STORED_TX, "stored transaction")
                .map_err(|e| self.corrupt(format!("block {height}: {e}")))?;
        Ok(Some((tx, receipt)))
    }

    /// Height of a block hash.
    pub fn height_of(&self, hash: &Hash) -> Result<Option<Height>, StoreError> {
        match self
            .chain
            .get(pkey(b'H', &hash.0))
            .map_err(|e| self.io(e))?
        {
            None => Ok(None),
            Some(v) => {
                let b: [u8; 8] = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| self.corrupt("bad height index"))?;
                Ok(Some(u64::from_be_bytes(b)))
            }
        }
    }

    /// The commit certificate of the block at a height.
    pub fn cert(&self, height: Height) -> Result<Option<CommitCertificate>, StoreError> {
        self.get_decoded(&hkey(b'C', height), 1 << 20, "commit certificate")
    }

    /// Receipts of the block at a height.
    pub fn receipts(&self, height: Height) -> Result<Option<Vec<Receipt>>, StoreError> {
        Ok(self.block_with_receipts(height)?.map(|(_, r)| r))
    }

    /// Where a transaction was committed, with its receipt.
    pub fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        let Some(entry) = self.state::<ledger::TxEntry>(&keys::tx(hash))? else {
            return Ok(None);
        };
        let (_, receipt) = self.tx_at(entry.height, entry.index)?.ok_or_else(|| {
            self.corrupt(format!(
                "transaction {hash} is indexed at {}/{}, which is missing",
                entry.height, entry.index
            ))
        })?;
        Ok(Some(TxLocation {
            height: entry.height,
            index: entry.index,
            receipt,
        }))
    }

    /// A ledger state value, decoded.
    pub fn state<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.get_decoded(&pkey(b'S', key), 1 << 20, "state value")
    }

    /// State values under a prefix, in key order, newest first when `rev`,
    /// skipping `skip` and returning at most `limit`.
    pub fn state_scan<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        rev: bool,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let full = pkey(b'S', prefix);
        let iter = self.chain.scan_prefix(&full);
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if rev {
            Box::new(iter.rev())
        } else {
            Box::new(iter)
        };
        let mut out = Vec::new();
        for item in iter.skip(skip).take(limit) {
            let (k, v) = item.map_err(|e| self.io(e))?;
            let value = codec::decode(&v, 1 << 20, "state value")
                .map_err(|e| self.corrupt(e.to_string()))?;
            out.push((k[1..].to_vec(), value));
        }
        Ok(out)
    }

    /// Appends a record to the consensus WAL and flushes it: the record is
    /// durable before the message it describes leaves the node.
    pub fn wal_append(&self, height: Height, record: &[u8]) -> Result<(), StoreError> {
        let seq = self.db.generate_id().map_err(|e| self.io(e))?;
        let mut key = height.to_be_bytes().to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        self.wal.insert(key, record).map_err(|e| self.io(e))?;
        self.wal.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// WAL records of one height, in append order.
    pub fn wal_records(&self, height: Height) -> Result<Vec<Vec<u8>>, StoreError> {
        self.wal
            .scan_prefix(height.to_be_bytes())
            .map(|r| r.map(|(_, v)| v.to_vec()).map_err(|e| self.io(e)))
            .collect()
    }

    /// Drops WAL records of heights below `height`.
    pub fn wal_prune_below(&self, height: Height) -> Result<(), StoreError> {
        let keys: Vec<sled::IVec> = self
            .wal
            .range(..height.to_be_bytes().to_vec())
            .keys()
            .collect::<Result<_, _>>()
            .map_err(|e| self.io(e))?;
        for k in keys {
            self.wal.remove(k).map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Flushes everything (on shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.io(e))
    }
}

impl Store {
    /// Replays the whole chain from genesis in memory and checks every link,
    /// certificate, receipt, transaction index and state root, and finally
    /// that the stored state equals the replayed state. Returns the height
    /// audited. Slow (linear in the chain); for operators and crash tests.
    pub fn audit(&self, genesis: &Genesis) -> Result<Height, StoreError> {
        // The replayed state goes to a temporary sled database, not to
        // memory: a chain of 100 M records must not need its whole state
        // in RAM to be checked.
        let scratch = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(|e| self.io(e))?;
        let replay = ReplayState {
            state: scratch.open_tree("state").map_err(|e| self.io(e))?,
            tree: scratch.open_tree("tree").map_err(|e| self.io(e))?,
        };
        let (writes, tree_batch, mut root) = ledger::genesis_state(genesis);
        replay.apply(writes, &tree_batch).map_err(|e| self.io(e))?;
        let tip = self.tip();
        let keys = genesis.validator_keys();
        let mut prev = Hash::ZERO;
        for height in 1..=tip.height {
            let (block, receipts) = self
                .block_with_receipts(height)?
                .ok_or_else(|| self.corrupt(format!("block {height} is missing")))?;
            let hash = block.hash();
            if block.header.prev_hash != prev {
                return Err(self.corrupt(format!("block {height} does not link to its parent")));
            }
            let cert = self
                .cert(height)?
                .ok_or_else(|| self.corrupt(format!("certificate {height} is missing")))?;
            cert.verify(&genesis.chain_id, height, &hash, &keys)
                .map_err(|e| self.corrupt(format!("certificate {height}: {e}")))?;
            match (&block.last_commit, height) {
                (None, 1) => {}
                (Some(c), h) if h > 1 => c
                    .verify(&genesis.chain_id, h - 1, &prev, &keys)
                    .map_err(|e| self.corrupt(format!("block {height}'s last commit: {e}")))?,
                _ => {
                    return Err(self.corrupt(format!(
                        "block {height} has a last commit where none belongs, or lacks one"
                    )))
                }
            }
            let tx_hashes = block.tx_hashes();
            block
                .check_body(&tx_hashes)
                .map_err(|e| self.corrupt(format!("block {height}: {e}")))?;
            let txs: Vec<&deltachain_protocol::SignedTransaction> = block.txs.iter().collect();
            if let Some(i) = deltachain_protocol::SignedTransaction::verify_signatures(&txs)
                .iter()
                .position(|r| r.is_err())
            {
                return Err(self.corrupt(format!(
                    "transaction {i} of block {height} has a bad signature"
                )));
            }
            let out = ledger::execute_block(
                &replay,
                ledger::BlockContext::new(genesis, height, block.header.time_ms),
                &block.txs,
                &tx_hashes,
            )
            .map_err(|e| self.corrupt(format!("block {height} does not replay: {e}")))?;
            if out.state_root != block.header.state_root {
                return Err(self.corrupt(format!("block {height} replays to another state root")));
            }
            if receipts != out.receipts {
                return Err(self.corrupt(format!("receipts of block {height} differ from replay")));
            }
            let receipt_hashes: Vec<Hash> = receipts.iter().map(|r| r.hash()).collect();
            if deltachain_protocol::merkle::root(&receipt_hashes) != block.header.results_root {
                return Err(self.corrupt(format!(
                    "block {height}'s results_root does not match its receipts"
                )));
            }
            for (i, h) in tx_hashes.iter().enumerate() {
                let loc = self
                    .tx_location(h)?
                    .ok_or_else(|| self.corrupt(format!("transaction {h} is not indexed")))?;
                if loc.height != height || loc.index != i as u32 {
                    return Err(
                        self.corrupt(format!("transaction {h} is indexed at the wrong place"))
                    );
                }
            }
            root = out.state_root;
            replay
                .apply(out.writes, &out.tree)
                .map_err(|e| self.io(e))?;
            prev = hash;
        }
        if root != tip.state_root || prev != tip.hash {
            return Err(self.corrupt("the tip record does not match the replayed chain"));
        }
        // Both sides are sorted: compare them in one pass.
        let mut stored = self.chain.scan_prefix(b"S");
        let mut replayed = replay.state.iter();
        loop {
            match (stored.next(), replayed.next()) {
                (None, None) => break,
                (Some(a), Some(b)) => {
                    let (ak, av) = a.map_err(|e| self.io(e))?;
                    let (bk, bv) = b.map_err(|e| self.io(e))?;
                    if ak[1..] != bk[..] || av != bv {
                        return Err(self.corrupt(format!(
                            "the stored state differs from the replayed state at key {:?}",
                            String::from_utf8_lossy(&bk[..bk.len().min(60)])
                        )));
                    }
                }
                _ => return Err(self.corrupt(
                    "the stored state has a different number of entries than the replayed state",
                )),
            }
        }
        // The tree as stored, and a tree built from scratch over the stored
        // committed keys, must both give the tip's root.
        if self.tree_root(tip.height)? != tip.state_root {
            return Err(self.corrupt("the stored state tree's root differs from the tip's"));
        }
        let mut committed = Vec::new();
        for item in self.chain.scan_prefix(b"S") {
            let (k, v) = item.map_err(|e| self.io(e))?;
            if deltachain_protocol::state::keys::committed(&k[1..]) {
                committed.push((k[1..].to_vec(), v.to_vec()));
            }
        }
        let rebuilt =
            ledger::tree::root_from_scratch(committed).map_err(|e| self.corrupt(e.to_string()))?;
        if rebuilt != tip.state_root {
            return Err(self.corrupt(format!(
                "a state tree rebuilt from the stored state has root {rebuilt}, the tip says {}",
                tip.state_root
            )));
        }
        Ok(tip.height)
    }
}

/// The state an audit rebuilds, in temporary sled trees.
struct ReplayState {
    state: sled::Tree,
    tree: sled::Tree,
}

impl ReplayState {
    fn apply(&self, writes: WriteSet, update: &ledger::TreeBatch) -> Result<(), sled::Error> {
        let mut batch = sled::Batch::default();
        for (k, v) in writes {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.state.apply_batch(batch)?;
        let mut batch = sled::Batch::default();
        tree::apply(&mut batch, update);
        self.tree.apply_batch(batch)
    }
}

impl jmt::storage::TreeReader for ReplayState {
    fn get_node_option(
        &self,
        k: &jmt::storage::NodeKey,
    ) -> anyhow::Result<Option<jmt::storage::Node>> {
        tree::get_node(&self.tree, k)
    }
    fn get_value_option(
        &self,
        _max_version: jmt::Version,
        _kh: jmt::KeyHash,
    ) -> anyhow::Result<Option<jmt::OwnedValue>> {
        anyhow::bail!("the audit replays nodes and never reads values from the tree")
    }
    fn get_rightmost_leaf(
        &self,
    ) -> anyhow::Result<Option<(jmt::storage::NodeKey, jmt::storage::LeafNode)>> {
        anyhow::bail!("the audit never restores a tree from leaves")
    }
}

impl ledger::TreeStore for ReplayState {
    fn leaf_value(&self, k: &jmt::storage::NodeKey) -> anyhow::Result<Option<Vec<u8>>> {
        tree::get_leaf_value(&self.tree, k)
    }
}

impl StateRead for ReplayState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateFault> {
        self.state
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| StateFault(e.to_string()))
    }
}

fn apply_writes(batch: &mut sled::Batch, writes: &WriteSet) {
    for (k, v) in writes {
        let key = pkey(b'S', k);
        match v {
            Some(v) => batch.insert(key, v.as_slice()),
            None => batch.remove(key),
        }
    }
}

impl StateRead for Store {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateFault> {
        self.chain
            .get(pkey(b'S', key))
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| StateFault(e.to_string()))
    }
}

/// Typed queries the API serves.
impl Store {
    /// An enterprise's credit records, newest first, and the total count.
    pub fn credit_records(
        &self,
        uscc: &str,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<CreditRecord>, u64), StoreError> {
        let total = self
            .state::<ledger::CreditCommitment>(&keys::credit_commitment(uscc))?
            .map_or(0, |t| t.count);
        let prefix = keys::credits(uscc);
        let rows = self.state_scan::<ledger::CreditEntry>(&prefix, true, skip, limit)?;
        let mut out = Vec::with_capacity(rows.len());
        for (key, e) in rows {
            let seq = key[prefix.len()..]
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt(format!("bad credit key for {uscc}")))?;
            let missing = || {
                self.corrupt(format!(
                    "credit record {uscc}/{seq} points at {}/{}, which is not a credit report",
                    e.height, e.index
                ))
            };
            let (tx, receipt) = self.tx_at(e.height, e.index)?.ok_or_else(missing)?;
            let tx_hash = receipt.tx_hash;
            let deltachain_protocol::Payload::Credit(record) = tx.tx.payload else {
                return Err(missing());
            };
            out.push(CreditRecord {
                seq,
                tx_hash,
                reporter: e.reporter,
                height: e.height,
                time_ms: e.time_ms,
                record,
                corrections: e.corrections,
            });
        }
        Ok((out, total))
    }

    /// IP rights an enterprise owns (bounded).
    pub fn owned_ips(&self, uscc: &str, limit: usize) -> Result<Vec<ledger::IpRecord>, StoreError> {
        let prefix = keys::owned_ips(uscc);
        let rows = self.state_scan::<()>(&prefix, false, 0, limit)?;
        let mut out = Vec::with_capacity(rows.len());
        for (k, ()) in rows {
            let id = String::from_utf8_lossy(&k[prefix.len()..]).to_string();
            if let Some(ip) = self.state::<ledger::IpRecord>(&keys::ip(&id))? {
                out.push(ip);
            }
        }
        Ok(out)
    }

    /// An IP right.
    pub fn ip(&self, ip_id: &str) -> Result<Option<ledger::IpRecord>, StoreError> {
        self.state(&keys::ip(ip_id))
    }

    /// An IP right's history, oldest first (bounded).
    pub fn ip_history(
        &self,
        ip_id: &str,
        limit: usize,
    ) -> Result<Vec<ledger::IpEvent>, StoreError> {
        Ok(self
            .state_scan::<ledger::IpEvent>(&keys::ip_events(ip_id), false, 0, limit)?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// Every member (bounded).
    pub fn members(&self, limit: usize) -> Result<Vec<ledger::Member>, StoreError> {
        Ok(self
            .state_scan::<ledger::Member>(keys::MEMBERS, false, 0, limit)?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// A member by key.
    pub fn member(
        &self,
        key: &deltachain_protocol::PublicKey,
    ) -> Result<Option<ledger::Member>, StoreError> {
        self.state(&keys::member(key))
    }

    /// The last nonce a sender used (0 if none).
    pub fn nonce(&self, key: &deltachain_protocol::PublicKey) -> Result<u64, StoreError> {
        Ok(self.state(&keys::nonce(key))?.unwrap_or(0))
    }

    /// True if `key` is a validator's.
    pub fn is_validator(&self, key: &deltachain_protocol::PublicKey) -> Result<bool, StoreError> {
        Ok(self.state::<()>(&keys::validator(key))?.is_some())
    }

    /// The key bound to an enterprise.
    pub fn enterprise_key(
        &self,
        uscc: &str,
    ) -> Result<Option<deltachain_protocol::PublicKey>, StoreError> {
        self.state(&keys::enterprise_key(uscc))
    }

    /// The enterprise a key is bound to.
    pub fn enterprise_of(
        &self,
        key: &deltachain_protocol::PublicKey,
    ) -> Result<Option<String>, StoreError> {
        self.state(&keys::enterprise_of(key))
    }

    /// The consent with this id.
    pub fn consent(&self, id: &str) -> Result<Option<ledger::ConsentRecord>, StoreError> {
        self.state(&keys::consent(id))
    }

    /// A consent of `uscc` to `grantee` that is in force on `day`, covers
    /// `scope` and names `purpose`; the latest granted if several do.
    pub fn active_consent(
        &self,
        uscc: &str,
        grantee: &deltachain_protocol::PublicKey,
        scope: deltachain_protocol::Scope,
        purpose: deltachain_protocol::Purpose,
        day: deltachain_protocol::Date,
    ) -> Result<Option<ledger::ConsentRecord>, StoreError> {
        let prefix = keys::consent_grants(uscc, grantee);
        let bound = self.enterprise_key(uscc)?;
        let mut best: Option<ledger::ConsentRecord> = None;
        // An enterprise gives one bank a handful of consents; the bound
        // keeps a pathological history from slowing every read.
        for (k, ()) in self.state_scan::<()>(&prefix, true, 0, 256)? {
            let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let Some(rec) = self.consent(&id)? else {
                return Err(self.corrupt(format!("consent index names missing consent {id}")));
            };
            let c = &rec.signed.consent;
            if rec.active(day, bound.as_ref())
                && c.scope.covers(scope)
                && c.purpose == purpose
                && best.as_ref().is_none_or(|b| b.height < rec.height)
            {
                best = Some(rec);
            }
        }
        Ok(best)
    }

    /// An enterprise's consents, newest id last (bounded).
    pub fn consents_of(
        &self,
        uscc: &str,
        limit: usize,
    ) -> Result<Vec<ledger::ConsentRecord>, StoreError> {
        let prefix = format!("cg/{uscc}/").into_bytes();
        let mut out = Vec::new();
        for (k, ()) in self.state_scan::<()>(&prefix, false, 0, limit)? {
            // cg/<uscc>/<grantee hex>/<id>
            let id = String::from_utf8_lossy(&k[prefix.len() + 65..]).into_owned();
            match self.consent(&id)? {
                Some(r) => out.push(r),
                None => {
                    return Err(self.corrupt(format!("consent index names missing consent {id}")))
                }
            }
        }
        Ok(out)
    }

    /// The next audit sequence number the chain expects from `node`.
    pub fn audit_next(&self, node: &deltachain_protocol::PublicKey) -> Result<u64, StoreError> {
        Ok(self.state(&keys::audit_next(node))?.unwrap_or(0))
    }

    /// Audit entries under an index prefix (`qe/<uscc>/` or
    /// `qr/<key>/`), newest first.
    pub fn audits(
        &self,
        prefix: &[u8],
        skip: usize,
        limit: usize,
    ) -> Result<Vec<ledger::AuditRecord>, StoreError> {
        let rows = self.state_scan::<()>(prefix, true, skip, limit)?;
        let mut out = Vec::with_capacity(rows.len());
        for (k, ()) in rows {
            let n = k[prefix.len()..]
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("bad audit index key".to_string()))?;
            match self.state::<ledger::AuditRecord>(&keys::audit(n))? {
                Some(r) => out.push(r),
                None => return Err(self.corrupt(format!("audit index names missing entry {n}"))),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
