//! The state tree: each block's committed writes go into a Jellyfish Merkle
//! Tree versioned by height, whose root is the header's `state_root`.
//!
//! Which keys the tree holds is fixed by
//! [`deltachain_protocol::state::keys::committed`]; every other write of the
//! block is folded into one tree key (`x/`), a running digest, so that a
//! node that executes differently anywhere still diverges in the root.
//!
//! The tree computes on a reader over the committed versions and hands back
//! the new nodes as a [`TreeBatch`]; nothing is written until the block is
//! decided and storage puts the batch into the block's single atomic write.
//!
//! Each leaf node is stored with its key's value (the tree itself keeps
//! only the value's hash). A leaf is rewritten whenever its value changes
//! or a neighbour's insertion moves it, so the value of a key at any kept
//! version is found with the leaf a proof ends at: no index by key hash,
//! and no item beyond the nodes themselves.

use std::collections::BTreeMap;

use deltachain_protocol::state::{keys, StateProof};
use deltachain_protocol::{codec, crypto, Hash};
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, Version};
use std::cell::RefCell;

use super::{StateFault, StateRead, WriteSet};

/// sha256 for the tree, through the `sha2` version the rest of the node uses.
#[derive(Clone)]
pub struct TreeHasher(sha2::Sha256);

impl jmt::SimpleHasher for TreeHasher {
    fn new() -> Self {
        use sha2::Digest;
        TreeHasher(sha2::Sha256::new())
    }
    fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(&mut self.0, data);
    }
    fn finalize(self) -> [u8; 32] {
        sha2::Digest::finalize(self.0).into()
    }
}

/// The tree over a reader.
pub type Tree<'a, R> = JellyfishMerkleTree<'a, R, TreeHasher>;

/// The tree's key for a state key.
pub fn key_hash(key: &[u8]) -> KeyHash {
    KeyHash(crypto::sha256(key).0)
}

/// The tree's committed nodes, with the values stored beside the leaves.
pub trait TreeStore: TreeReader {
    /// The value stored with the leaf node at `key`, if that is a leaf.
    fn leaf_value(&self, key: &NodeKey) -> anyhow::Result<Option<Vec<u8>>>;
}

/// Ledger state with the tree's committed versions: what a block executes on.
pub trait LedgerState: StateRead + TreeStore {}
impl<T: StateRead + TreeStore + ?Sized> LedgerState for T {}

/// A block's new tree nodes, and the value to store beside each new leaf.
#[derive(Debug, Clone, Default)]
pub struct TreeBatch {
    /// New nodes and the nodes they made stale.
    pub update: TreeUpdateBatch,
    /// The value of every new leaf's key.
    pub leaf_values: BTreeMap<NodeKey, Vec<u8>>,
}

fn fault(e: impl std::fmt::Display) -> StateFault {
    StateFault(format!("state tree: {e}"))
}

/// Pairs each new leaf with its value: the value written in this block, or
/// for a leaf that only moved, the value stored with the leaf it replaces:
/// a stale leaf of the same key on the same path line (deeper when a
/// neighbour's insertion pushed it down, shallower when a deletion pulled
/// it up).
fn leaf_values<S: TreeStore + ?Sized>(
    base: &S,
    update: &TreeUpdateBatch,
    written: &BTreeMap<KeyHash, Vec<u8>>,
) -> Result<BTreeMap<NodeKey, Vec<u8>>, StateFault> {
    // Stale nodes by path: at most one per path left the tree.
    let stale: BTreeMap<Vec<u8>, &NodeKey> = update
        .stale_node_index_batch
        .iter()
        .map(|s| (path_bytes(s.node_key.nibble_path()), &s.node_key))
        .collect();
    let mut out = BTreeMap::new();
    for (nk, node) in update.node_batch.nodes() {
        let Node::Leaf(leaf) = node else { continue };
        let kh = leaf.key_hash();
        if let Some(v) = written.get(&kh) {
            out.insert(nk.clone(), v.clone());
            continue;
        }
        // The old leaf is the deepest stale node on the key's path: the
        // nodes above it that also left the tree are interior ones.
        let old = (0..=64)
            .rev()
            .find_map(|depth| stale.get(&prefix_bytes(&kh, depth)).copied());
        let mut found = None;
        if let Some(old) = old {
            if let Some(Node::Leaf(l)) = base.get_node_option(old).map_err(fault)? {
                if l.key_hash() == kh {
                    found = base.leaf_value(old).map_err(fault)?;
                }
            }
        }
        let v = found.ok_or_else(|| fault("a moved leaf's value was not found"))?;
        out.insert(nk.clone(), v);
    }
    Ok(out)
}

