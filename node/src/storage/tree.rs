//! The state tree on disk, in the same sled tree as everything else so a
//! block's nodes commit in its one atomic batch.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `J` | version (u64 BE), nibble count, path bytes | borsh(node); for a leaf, then `1` and its key's value |
//! | `Z` | version (u64 BE) | the `J` keys of the nodes that left the tree at that version |
//!
//! Values live beside their leaves (see [`crate::ledger::tree`]), so the
//! tree adds one item per new node and one per block, nothing per key:
//! sled's commit cost grows with the items a batch holds, and a separate
//! value index keyed by key hash (as the tree's own examples keep) cost a
//! fifth of the committed throughput. One `Z` item per block rather than
//! one per stale node keeps the count down too.
//!
//! Pruning walks `Z` in version order and deletes the nodes (with their
//! values) that left the tree at or before the window's start: no version
//! inside the window reaches them. It runs off the commit path, one
//! version at a time.

use borsh::BorshDeserialize;
use deltachain_protocol::Hash;
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};

use crate::ledger::{TreeBatch, TreeStore};

use super::{Store, StoreError};

/// `J`, the version big-endian, the number of nibbles, the path's bytes:
/// a block's new nodes sort together after every older block's, so sled
/// appends them at the end of the key space instead of splitting pages in
/// the middle of it.
fn node_key(k: &NodeKey) -> Vec<u8> {
    let mut out = vec![b'J'];
    out.extend_from_slice(&k.version().to_be_bytes());
    out.extend_from_slice(&crate::ledger::tree::path_bytes(k.nibble_path()));
    out
}

/// Writes a block's tree batch into a sled batch.
pub(super) fn apply(batch: &mut sled::Batch, tree: &TreeBatch) {
    let update = &tree.update;
    for (k, n) in update.node_batch.nodes() {
        let mut bytes = borsh::to_vec(n).expect("encoding to a vec cannot fail");
        if let Some(v) = tree.leaf_values.get(k) {
            bytes.push(1);
            bytes.extend_from_slice(v);
        }
        batch.insert(node_key(k), bytes);
    }
    // Stale nodes, grouped by the version that made them stale (in a
    // single block's batch, that is the block's height).
    let mut groups: std::collections::BTreeMap<Version, Vec<u8>> = Default::default();
    for s in &update.stale_node_index_batch {
        let list = groups.entry(s.stale_since_version).or_default();
        let key = node_key(&s.node_key);
        list.extend_from_slice(&(key.len() as u16).to_le_bytes());
        list.extend_from_slice(&key);
    }
    for (version, list) in groups {
        batch.insert(&stale_key(version)[..], list);
    }
}

fn stale_key(version: Version) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'Z';
    k[1..].copy_from_slice(&version.to_be_bytes());
    k
}

/// Reads tree nodes and versioned values from a sled tree.
pub(super) fn get_node(t: &sled::Tree, k: &NodeKey) -> anyhow::Result<Option<Node>> {
    match t.get(node_key(k))? {
        None => Ok(None),
        Some(b) => Ok(Some(Node::deserialize(&mut &b[..])?)),
    }
}

/// The value stored after a leaf node.
pub(super) fn get_leaf_value(t: &sled::Tree, k: &NodeKey) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(b) = t.get(node_key(k))? else {
        return Ok(None);
    };
    let mut rest = &b[..];
    Node::deserialize(&mut rest)?;
    match rest.split_first() {
        None => Ok(None),
        Some((1, v)) => Ok(Some(v.to_vec())),
        Some(_) => anyhow::bail!("corrupt value after a tree node"),
    }
}

impl TreeReader for Store {
    fn get_node_option(&self, k: &NodeKey) -> anyhow::Result<Option<Node>> {
        get_node(&self.chain, k)
    }
    fn get_value_option(
        &self,
        _max_version: Version,
        _kh: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        anyhow::bail!("tree values are read through a proof reader")
    }
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("the node never restores a tree from leaves")
    }
}

impl TreeStore for Store {
    fn leaf_value(&self, k: &NodeKey) -> anyhow::Result<Option<Vec<u8>>> {
        get_leaf_value(&self.chain, k)
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
            return Err(pruned(
                oldest.max(window.map_or(0, |w| tip.saturating_sub(w))),
            ));
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

    /// Deletes the tree entries that no version from `keep_from` on can
    /// reach, one stale version at a time, until about `max` entries are
    /// gone; returns how many it deleted (0: nothing left to do).
    pub fn prune_tree(&self, keep_from: u64, max: usize) -> Result<usize, StoreError> {
        let io = |e| self.io(e);
        let corrupt = |what: &str| self.corrupt(format!("state tree pruning index: {what}"));
        let mut n = 0;
        let oldest = self.oldest_state_version()?;
        for item in self.chain.scan_prefix(b"Z") {
            if n >= max {
                break;
            }
            let (k, list) = item.map_err(io)?;
            let since = u64::from_be_bytes(k[1..9].try_into().map_err(|_| corrupt("key"))?);
            if since > keep_from {
                break;
            }
            let mut batch = sled::Batch::default();
            // Marked first, in the same batch: a proof that starts while
            // we delete is refused rather than served half a tree.
            if keep_from > oldest {
                batch.insert(PRUNED, &keep_from.to_be_bytes());
            }
            let mut rest = &list[..];
            while !rest.is_empty() {
                let len = rest
                    .get(..2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
                    .ok_or_else(|| corrupt("truncated"))?;
                let nk = rest.get(2..2 + len).ok_or_else(|| corrupt("truncated"))?;
                rest = &rest[2 + len..];
                batch.remove(nk);
                n += 1;
            }
            batch.remove(k);
            n += 1;
            self.chain.apply_batch(batch).map_err(io)?;
        }
        Ok(n)
    }
}
