//! The committed registry state and proofs about it.
//!
//! A header's `state_root` is the root of a sparse Merkle tree (the
//! Jellyfish Merkle Tree of Diem and Penumbra, with sha256) over the
//! registry: every IP right with its pledge, every member with its roles,
//! validators, enterprise keys, consents, and for each enterprise a
//! commitment to its list of credit records. A client holding a header that
//! a quorum of validators signed can check, with a [`StateProof`], that a key
//! holds exactly a value at that height, or that it holds nothing.
//!
//! ## Hashing
//!
//! * key hash `= sha256(key bytes)`, value hash `= sha256(value bytes)`,
//!   where the value bytes are the canonical encoding ([`crate::codec`]) of
//!   the state type named in [`keys`];
//! * leaf `= sha256("JMT::LeafNode" || key hash || value hash)`;
//! * interior node `= sha256("JMT::IntrnalNode" || left || right)`;
//! * an empty subtree is the 32 ASCII bytes `SPARSE_MERKLE_PLACEHOLDER_HASH__`.
//!
//! Bit `i` of the key hash (most significant bit of byte 0 first) chooses
//! the right child at depth `i`. A proof lists the leaf it ends at (if any)
//! and the sibling hashes from the bottom up; [`StateProof::verify`] folds
//! them to the root.
//!
//! ## Credit records
//!
//! Credit records are too many to each be a key. The tree holds, under
//! `cn/<uscc>`, a [`CreditCommitment`]: the number of records and the peaks
//! of the RFC 6962 tree over their digests in order ([`credit_digest`];
//! [`crate::merkle::push_peak`]), whose root is [`crate::merkle::root`] of
//! the digests. "These are exactly the N records, unaltered" is one proof
//! plus a recomputation. The ledger extends the list from the peaks alone.

use serde::{Deserialize, Serialize};

use crate::bytes::{Hash, PublicKey};
use crate::crypto::{sha256, sha256_parts};
use crate::registry::{Categories, FinanceKind};
use crate::time::Date;
use crate::{codec, BlockHeader, CommitCertificate, Credit, IpKind, Roles, SignedConsent};

/// The keys the tree holds and the type of each value.
pub mod keys {
    use crate::bytes::PublicKey;

    /// `m/<key hex>`: a [`Member`](super::Member).
    pub fn member(key: &PublicKey) -> Vec<u8> {
        format!("m/{}", key.to_hex()).into_bytes()
    }
    /// `v/<key hex>`: `()`, a validator of the genesis.
    pub fn validator(key: &PublicKey) -> Vec<u8> {
        format!("v/{}", key.to_hex()).into_bytes()
    }
    /// `ip/<id>`: an [`IpRecord`](super::IpRecord), with its pledge.
    pub fn ip(id: &str) -> Vec<u8> {
        format!("ip/{id}").into_bytes()
    }
    /// `ek/<uscc>`: the [`PublicKey`] bound to an enterprise.
    pub fn enterprise_key(uscc: &str) -> Vec<u8> {
        format!("ek/{uscc}").into_bytes()
    }
    /// `cs/<consent id>`: a [`ConsentRecord`](super::ConsentRecord).
    pub fn consent(id: &str) -> Vec<u8> {
        format!("cs/{id}").into_bytes()
    }
    /// `cn/<uscc>`: a [`CreditCommitment`](super::CreditCommitment).
    pub fn credit_commitment(uscc: &str) -> Vec<u8> {
        format!("cn/{uscc}").into_bytes()
    }
    /// `rv/<id>`: a [`Receivable`](super::Receivable) or part, with its
    /// financing and balance.
    pub fn receivable(id: &str) -> Vec<u8> {
        format!("rv/{id}").into_bytes()
    }
    /// `ux/<code>`: a regulator's [`UsccExceptionRecord`](super::UsccExceptionRecord).
    pub fn uscc_exception(code: &str) -> Vec<u8> {
        format!("ux/{code}").into_bytes()
    }
    /// `x/`: the running digest of every state write the tree does not
    /// hold (nonces, indexes, history, the audit trail), so that two nodes
    /// that differ anywhere in their state differ in the root.
    pub const OTHER_WRITES: &[u8] = b"x/";