/// A nibble path as (count, packed nibbles), comparable with [`prefix_bytes`].
pub(crate) fn path_bytes(p: &jmt::storage::NibblePath) -> Vec<u8> {
    let n = p.num_nibbles();
    let mut out = Vec::with_capacity(1 + n.div_ceil(2));
    out.push(n as u8);
    for i in (0..n).step_by(2) {
        let hi = u8::from(p.get_nibble(i));
        let lo = if i + 1 < n {
            u8::from(p.get_nibble(i + 1))
        } else {
            0
        };
        out.push(hi << 4 | lo);
    }
    out
}

/// The first `depth` nibbles of a key hash, encoded like [`path_bytes`].
fn prefix_bytes(kh: &KeyHash, depth: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + depth.div_ceil(2));
    out.push(depth as u8);
    out.extend_from_slice(&kh.0[..depth / 2]);
    if depth % 2 == 1 {
        out.push(kh.0[depth / 2] & 0xf0);
    }
    out
}

/// Adds the digest of the block's uncommitted writes to `writes` and puts
/// the committed ones into the tree at `version` (the block height).
/// Returns the new root and the tree's new nodes.
pub fn commit_writes<S: LedgerState + ?Sized>(
    base: &S,
    version: Version,
    writes: &mut WriteSet,
) -> Result<(Hash, TreeBatch), StateFault> {
    // One pass sorts the writes into the tree's and the others.
    let mut others: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = Vec::with_capacity(writes.len());
    let mut set: Vec<(KeyHash, Option<OwnedValue>)> = Vec::new();
    for (k, v) in writes.iter() {
        if keys::committed(k) {
            set.push((key_hash(k), v.clone()));
        } else {
            others.push((k, v));
        }
    }
    let prev = base.get(keys::OTHER_WRITES)?.unwrap_or_default();
    let digest = crypto::sha256_parts(&[&prev, &version.to_be_bytes(), &codec::encode(&others)]);
    let digest = digest.0.to_vec();
    set.push((key_hash(keys::OTHER_WRITES), Some(digest.clone())));
    writes.insert(keys::OTHER_WRITES.to_vec(), Some(digest));
    let written: BTreeMap<KeyHash, Vec<u8>> = set
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.clone())))
        .collect();
    let reader = Unsized(base);
    let tree = Tree::new(&reader);
    // The batch insert builds each touched node once (hashing it once);
    // inserting key by key rebuilds and rehashes the path for every key,
    // several times the work for a block of thousands of writes. It takes
    // no deletions, which are rare (a member removed), so a block with one
    // goes key by key. Both give the same tree: its shape depends only on
    // the keys it holds.
    let (root, batch) = if set.iter().all(|(_, v)| v.is_some()) {
        let set = set
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        let (roots, batch) = tree
            .batch_put_value_sets(vec![set], None, version)
            .map_err(fault)?;
        (roots[0], batch)
    } else {
        tree.put_value_set(set, version).map_err(fault)?
    };
    let leaf_values = leaf_values(base, &batch, &written)?;
    Ok((
        Hash(root.0),
        TreeBatch {
            update: batch,
            leaf_values,
        },
    ))
}

