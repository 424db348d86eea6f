//! The state tree on disk, in the same sled tree as everything else so a
//! block's nodes commit in its one atomic batch.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `J` | borsh(node key) | borsh(node) |
//! | `V` | key hash, version (u64 BE) | `0` (deleted) or `1` and the value |
//! | `Z` | stale-since version (u64 BE), borsh(node key) | empty: the node left the tree then |
//! | `Y` | version (u64 BE), key hash | empty: the key got a new value then |
//!
//! Pruning walks `Z` and `Y` in version order and deletes what no version
//! inside the window can reach: nodes that left the tree, and values
//! superseded by a newer one. It runs off the commit path, in bounded
//! chunks.

use deltachain_protocol::Hash;
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{KeyHash, OwnedValue, Version};

use super::{Store, StoreError};

fn node_key(k: &NodeKey) -> Vec<u8> {
    let mut out = vec![b'J'];
    borsh::to_writer(&mut out, k).expect("encoding to a vec cannot fail");
    out
}

fn value_key(kh: &KeyHash, version: Version) -> [u8; 41] {
    let mut k = [0u8; 41];
    k[0] = b'V';
    k[1..33].copy_from_slice(&kh.0);
    k[33..].copy_from_slice(&version.to_be_bytes());
    k
}

/// Writes a block's tree batch into a sled batch.
pub(super) fn apply(batch: &mut sled::Batch, update: &TreeUpdateBatch) {
    for (k, n) in update.node_batch.nodes() {
        batch.insert(node_key(k), borsh::to_vec(n).expect("encoding to a vec cannot fail"));
    }
    for ((version, kh), v) in update.node_batch.values() {
        let mut bytes = Vec::with_capacity(1 + v.as_ref().map_or(0, Vec::len));
        match v {
            None => bytes.push(0),
            Some(v) => {
                bytes.push(1);
                bytes.extend_from_slice(v);
            }
        }
        batch.insert(&value_key(kh, *version)[..], bytes);
        let mut y = Vec::with_capacity(41);
        y.push(b'Y');
        y.extend_from_slice(&version.to_be_bytes());
        y.extend_from_slice(&kh.0);
        batch.insert(y, &[][..]);
    }
    for s in &update.stale_node_index_batch {
        let mut z = vec![b'Z'];
        z.extend_from_slice(&s.stale_since_version.to_be_bytes());
        borsh::to_writer(&mut z, &s.node_key).expect("encoding to a vec cannot fail");
        batch.insert(z, &[][..]);
    }
}

/// Reads tree nodes and versioned values from a sled tree.
pub(super) fn get_node(t: &sled::Tree, k: &NodeKey) -> anyhow::Result<Option<Node>> {
    match t.get(node_key(k))? {
        None => Ok(None),
        Some(b) => Ok(Some(borsh::from_slice(&b)?)),
    }
}

pub(super) fn get_value(
    t: &sled::Tree,
    max_version: Version,
    kh: KeyHash,
) -> anyhow::Result<Option<OwnedValue>> {
    let from = value_key(&kh, 0);
    let to = value_key(&kh, max_version);
    match t.range(from..=to).next_back() {
        None => Ok(None),
        Some(item) => {
            let (_, v) = item?;
            match v.first() {
                Some(1) => Ok(Some(v[1..].to_vec())),
                Some(0) => Ok(None),
                _ => anyhow::bail!("corrupt tree value"),
            }
        }
    }
}

impl TreeReader for Store {
    fn get_node_option(&self, k: &NodeKey) -> anyhow::Result<Option<Node>> {
        get_node(&self.chain, k)
    }
    fn get_value_option(
        &self,
        max_version: Version,
        kh: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        get_value(&self.chain, max_version, kh)
    }
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("the node never restores a tree from leaves")
    }
}

const PRUNED: &[u8] = b"Mpruned";