    /// Prefixes of the keys the tree holds.
    pub const COMMITTED: [&[u8]; 9] = [
        b"m/", b"v/", b"ip/", b"ek/", b"cs/", b"cn/", b"rv/", b"ux/", b"x/",
    ];

    /// True if `key` is held by the tree (and so provable).
    pub fn committed(key: &[u8]) -> bool {
        COMMITTED.iter().any(|p| key.starts_with(p))
    }
}

/// A member organisation as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Display name.
    pub name: String,
    /// Signing key.
    pub public_key: PublicKey,
    /// Roles.
    pub roles: Roles,
    /// City it reports from (may be empty).
    pub city: String,
    /// Public-record categories it may write (`data_provider`).
    pub categories: Categories,
}

/// An active pledge on an IP right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pledge {
    /// The bank holding the pledge.
    pub pledgee: PublicKey,
    /// Secured amount in fen.
    pub amount_fen: u64,
    /// Pledge contract reference.
    pub contract: String,
    /// Last day of the pledge.
    pub until: Date,
    /// The pledging transaction.
    pub tx_hash: Hash,
}

/// Current state of an IP right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRecord {
    /// Patent number or registration id.
    pub ip_id: String,
    /// Kind of right.
    pub kind: IpKind,
    /// Title.
    pub title: String,
    /// Owner's USCC.
    pub owner: String,
    /// Registration date.
    pub registered_on: Date,
    /// The IP office that registered it.
    pub registrar: PublicKey,
    /// The pledge, if one was made and not released (it may have expired).
    pub pledge: Option<Pledge>,
    /// Number of history events.
    pub events: u32,
}

impl IpRecord {
    /// The pledge if it is still in force on `today`.
    pub fn active_pledge(&self, today: Date) -> Option<&Pledge> {
        self.pledge.as_ref().filter(|p| p.until >= today)
    }
}

/// A correction attached to a credit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    /// The correcting transaction.
    pub tx_hash: Hash,
    /// Height of its block.
    pub height: u64,
    /// Why.
    pub reason: String,
    /// True if the record was withdrawn.
    pub withdraw: bool,
}

/// A consent as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// The consent, with the enterprise's signature.
    pub signed: SignedConsent,
    /// The enterprise key that signed it. A consent lapses when the
    /// enterprise's key is replaced (a key rotated after a leak must not
    /// leave behind the consents its thief signed).
    pub signer: PublicKey,
    /// The granting transaction.
    pub tx_hash: Hash,
    /// Its height.
    pub height: u64,
    /// Height of the revocation, if revoked.
    pub revoked_height: Option<u64>,
    /// The revoking transaction.
    pub revoked_tx: Option<Hash>,
}

impl ConsentRecord {
    /// True if the consent is in force on `day`, not revoked, and its
    /// signer is still the enterprise's bound key (`bound`).
    pub fn active(&self, day: Date, bound: Option<&PublicKey>) -> bool {
        self.revoked_height.is_none()
            && self.signed.consent.in_force(day)
            && bound == Some(&self.signer)
    }
}

/// A financing in force (or expired but not released) on a receivable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Financing {
    /// Pledge or factoring.
    pub kind: FinanceKind,
    /// The financier.
    pub financier: PublicKey,
    /// Financed amount in fen; never above the unsettled balance.
    pub amount_fen: u64,
    /// Financing contract.
    pub contract: String,
    /// Last day.
    pub until: Date,
    /// The financing transaction.
    pub tx_hash: Hash,
}

