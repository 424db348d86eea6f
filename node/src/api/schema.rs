//! Schemas of the protocol's leaf types as the API writes them in JSON.
//!
//! The protocol crate serialises hashes, keys, signatures and dates as
//! strings with hand-written serde impls, which a derive cannot see; the
//! response types name these schemas with `#[schema(value_type = ...)]`
//! so that `/v1/openapi.json` says what the bytes on the wire are.
//! Structures the protocol defines field by field (headers, certificates,
//! payloads, consents, members) are given as objects whose description
//! points to docs/SPEC.md, which specifies them in full.

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

fn string(description: &str, pattern: Option<&str>, format: Option<KnownFormat>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(pattern)
        .format(format.map(SchemaFormat::KnownFormat))
        .into()
}

fn object(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .into()
}

macro_rules! leaf {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }
        impl ToSchema for $name {}
    };
}

leaf!(
    /// A SHA-256 hash: a transaction, block or response hash.
    HexHash => string("SHA-256 hash, 64 lower-case hex digits", Some("^[0-9a-f]{64}$"), None)
);
leaf!(
    /// An ed25519 public key.
    HexKey => string("ed25519 public key, 64 lower-case hex digits", Some("^[0-9a-f]{64}$"), None)
);
leaf!(
    /// An ed25519 signature.
    HexSignature => string("ed25519 signature, 128 lower-case hex digits", Some("^[0-9a-f]{128}$"), None)
);
leaf!(
    /// A calendar date.
    DateStr => string("calendar date, YYYY-MM-DD", Some("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), Some(KnownFormat::Date))
);
leaf!(
    /// A point in (block) time.
    TimeStr => string("UTC time, RFC 3339", None, Some(KnownFormat::DateTime))
);
leaf!(
    /// A block header (docs/SPEC.md §3.6), with `time` added in RFC 3339.
    HeaderObject => object("block header: chain_id, height, time_ms, prev_hash, tx_root, results_root, state_root, last_commit_hash, validators_hash, proposer, tx_count (docs/SPEC.md §3.6); views add `time` in RFC 3339")
);
leaf!(
    /// A commit certificate (docs/SPEC.md §3.6).
    CertificateObject => object("commit certificate: height, round, block_hash and signatures, the precommits of more than two thirds of the validators (docs/SPEC.md §3.6)")
);
leaf!(
    /// A state-proof answer (docs/SPEC.md §7).
    StateAnswerObject => object("state proof: height, header, certificate and one Merkle proof per key the answer rests on (docs/SPEC.md §7); check it with `deltachain verify`")
);
leaf!(
    /// A Merkle inclusion proof (docs/SPEC.md §7).
    InclusionProofObject => object("RFC 6962 inclusion proof: index, tree_size and the sibling path (docs/SPEC.md §7)")
);
leaf!(
    /// A transaction payload in JSON (docs/SPEC.md §3.5).
    PayloadObject => object("the payload in JSON: one key, the payload kind, holding its fields (docs/SPEC.md §3.5), or for enterprise data not shown to this reader `{kind: {enterprise, redacted}}`")
);
leaf!(
    /// A member record (docs/SPEC.md §3.5, member_add).
    MemberObject => object("member: name, public_key, roles, city and, for data providers, categories (docs/SPEC.md §3.5)")
);
leaf!(
    /// A consent object (docs/SPEC.md §3.5).
    ConsentObject => object("consent: chain_id, enterprise, grantee, scope, purpose, not_before, until, consent_id (docs/SPEC.md §3.5)")
);
leaf!(
    /// A correction or withdrawal of a record.
    CorrectionObject => object("correction: tx_hash, height, reason, withdraw")
);

/// Every error answer: `{"error": {"code", "message"}}`. The code is
/// stable and machine-readable; the message is for people.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The code and message of an error.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `invalid_uscc`, `consent_required`, `mempool_full`.
    pub code: String,
    /// What is wrong, naming the field or value.
    pub message: String,
}

impl ErrorBody {
    /// An error body.
    pub fn new(code: &str, message: &str) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message: message.to_string(),
            },
        }
    }
}

leaf!(
    /// One signed transaction as a submitter sends it.
    HexTx => ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("hex of the canonical encoding of a SignedTransaction (docs/SPEC.md §3.1), at most 4,096 bytes"))
        .pattern(Some("^([0-9a-fA-F]{2})+$"))
        .min_length(Some(2))
        .max_length(Some(2 * deltachain_protocol::MAX_TX_BYTES))
        .into()
);

/// The body of `POST /v1/txs` (parsed by [`super::parse_submit_body`]).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SubmitTx {
    /// The signed transaction.
    tx: HexTx,
}

/// The body of `POST /v1/txs/batch` (parsed by [`super::parse_batch_body`]).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SubmitBatch {
    /// The signed transactions, at most 10,000.
    #[schema(min_items = 1, max_items = 10_000)]
    txs: Vec<HexTx>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_documented_batch_limit_is_the_parsers() {
        let doc =
            serde_json::to_value(<super::SubmitBatch as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(
            doc["properties"]["txs"]["maxItems"],
            super::super::MAX_BATCH_TXS
        );
    }
}

/// On what ground a read was answered (the protocol's `AccessBasis` as
/// it writes itself). Schema only.
#[derive(ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum AccessBasisView {
    /// The requester is a regulator.
    regulator,
    /// The requester is the enterprise itself.
    enterprise,
    /// An active consent.
    consent {
        /// Its id.
        consent_id: String,
    },
    /// The requester read only the records it reported itself.
    own_records,
    /// No ground: the read was refused.
    none,
}

/// Whether a read was answered (the protocol's `AuditOutcome`). Schema only.
#[derive(ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum AuditOutcomeView {
    /// Answered.
    granted,
    /// Refused, with the API error code.
    refused {
        /// E.g. `consent_required`.
        code: String,
    },
}

/// What an objection is about (the protocol's `ObjectionTarget`). Schema
/// only.
#[derive(ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum ObjectionTargetView {
    /// A credit or public record, by the transaction that reported it.
    record(HexHash),
    /// A receivable or part, by its id.
    receivable(String),
}

/// A signed caller that may not read what it asked for.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 403,
    description = "signed, but not entitled: forbidden, consent_required, purpose_required, unknown_purpose or purpose_not_allowed; a refusal never says whether records exist"
)]
#[allow(dead_code)]
pub struct Forbidden(ErrorBody);

/// A past height outside the node's proof window.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 410,
    description = "state_pruned: the height is older than this node keeps"
)]
#[allow(dead_code)]
pub struct Pruned(ErrorBody);

/// A read of enterprise data this node cannot serve right now.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 503,
    description = "audit_unavailable (the read could not be recorded, so it is not answered), node_syncing or stale_state (this node is behind; read from another)"
)]
#[allow(dead_code)]
pub struct AuditUnavailable(ErrorBody);