/// Converts the tree's proof into the protocol's, which clients verify
/// without the tree's code. The tree keeps its proof's fields private, so
/// this goes through its documented borsh encoding: an optional leaf (tag
/// byte, key hash, value hash), then a `u32` count of siblings, each a tag
/// (0 empty, 1 interior with two child hashes, 2 leaf with key and value
/// hash) that we hash as the tree does.
pub fn export_proof(
    proof: &jmt::proof::SparseMerkleProof<TreeHasher>,
) -> Result<StateProof, StateFault> {
    use deltachain_protocol::state::{ProofLeaf, EMPTY_SUBTREE};
    let bytes = borsh::to_vec(proof).map_err(fault)?;
    let mut r = bytes.as_slice();
    let mut take = |n: usize| -> Result<&[u8], StateFault> {
        if r.len() < n {
            return Err(fault("truncated proof"));
        }
        let (a, b) = r.split_at(n);
        r = b;
        Ok(a)
    };
    let hash = |b: &[u8]| Hash(b.try_into().expect("32 bytes"));
    let leaf = match take(1)?[0] {
        0 => None,
        1 => {
            let kv = take(64)?;
            Some(ProofLeaf {
                key_hash: hash(&kv[..32]),
                value_hash: hash(&kv[32..]),
            })
        }
        t => return Err(fault(format!("proof leaf tag {t}"))),
    };
    let count = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
    if count > deltachain_protocol::state::MAX_SIBLINGS {
        return Err(fault("proof longer than a key"));
    }
    let mut siblings = Vec::with_capacity(count);
    for _ in 0..count {
        let sibling = match take(1)?[0] {
            0 => EMPTY_SUBTREE,
            1 => {
                let lr = take(64)?;
                crypto::sha256_parts(&[b"JMT::IntrnalNode", &lr[..32], &lr[32..]])
            }
            2 => {
                let kv = take(64)?;
                ProofLeaf {
                    key_hash: hash(&kv[..32]),
                    value_hash: hash(&kv[32..]),
                }
                .hash()
            }
            t => return Err(fault(format!("proof sibling tag {t}"))),
        };
        siblings.push(sibling);
    }
    if !r.is_empty() {
        return Err(fault("trailing bytes after the proof"));
    }
    Ok(StateProof { leaf, siblings })
}

/// Reads the tree for one proof, remembering the last leaf it read so the
/// tree's request for the value is answered from beside that leaf.
struct ProofReader<'a, R: ?Sized> {
    store: &'a R,
    leaf: RefCell<Option<NodeKey>>,
}

impl<R: TreeStore + ?Sized> TreeReader for ProofReader<'_, R> {
    fn get_node_option(&self, k: &NodeKey) -> anyhow::Result<Option<Node>> {
        let node = self.store.get_node_option(k)?;
        if let Some(Node::Leaf(_)) = &node {
            *self.leaf.borrow_mut() = Some(k.clone());
        }
        Ok(node)
    }
    fn get_value_option(
        &self,
        _max_version: Version,
        _kh: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let leaf = self.leaf.borrow().clone();
        match leaf {
            Some(nk) => self.store.leaf_value(&nk),
            None => anyhow::bail!("the tree asked for a value before reading its leaf"),
        }
    }
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("the ledger never restores a tree from leaves")
    }
}

/// The value of `key` at `version` and the proof of it (or of its absence).
pub fn prove<R: TreeStore + ?Sized>(
    store: &R,
    key: &[u8],
    version: Version,
) -> Result<(Option<Vec<u8>>, StateProof), StateFault> {
    let reader = ProofReader {
        store,
        leaf: RefCell::new(None),
    };
    let tree = Tree::new(&reader);
    let (value, proof) = tree.get_with_proof(key_hash(key), version).map_err(fault)?;
    let proof = export_proof(&proof)?;
    // The stored value must be the one the leaf commits to.
    if let (Some(v), Some(leaf)) = (&value, &proof.leaf) {
        if crypto::sha256(v) != leaf.value_hash {
            return Err(fault(
                "the value stored with a leaf does not match its hash",
            ));
        }
    }
    Ok((value, proof))
}

/// The root of a tree built from scratch over `entries` (committed keys
/// and values): what `audit` compares with the stored root.
pub fn root_from_scratch(
    entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
) -> Result<Hash, StateFault> {
    let mem = MemoryState::default();
    let set: Vec<(KeyHash, Option<OwnedValue>)> = entries
        .into_iter()
        .map(|(k, v)| (key_hash(&k), Some(v)))
        .collect();
    let (root, _) = Tree::new(&mem).put_value_set(set, 0).map_err(fault)?;
    Ok(Hash(root.0))
}

/// A reader behind a reference, so that trait objects can serve the tree
/// (which wants a sized reader).
struct Unsized<'a, R: ?Sized>(&'a R);