/// A receivable, or a part split from one, as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receivable {
    /// Its id.
    pub id: String,
    /// The registered receivable it descends from (its own id if registered).
    pub root: String,
    /// The receivable or part it was split from.
    pub parent: Option<String>,
    /// The original creditor.
    pub creditor: String,
    /// The debtor, who confirmed the payable.
    pub debtor: String,
    /// Who holds it now (and is paid).
    pub holder: String,
    /// Face amount of this receivable or part, in fen.
    pub amount_fen: u64,
    /// Currency.
    pub currency: String,
    /// Issue date.
    pub issued_on: Date,
    /// Due date (parts inherit it).
    pub due_on: Date,
    /// Invoice numbers (on a registered receivable; parts refer to its root).
    pub invoices: Vec<String>,
    /// Underlying contract.
    pub contract: String,
    /// Unified movable-collateral registration number.
    pub collateral_registration: Option<String>,
    /// The registrar that registered the root.
    pub registrar: PublicKey,
    /// The transaction that created it (registration or split).
    pub tx_hash: Hash,
    /// Paid so far, in fen.
    pub settled_fen: u64,
    /// Split off into parts, in fen.
    pub split_fen: u64,
    /// Ids of the parts split from it, in order.
    pub parts: Vec<String>,
    /// The financing, if one was made and not released (it may have expired).
    pub financing: Option<Financing>,
    /// On the root: how many receivables of its family still have a
    /// balance; its invoice numbers are free again at zero.
    pub live_in_family: u32,
    /// Corrections made in answer to objections.
    pub corrections: Vec<Correction>,
    /// Number of history events.
    pub events: u32,
}

impl Receivable {
    /// What is still owed on it and not split off: the amount that can be
    /// financed, split or paid.
    pub fn balance(&self) -> u64 {
        // Saturating: the ledger keeps settled + split within the amount;
        // a corrupt record must not panic a reader.
        self.amount_fen
            .saturating_sub(self.settled_fen)
            .saturating_sub(self.split_fen)
    }

    /// The financing if it is in force on `today`.
    pub fn active_financing(&self, today: Date) -> Option<&Financing> {
        self.financing.as_ref().filter(|f| f.until >= today)
    }

    /// The amount financed on `today` (0 if none).
    pub fn financed_fen(&self, today: Date) -> u64 {
        self.active_financing(today).map_or(0, |f| f.amount_fen)
    }
}

/// A pilot-era code admitted by a regulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsccExceptionRecord {
    /// The code.
    pub code: String,
    /// The enterprise's registered name.
    pub name: String,
    /// Why it was admitted.
    pub reason: String,
    /// The regulator that admitted it.
    pub regulator: PublicKey,
    /// The admitting transaction.
    pub tx_hash: Hash,
    /// Its height.
    pub height: u64,
}

/// What the tree holds for an enterprise's credit records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditCommitment {
    /// Number of records ever reported (withdrawn ones included).
    pub count: u64,
    /// Peaks of the RFC 6962 tree over the records' [`credit_digest`]s in
    /// order, largest first: one per set bit of `count`.
    pub peaks: Vec<Hash>,
}

impl CreditCommitment {
    /// Appends a record's digest.
    pub fn push(&mut self, digest: &Hash) {
        crate::merkle::push_peak(&mut self.peaks, self.count, digest);
        self.count += 1;
    }

    /// The RFC 6962 root over the digests.
    pub fn root(&self) -> Hash {
        crate::merkle::root_from_peaks(&self.peaks)
    }
}

/// What a record says and where it came from; fixed when it is reported.
pub fn credit_content(
    tx_hash: &Hash,
    reporter: &PublicKey,
    height: u64,
    time_ms: u64,
    record: &Credit,
) -> Hash {
    sha256_parts(&[
        b"deltachain/credit-record/v1",
        &codec::encode(&(tx_hash, reporter, height, time_ms, record)),
    ])
}

/// A record's leaf data: its content and its corrections so far.
pub fn credit_digest(content: &Hash, corrections: &[Correction]) -> Hash {
    sha256_parts(&[&content.0, &codec::encode(&corrections)])
}

/// One credit record as a proof answer carries it: everything its digest
/// covers, in the types that encode canonically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenCredit {
    /// The reporting transaction.
    pub tx_hash: Hash,
    /// The reporting bank.
    pub reporter: PublicKey,
    /// Height of its block.
    pub height: u64,
    /// Block time.
    pub time_ms: u64,
    /// The record as reported.
    pub record: Credit,
    /// Corrections up to the proof's height, oldest first.
    pub corrections: Vec<Correction>,
}