/// Why a proof at a height cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum ProofUnavailable {
    /// The height is older than the versions kept.
    #[error("height {height} is outside the {window} heights of state this node keeps (oldest {oldest}, tip {tip}); ask an archive node")]
    Pruned {
        /// Asked.
        height: u64,
        /// Oldest kept.
        oldest: u64,
        /// Tip.
        tip: u64,
        /// Window.
        window: u64,
    },
    /// The height is not committed yet.
    #[error("height {height} is above the tip {tip}")]
    Future {
        /// Asked.
        height: u64,
        /// Tip.
        tip: u64,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// The lowest height whose state tree is still complete.
    pub fn oldest_state_version(&self) -> Result<u64, StoreError> {
        Ok(self
            .chain
            .get(PRUNED)
            .map_err(|e| self.io(e))?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// The value of a state key at `height` and its proof, checked against
    /// the window: `window` is how many heights back proofs are served
    /// (`None`: all).
    pub fn prove(
        &self,
        key: &[u8],
        height: u64,
        window: Option<u64>,
    ) -> Result<(Option<Vec<u8>>, deltachain_protocol::state::StateProof), ProofUnavailable> {
        let tip = self.tip().height;
        if height > tip {
            return Err(ProofUnavailable::Future { height, tip });
        }
        let pruned = |oldest| ProofUnavailable::Pruned {
            height,
            oldest,
            tip,
            window: window.unwrap_or(u64::MAX),
        };
        let oldest = self.oldest_state_version()?;
        let in_window = window.is_none_or(|w| height + w >= tip);
        if height < oldest || !in_window {
            return Err(pruned(oldest.max(window.map_or(0, |w| tip.saturating_sub(w)))));
        }
        match crate::ledger::tree::prove(self, key, height) {
            Ok(p) => Ok(p),
            // The pruner may have passed the height while we read.
            Err(_) if height < self.oldest_state_version()? => Err(pruned(height + 1)),
            Err(e) => Err(ProofUnavailable::Store(self.corrupt(e.to_string()))),
        }
    }

    /// The root the stored tree gives at `height`.
    pub fn tree_root(&self, height: u64) -> Result<Hash, StoreError> {
        let tree = crate::ledger::tree::Tree::new(self);
        tree.get_root_hash(height)
            .map(|r| Hash(r.0))
            .map_err(|e| self.corrupt(format!("state tree at {height}: {e}")))
    }

    /// Deletes up to `max` tree entries that no version from `keep_from` on
    /// can reach, and returns how many it deleted (0: nothing left to do).
    pub fn prune_tree(&self, keep_from: u64, max: usize) -> Result<usize, StoreError> {
        let io = |e| self.io(e);
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for item in self.chain.scan_prefix(b"Z") {
            let (k, _) = item.map_err(io)?;
            let since = u64::from_be_bytes(k[1..9].try_into().expect("8 bytes"));
            if since > keep_from || n >= max {
                break;
            }
            let mut j = vec![b'J'];
            j.extend_from_slice(&k[9..]);
            batch.remove(j);
            batch.remove(k);
            n += 1;
        }
        for item in self.chain.scan_prefix(b"Y") {
            let (k, _) = item.map_err(io)?;
            let version = u64::from_be_bytes(k[1..9].try_into().expect("8 bytes"));
            if version > keep_from || n >= max {
                break;
            }
            let kh = KeyHash(k[9..41].try_into().expect("32 bytes"));
            // Older values of the key are superseded from `version` on.
            if version > 0 {
                for old in self.chain.range(value_key(&kh, 0)..value_key(&kh, version)) {
                    let (ok, _) = old.map_err(io)?;
                    batch.remove(ok);
                    n += 1;
                }
            }
            // A deletion needs no marker once nothing older remains.
            let vk = value_key(&kh, version);
            if self.chain.get(vk).map_err(io)?.as_deref() == Some(&[0u8][..]) {
                batch.remove(&vk[..]);
            }
            batch.remove(k);
            n += 1;
        }
        if n > 0 {
            let oldest = self.oldest_state_version()?;
            if keep_from > oldest {
                batch.insert(PRUNED, &keep_from.to_be_bytes());
            }
            self.chain.apply_batch(batch).map_err(io)?;
        }
        Ok(n)
    }
}