impl<R: TreeReader + ?Sized> TreeReader for Unsized<'_, R> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        self.0.get_node_option(node_key)
    }
    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        self.0.get_value_option(max_version, key_hash)
    }
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        self.0.get_rightmost_leaf()
    }
}

/// Ledger state and tree in memory: for tests, simulations and the
/// from-scratch rebuild.
#[derive(Default, Clone)]
pub struct MemoryState {
    /// The key-value state.
    pub kv: BTreeMap<Vec<u8>, Vec<u8>>,
    nodes: BTreeMap<NodeKey, Node>,
    leaf_values: BTreeMap<NodeKey, Vec<u8>>,
}

impl MemoryState {
    /// Applies a block's writes and tree batch.
    pub fn apply(&mut self, writes: &WriteSet, batch: &TreeBatch) {
        for (k, v) in writes {
            match v {
                Some(v) => self.kv.insert(k.clone(), v.clone()),
                None => self.kv.remove(k),
            };
        }
        for (k, n) in batch.update.node_batch.nodes() {
            self.nodes.insert(k.clone(), n.clone());
        }
        for (k, v) in &batch.leaf_values {
            self.leaf_values.insert(k.clone(), v.clone());
        }
    }
}

impl TreeStore for MemoryState {
    fn leaf_value(&self, key: &NodeKey) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.leaf_values.get(key).cloned())
    }
}

impl StateRead for MemoryState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateFault> {
        Ok(self.kv.get(key).cloned())
    }
}