impl ProvenCredit {
    /// Its leaf data in the enterprise's commitment.
    pub fn digest(&self) -> Hash {
        credit_digest(
            &credit_content(
                &self.tx_hash,
                &self.reporter,
                self.height,
                self.time_ms,
                &self.record,
            ),
            &self.corrections,
        )
    }

    /// True once the reporter withdrew it.
    pub fn withdrawn(&self) -> bool {
        self.corrections.iter().any(|c| c.withdraw)
    }
}

/// The commitment a list of records must match.
pub fn credit_commitment(records: &[ProvenCredit]) -> CreditCommitment {
    let mut c = CreditCommitment::default();
    for r in records {
        c.push(&r.digest());
    }
    c
}

const LEAF_TAG: &[u8] = b"JMT::LeafNode";
const INTERNAL_TAG: &[u8] = b"JMT::IntrnalNode";
/// The hash of an empty subtree.
pub const EMPTY_SUBTREE: Hash = Hash(*b"SPARSE_MERKLE_PLACEHOLDER_HASH__");
/// Most siblings a proof can have (one per bit of a key hash).
pub const MAX_SIBLINGS: usize = 256;

/// The leaf a proof ends at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofLeaf {
    /// Hash of its key.
    pub key_hash: Hash,
    /// Hash of its value.
    pub value_hash: Hash,
}

impl ProofLeaf {
    /// The leaf's node hash.
    pub fn hash(&self) -> Hash {
        sha256_parts(&[LEAF_TAG, &self.key_hash.0, &self.value_hash.0])
    }
}

/// A proof that a key holds a value, or nothing, under a state root.
///
/// For a present key, `leaf` is the key's own leaf. For an absent key it is
/// either `None` (the key's path ends in an empty subtree) or another key's
/// leaf that sits where the key's path ends (a subtree with one key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProof {
    /// The leaf the path ends at.
    pub leaf: Option<ProofLeaf>,
    /// Sibling hashes from the bottom of the path up to the root.
    pub siblings: Vec<Hash>,
}

/// Why a state proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// More siblings than key bits.
    #[error("the proof has {0} siblings, more than the 256 bits of a key hash")]
    TooLong(usize),
    /// The proof's leaf is for another key but a value was claimed.
    #[error("the proof shows another key where this key's value should be")]
    OtherKey,
    /// The value differs from what the leaf commits to.
    #[error("the value does not match the value hash the proof commits to")]
    ValueMismatch,
    /// A value was claimed but the proof shows absence.
    #[error("the proof shows the key absent, but a value was claimed")]
    ExpectedPresence,
    /// Absence was claimed but the proof's leaf is the key's own.
    #[error("the proof shows the key present, but absence was claimed")]
    ExpectedAbsence,
    /// The other key's leaf could not sit on this key's path.
    #[error("the leaf in the proof does not lie on this key's path")]
    OffPath,
    /// The folded root differs from the header's.
    #[error("the proof leads to root {computed}, not the header's state root {expected}")]
    RootMismatch {
        /// Root of the header.
        expected: Hash,
        /// Root the proof leads to.
        computed: Hash,
    },
}

fn bit(hash: &Hash, i: usize) -> bool {
    hash.0[i / 8] & (0x80 >> (i % 8)) != 0
}

fn common_prefix_bits(a: &Hash, b: &Hash) -> usize {
    (0..256).take_while(|&i| bit(a, i) == bit(b, i)).count()
}

fn interior(left: &Hash, right: &Hash) -> Hash {
    sha256_parts(&[INTERNAL_TAG, &left.0, &right.0])
}

