//! RFC 6962 Merkle trees over a block's transaction hashes (or receipt
//! hashes), with inclusion proofs and the RFC 9162 §2.1.3.2 verifier.
//!
//! Leaves are hashed as `sha256(0x00 || data)` and interior nodes as
//! `sha256(0x01 || left || right)`, so a leaf can never be passed off as an
//! interior node. The empty tree's root is `sha256("")`.

use serde::{Deserialize, Serialize};

use crate::bytes::Hash;
use crate::crypto::{sha256, sha256_parts};

/// Hash of a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256_parts(&[&[0x00], data])
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256_parts(&[&[0x01], &left.0, &right.0])
}

/// Largest power of two strictly less than `n` (n >= 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

fn root_of_leaf_hashes(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => sha256(b""),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(
                &root_of_leaf_hashes(&leaves[..k]),
                &root_of_leaf_hashes(&leaves[k..]),
            )
        }
    }
}

/// The Merkle tree hash of a list of items (each item is one leaf's data).
pub fn root(items: &[Hash]) -> Hash {
    let leaves: Vec<Hash> = items.iter().map(|h| leaf_hash(&h.0)).collect();
    root_of_leaf_hashes(&leaves)
}

/// The right edge of a growing tree: the roots of its perfect subtrees,
/// largest first, one per set bit of the leaf count. Appending touches only
/// these, so a list that grows by one item per block is re-rooted in
/// O(log n) without reading its earlier items.
///
/// Pushes the leaf data `item` onto a tree that held `count_before` leaves.
pub fn push_peak(peaks: &mut Vec<Hash>, count_before: u64, item: &Hash) {
    peaks.push(leaf_hash(&item.0));
    for _ in 0..count_before.trailing_ones() {
        let right = peaks.pop().expect("one peak per set bit");
        let left = peaks.pop().expect("one peak per set bit");
        peaks.push(node_hash(&left, &right));
    }
}

/// The tree hash from its peaks (see [`push_peak`]): RFC 6962 splits at the
/// largest power of two, so its root is the peaks folded from the right.
pub fn root_from_peaks(peaks: &[Hash]) -> Hash {
    match peaks.split_last() {
        None => sha256(b""),
        Some((last, rest)) => rest.iter().rev().fold(*last, |acc, p| node_hash(p, &acc)),
    }
}

/// An inclusion proof: the audit path of RFC 6962 §2.1.1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Position of the leaf, from 0.
    pub index: u64,
    /// Number of leaves in the tree.
    pub tree_size: u64,
    /// Sibling hashes from the leaf up to the root.
    pub path: Vec<Hash>,
}

fn path_of(index: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if index < k {
        path_of(index, &leaves[..k], out);
        out.push(root_of_leaf_hashes(&leaves[k..]));
    } else {
        path_of(index - k, &leaves[k..], out);
        out.push(root_of_leaf_hashes(&leaves[..k]));
    }
}

/// Builds the inclusion proof for `items[index]`, or `None` if out of range.
pub fn prove(items: &[Hash], index: usize) -> Option<InclusionProof> {
    if index >= items.len() {
        return None;
    }
    let leaves: Vec<Hash> = items.iter().map(|h| leaf_hash(&h.0)).collect();
    let mut path = Vec::new();
    path_of(index, &leaves, &mut path);
    Some(InclusionProof {
        index: index as u64,
        tree_size: items.len() as u64,
        path,
    })
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The index is not inside the tree.
    #[error("leaf index {index} is outside a tree of {tree_size} leaves")]
    IndexOutOfRange {
        /// Claimed index.
        index: u64,
        /// Claimed tree size.
        tree_size: u64,
    },
    /// The path has the wrong number of hashes for this index and size.
    #[error("audit path has the wrong length for leaf {index} of {tree_size}")]
    WrongPathLength {
        /// Claimed index.
        index: u64,
        /// Claimed tree size.
        tree_size: u64,
    },
    /// The path leads to another root.
    #[error("audit path leads to root {computed}, expected {expected}")]
    RootMismatch {
        /// Root the proof leads to.
        computed: Hash,
        /// Root it should lead to.
        expected: Hash,
    },
}