impl TreeReader for MemoryState {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(node_key).cloned())
    }
    fn get_value_option(
        &self,
        _max_version: Version,
        _key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        anyhow::bail!("tree values are read through a proof reader")
    }
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("the ledger never restores a tree from leaves")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn committed_key(i: u32) -> Vec<u8> {
        format!("ip/ZL{i}").into_bytes()
    }

    /// Builds a tree over several blocks of random writes and checks every
    /// key, present or absent, at every version.
    fn check(blocks: &[Vec<(u32, Option<u8>)>]) {
        let mut mem = MemoryState::default();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut roots = Vec::new();
        let mut models = Vec::new();
        for (h, block) in blocks.iter().enumerate() {
            let mut writes = WriteSet::new();
            for (k, v) in block {
                writes.insert(committed_key(*k), v.map(|b| vec![b; 3]));
            }
            // Writes outside the tree change the root through `x/`.
            writes.insert(b"n/someone".to_vec(), Some(vec![h as u8]));
            let (root, batch) = commit_writes(&mem, h as Version, &mut writes).unwrap();
            mem.apply(&writes, &batch);
            for (k, v) in &writes {
                if keys::committed(k) {
                    match v {
                        Some(v) => model.insert(k.clone(), v.clone()),
                        None => model.remove(k),
                    };
                }
            }
            roots.push(root);
            models.push(model.clone());
        }
        for (h, (root, model)) in roots.iter().zip(&models).enumerate() {
            assert_eq!(
                root_from_scratch(model.clone()).unwrap(),
                *root,
                "incremental and from-scratch roots differ at {h}"
            );
            for i in 0..64u32 {
                let key = committed_key(i);
                let (value, proof) = prove(&mem, &key, h as Version).unwrap();
                assert_eq!(value.as_ref(), model.get(&key));
                proof.verify(root, &key, value.as_deref()).unwrap();
                // The opposite claim fails.
                match &value {
                    Some(_) => assert!(proof.verify(root, &key, None).is_err()),
                    None => assert!(proof.verify(root, &key, Some(b"forged")).is_err()),
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn every_key_proves_its_value_or_absence(
            blocks in proptest::collection::vec(
                proptest::collection::vec((0u32..64, proptest::option::of(any::<u8>())), 0..40),
                1..6,
            )
        ) {
            check(&blocks);
        }

        #[test]
        fn one_flipped_byte_fails(
            n in 1u32..3000, probe in 0u32..6000, byte in 0usize..32, bitpos in 0u8..8, part in 0u8..4,
        ) {
            let mut mem = MemoryState::default();
            let mut writes: WriteSet = (0..n)
                .map(|i| (committed_key(i), Some(i.to_le_bytes().to_vec())))
                .collect();
            let (root, batch) = commit_writes(&mem, 0, &mut writes).unwrap();
            mem.apply(&writes, &batch);
            let key = committed_key(probe);
            let (value, mut proof) = prove(&mem, &key, 0).unwrap();
            proof.verify(&root, &key, value.as_deref()).unwrap();
            let mask = 1u8 << bitpos;
            let mut root2 = root;
            let mut key2 = key.clone();
            let mut value2 = value.clone();
            match part {
                0 => root2.0[byte] ^= mask,
                1 => { let i = byte % key2.len(); key2[i] ^= mask; }
                2 => match value2.as_mut() {
                    Some(v) => { let i = byte % v.len(); v[i] ^= mask; }
                    None => value2 = Some(vec![mask]),
                },
                _ => match proof.siblings.len() {
                    0 => match proof.leaf.as_mut() {
                        Some(l) => l.value_hash.0[byte] ^= mask,
                        None => proof.siblings.push(Hash([mask; 32])),
                    },
                    len => proof.siblings[byte % len].0[byte] ^= mask,
                },
            }
            let verdict = proof.verify(&root2, &key2, value2.as_deref());
            // A flipped key may by chance name another absent key whose
            // path the same proof also covers: that claim is true.
            if part == 1 && value.is_none() && !mem.kv.contains_key(&key2) {
                let (v, p) = prove(&mem, &key2, 0).unwrap();
                prop_assert_eq!(v, None);
                prop_assert!(p.verify(&root, &key2, None).is_ok());
            } else {
                prop_assert!(verdict.is_err(), "part {} accepted", part);
            }
        }
    }

    /// Thousands of keys over several blocks, with updates and deletions:
    /// every present key proves its value and every absent one its absence
    /// at every height, against the root recomputed from scratch.
    #[test]
    fn thousands_of_keys_prove_presence_and_absence() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut blocks = Vec::new();
        for b in 0..4 {
            let n = if b == 0 { 4000 } else { 800 };
            blocks.push(
                (0..n)
                    .map(|_| {
                        let k = (next() % 6000) as u32;
                        let v = (next() % 5 != 0).then(|| (next() % 256) as u8);
                        (k, v)
                    })
                    .collect::<Vec<_>>(),
            );
        }
        let mut mem = MemoryState::default();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (h, block) in blocks.iter().enumerate() {
            let mut writes = WriteSet::new();
            for (k, v) in block {
                writes.insert(committed_key(*k), v.map(|b| vec![b; 3]));
            }
            let (root, batch) = commit_writes(&mem, h as Version, &mut writes).unwrap();
            mem.apply(&writes, &batch);
            for (k, v) in &writes {
                match v {
                    Some(v) => model.insert(k.clone(), v.clone()),
                    None => model.remove(k),
                };
            }
            assert_eq!(root_from_scratch(model.clone()).unwrap(), root);
            for i in 0..6000u32 {
                let key = committed_key(i);
                let (value, proof) = prove(&mem, &key, h as Version).unwrap();
                assert_eq!(value.as_ref(), model.get(&key), "key {i} at {h}");
                proof.verify(&root, &key, value.as_deref()).unwrap();
            }
        }
    }

    #[test]
    fn exported_proofs_agree_with_the_trees_own_verifier() {
        let mut mem = MemoryState::default();
        let mut writes: WriteSet = (0..500u32)
            .map(|i| (committed_key(i), Some(vec![i as u8])))
            .collect();
        let (root, batch) = commit_writes(&mem, 0, &mut writes).unwrap();
        mem.apply(&writes, &batch);
        let reader = ProofReader {
            store: &mem,
            leaf: RefCell::new(None),
        };
        let tree = Tree::new(&reader);
        for i in 0..1000u32 {
            let key = committed_key(i);
            let (value, proof) = tree.get_with_proof(key_hash(&key), 0).unwrap();
            proof
                .verify(jmt::RootHash(root.0), key_hash(&key), value.as_ref())
                .unwrap();
            export_proof(&proof)
                .unwrap()
                .verify(&root, &key, value.as_deref())
                .unwrap();
        }
        let absent =
            export_proof(&tree.get_with_proof(key_hash(b"ip/none"), 0).unwrap().1).unwrap();
        absent.verify(&root, b"ip/none", None).unwrap();
        assert!(absent.verify(&root, b"ip/none", Some(b"x")).is_err());
    }
}
