//! # deltachain-protocol
//!
//! The vocabulary every Deltachain node and client shares: the record and
//! transaction types, blocks and consensus messages, their canonical
//! encoding, hashing, domain-separated signatures, Merkle proofs, the genesis
//! document and the field validation rules. It does no I/O, so the same code
//! runs in a validator, in a bank's client and in a fuzzer.
//!
//! ## Formats
//!
//! * **Encoding** ([`codec`]): bincode 2, little-endian, fixed-width integers,
//!   `u64` length prefixes, `u32` enum tags, one-byte `Option` tags. Every
//!   decoder takes a byte limit and rejects trailing bytes, so each value has
//!   exactly one encoding. Limits: transaction 4 KiB ([`MAX_TX_BYTES`]),
//!   vote and proposal 256 B, block 32 MiB.
//! * **Hashes**: sha256. `tx_hash = sha256(encode(SignedTransaction))`,
//!   block hash `= sha256(encode(BlockHeader))`, genesis hash
//!   `= sha256(encode(Genesis))`.
//! * **Signatures** ([`crypto`]): ed25519 over `len || tag || len ||
//!   chain_id || encode(body)`, with one tag per kind of signed object:
//!   `deltachain/tx/v1`, `deltachain/vote/v1`, `deltachain/proposal/v1`,
//!   `deltachain/consent/v1`, `deltachain/consent-revoke/v1` and
//!   `deltachain/receivable/v1` (docs/SPEC.md section 4).
//! * **Merkle trees** ([`merkle`]): RFC 6962 over the transaction hashes
//!   (`tx_root`) and the receipt hashes (`results_root`) of a block.
//! * **State root** ([`state`]): the root of a sparse Merkle tree (Jellyfish,
//!   sha256) over the registry, with proofs of presence and absence.
//! * **JSON**: serde; hashes, keys and signatures are lowercase hex, dates
//!   `YYYY-MM-DD`, times RFC 3339 UTC, money an integer number of fen, enums
//!   snake_case and externally tagged (`{"ip_pledge": {...}}`).
//!
//! ## Validation
//!
//! [`validate`] checks USCCs (GB 32100-2015 check character), patent numbers
//! (CNIPA check digit, 12- and 8-digit forms), identifiers and text bounds;
//! [`Payload::validate`] applies them to every record with errors that name
//! the field.

#![forbid(unsafe_code)]

#[macro_use]
pub mod types;
pub mod access;
pub mod bytes;
pub mod codec;
pub mod crypto;
pub mod genesis;
pub mod httpsig;
pub mod merkle;
pub mod registry;
pub mod state;
pub mod time;
pub mod validate;

pub use access::{
    AccessBasis, AuditBatch, AuditEntry, AuditOutcome, AuditRoute, Consent, ConsentRevoke,
    EnterpriseKey, Purpose, Scope, SignedConsent,
};
pub use bytes::{Hash, HexError, PublicKey, Signature};
pub use codec::DecodeError;
pub use crypto::{Domain, Keypair};
pub use genesis::{
    ConsensusParams, EnterpriseInfo, Genesis, LedgerRules, MemberInfo, ValidatorInfo,
};
pub use registry::{
    Categories, FinanceKind, Objection, ObjectionOutcome, ObjectionResolution, ObjectionTarget,
    PaymentStatus, PublicCategory, PublicData, PublicRecord, ReceivableFinance, ReceivablePart,
    ReceivableRegister, ReceivableRelease, ReceivableSettle, ReceivableSplit, ReceivableTerms,
    ReceivableTransfer, UsccException, Utility,
};
pub use time::Date;
pub use types::*;
pub use validate::ValidationError;