impl InclusionProof {
    /// Checks that `item` is leaf `index` of the tree with root `expected`.
    pub fn verify(&self, item: &Hash, expected: &Hash) -> Result<(), ProofError> {
        if self.index >= self.tree_size {
            return Err(ProofError::IndexOutOfRange {
                index: self.index,
                tree_size: self.tree_size,
            });
        }
        let wrong_len = || ProofError::WrongPathLength {
            index: self.index,
            tree_size: self.tree_size,
        };
        let mut f = self.index;
        let mut s = self.tree_size - 1;
        let mut r = leaf_hash(&item.0);
        for p in &self.path {
            if s == 0 {
                return Err(wrong_len());
            }
            if f & 1 == 1 || f == s {
                r = node_hash(p, &r);
                if f & 1 == 0 {
                    while f & 1 == 0 && f != 0 {
                        f >>= 1;
                        s >>= 1;
                    }
                }
            } else {
                r = node_hash(&r, p);
            }
            f >>= 1;
            s >>= 1;
        }
        if s != 0 {
            return Err(wrong_len());
        }
        if r != *expected {
            return Err(ProofError::RootMismatch {
                computed: r,
                expected: *expected,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn items(n: usize) -> Vec<Hash> {
        (0..n).map(|i| sha256(&(i as u64).to_le_bytes())).collect()
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(root(&[]), sha256(b""));
        let one = items(1);
        assert_eq!(root(&one), leaf_hash(&one[0].0));
        prove(&one, 0)
            .unwrap()
            .verify(&one[0], &root(&one))
            .unwrap();
        assert!(prove(&one, 1).is_none());
    }

    #[test]
    fn three_leaves_match_rfc_shape() {
        let it = items(3);
        let l: Vec<Hash> = it.iter().map(|h| leaf_hash(&h.0)).collect();
        let expected = node_hash(&node_hash(&l[0], &l[1]), &l[2]);
        assert_eq!(root(&it), expected);
        let p = prove(&it, 2).unwrap();
        assert_eq!(p.path, vec![node_hash(&l[0], &l[1])]);
    }

    #[test]
    fn peaks_give_the_same_root_as_the_whole_list() {
        let all = items(300);
        let mut peaks = Vec::new();
        assert_eq!(root_from_peaks(&peaks), root(&[]));
        for (n, item) in all.iter().enumerate() {
            push_peak(&mut peaks, n as u64, item);
            assert_eq!(peaks.len(), (n as u64 + 1).count_ones() as usize);
            assert_eq!(
                root_from_peaks(&peaks),
                root(&all[..=n]),
                "{} leaves",
                n + 1
            );
        }
    }

    proptest! {
        #[test]
        fn every_leaf_proves_and_tampering_fails(n in 1usize..70, flip in any::<u8>()) {
            let it = items(n);
            let r = root(&it);
            for (i, item) in it.iter().enumerate() {
                let p = prove(&it, i).unwrap();
                prop_assert!(p.verify(item, &r).is_ok());
                // A different leaf at the same position fails.
                let other = sha256(b"other");
                prop_assert!(p.verify(&other, &r).is_err());
                // A tampered path hash fails.
                if !p.path.is_empty() {
                    let mut bad = p.clone();
                    let j = flip as usize % bad.path.len();
                    bad.path[j].0[0] ^= 1;
                    prop_assert!(bad.verify(item, &r).is_err());
                    let mut short = p.clone();
                    short.path.pop();
                    prop_assert!(short.verify(item, &r).is_err());
                }
                // A wrong index fails (unless the tree has one leaf).
                if n > 1 {
                    let mut moved = p.clone();
                    moved.index = (moved.index + 1) % n as u64;
                    prop_assert!(moved.verify(item, &r).is_err());
                }
            }
        }
    }
}