impl StateProof {
    /// Checks that under `root`, `key` holds `value` (or nothing, for
    /// `None`).
    pub fn verify(&self, root: &Hash, key: &[u8], value: Option<&[u8]>) -> Result<(), ProofError> {
        let n = self.siblings.len();
        if n > MAX_SIBLINGS {
            return Err(ProofError::TooLong(n));
        }
        let key_hash = sha256(key);
        match (value, &self.leaf) {
            (Some(v), Some(leaf)) => {
                if leaf.key_hash != key_hash {
                    return Err(ProofError::OtherKey);
                }
                if leaf.value_hash != sha256(v) {
                    return Err(ProofError::ValueMismatch);
                }
            }
            (Some(_), None) => return Err(ProofError::ExpectedPresence),
            (None, Some(leaf)) => {
                if leaf.key_hash == key_hash {
                    return Err(ProofError::ExpectedAbsence);
                }
                if common_prefix_bits(&key_hash, &leaf.key_hash) < n {
                    return Err(ProofError::OffPath);
                }
            }
            (None, None) => {}
        }
        let start = self.leaf.map_or(EMPTY_SUBTREE, |l| l.hash());
        let computed = self
            .siblings
            .iter()
            .enumerate()
            .fold(start, |acc, (i, sibling)| {
                if bit(&key_hash, n - 1 - i) {
                    interior(sibling, &acc)
                } else {
                    interior(&acc, sibling)
                }
            });
        if computed != *root {
            return Err(ProofError::RootMismatch {
                expected: *root,
                computed,
            });
        }
        Ok(())
    }
}

/// One key of a proof answer: the key, its value's canonical bytes (hex in
/// JSON; absent for a key that holds nothing) and the proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenEntry {
    /// The state key, as text (every committed key is ASCII).
    pub key: String,
    /// The value's canonical encoding, if the key holds one.
    #[serde(with = "opt_hex")]
    pub value: Option<Vec<u8>>,
    /// The proof against the header's `state_root`.
    pub proof: StateProof,
}

impl ProvenEntry {
    /// Checks the entry against a state root.
    pub fn verify(&self, root: &Hash) -> Result<(), ProofError> {
        self.proof
            .verify(root, self.key.as_bytes(), self.value.as_deref())
    }

    /// Decodes the value as `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
    ) -> Result<Option<T>, codec::DecodeError> {
        self.value
            .as_deref()
            .map(|v| codec::decode(v, codec::MAX_DECODE_BYTES, what))
            .transpose()
    }
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|h| hex::decode(h).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// What `?proof=true` adds to an answer: the certified header of the height
/// the answer is about and the proven keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateAnswer {
    /// Height the answer is about.
    pub height: u64,
    /// Its header, whose `state_root` the proofs lead to.
    pub header: BlockHeader,
    /// The commit certificate of that header.
    pub certificate: CommitCertificate,
    /// The proven keys.
    pub entries: Vec<ProvenEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_tree_proves_absence_only() {
        let p = StateProof {
            leaf: None,
            siblings: vec![],
        };
        p.verify(&EMPTY_SUBTREE, b"ip/x", None).unwrap();
        assert_eq!(
            p.verify(&EMPTY_SUBTREE, b"ip/x", Some(b"v")),
            Err(ProofError::ExpectedPresence)
        );
    }

    #[test]
    fn single_leaf_tree() {
        let key = b"m/ab";
        let leaf = ProofLeaf {
            key_hash: sha256(key),
            value_hash: sha256(b"value"),
        };
        let root = leaf.hash();
        let p = StateProof {
            leaf: Some(leaf),
            siblings: vec![],
        };
        p.verify(&root, key, Some(b"value")).unwrap();
        assert_eq!(
            p.verify(&root, key, Some(b"other")),
            Err(ProofError::ValueMismatch)
        );
        assert_eq!(p.verify(&root, key, None), Err(ProofError::ExpectedAbsence));
        // Any other key is absent: the one leaf sits where its path ends.
        p.verify(&root, b"m/cd", None).unwrap();
    }

    #[test]
    fn committed_prefixes_do_not_catch_neighbours() {
        for k in [&b"mn/x"[..], b"iph/x/", b"ekr/ab", b"cg/a", b"c/a", b"cc/a"] {
            assert!(!keys::committed(k), "{}", String::from_utf8_lossy(k));
        }
        for k in [
            &b"m/ab"[..],
            b"ip/ZL1",
            b"ek/9131",
            b"cs/c1",
            b"cn/9131",
            b"x/",
        ] {
            assert!(keys::committed(k));
        }
    }
}
