//! What the core routes answer with. The handlers in `mod.rs` build these
//! and serialise them; `/v1/openapi.json` is derived from the same types,
//! so a field added to an answer is in the document by construction.

use deltachain_protocol::merkle::InclusionProof;
use deltachain_protocol::state::{ConsentRecord, Member, StateAnswer};
use deltachain_protocol::{
    AccessBasis, AuditOutcome, AuditRoute, BlockHeader, CommitCertificate, Date, Hash, PublicKey,
    Purpose, Receipt, Signature,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::registry::PublicRecordView;
#[allow(unused_imports)] // named by `#[schema(value_type = ...)]`
use super::schema::{
    AccessBasisView, AuditOutcomeView, CertificateObject, ConsentObject, DateStr, HeaderObject,
    HexHash, HexKey, HexSignature, InclusionProofObject, MemberObject, StateAnswerObject, TimeStr,
};
#[allow(unused_imports)]
use super::views::{CreditView, IpView, OutcomeView, ReceiptView, TxView};
use super::ErrorBody;

/// Pending in the mempool, or committed in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// Admitted, not yet in a block.
    Pending,
    /// In a committed block (see its receipt for the outcome).
    Committed,
}

/// The answer to a submission: the hash to follow, and what the node
/// knows of it already.
#[derive(Debug, Serialize, ToSchema)]
pub struct Submitted {
    /// The transaction's hash: follow it with `GET /v1/txs/{hash}`.
    #[schema(value_type = HexHash)]
    pub tx_hash: Hash,
    /// Pending or committed (absent in a batch result for a newly
    /// admitted transaction, which is pending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TxState>,
    /// For a resubmission of a committed transaction: its height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// For a resubmission of a committed transaction: its outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<OutcomeView>)]
    pub outcome: Option<deltachain_protocol::Outcome>,
}

impl Submitted {
    /// A transaction now pending.
    pub fn pending(tx_hash: Hash) -> Self {
        Submitted {
            tx_hash,
            status: Some(TxState::Pending),
            height: None,
            outcome: None,
        }
    }
}

/// One result of a batch: admitted (or already known), or why not.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchItem {
    /// Admitted, or already pending or committed.
    Admitted(Submitted),
    /// Refused.
    Refused(ErrorBody),
}

/// The answer to a batch: one result per transaction, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchAnswer {
    /// How many were newly admitted.
    pub accepted: usize,
    /// One per transaction sent, in order.
    pub results: Vec<BatchItem>,
}

/// A transaction, pending or committed with its receipt.
#[derive(Debug, Serialize, ToSchema)]
pub struct TxAnswer {
    /// Its hash.
    #[schema(value_type = HexHash)]
    pub tx_hash: Hash,
    /// Pending or committed.
    pub status: TxState,
    /// Height of its block, when committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// Position in its block, when committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Hash of its block, when committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<HexHash>)]
    pub block_hash: Option<Hash>,
    /// Its receipt, when committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ReceiptView>)]
    pub receipt: Option<Receipt>,
    /// The transaction.
    pub tx: TxView,
}

/// Everything needed to check, without trusting the node, that a
/// transaction and its receipt were committed (`deltachain verify HASH`).
#[derive(Debug, Serialize, ToSchema)]
pub struct TxProofAnswer {
    /// The transaction's hash.
    #[schema(value_type = HexHash)]
    pub tx_hash: Hash,
    /// Height of its block.
    pub height: u64,
    /// Position in its block.
    pub index: u32,
    /// Hex of its canonical bytes; null when it carries enterprise data
    /// this reader may not see (the proof still proves the hash).
    pub tx: Option<String>,
    /// Its receipt.
    #[schema(value_type = ReceiptView)]
    pub receipt: Receipt,
    /// Inclusion of the transaction hash under the header's tx_root.
    #[schema(value_type = InclusionProofObject)]
    pub tx_proof: InclusionProof,
    /// Inclusion of the receipt hash under the header's results_root.
    #[schema(value_type = InclusionProofObject)]
    pub receipt_proof: InclusionProof,
    /// The block header.
    #[schema(value_type = HeaderObject)]
    pub header: BlockHeader,
    /// The block's hash.
    #[schema(value_type = HexHash)]
    pub block_hash: Hash,
    /// The block's commit certificate.
    #[schema(value_type = CertificateObject)]
    pub certificate: CommitCertificate,
}

/// An enterprise's records: credit records (a page, newest first), public
/// records and the IP it owns.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnterpriseView {
    /// The enterprise's USCC.
    pub uscc: String,
    /// The height this view is of.
    pub as_of_height: u64,
    /// Credit records in all (or, with own=true, the caller's).
    pub total_credit_records: u64,
    /// Records skipped.
    pub offset: usize,
    /// This page of credit records.
    pub credit_records: Vec<CreditView>,
    /// Public-credit records in all.
    pub total_public_records: u64,
    /// Public-credit records (tax, social insurance, courts, ...).
    pub public_records: Vec<PublicRecordView>,
    /// IP rights the enterprise owns, with pledges.
    pub ip: Vec<IpView>,
    /// With own=true: only the records the caller reported are shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_reported_by_you: Option<bool>,
}

/// All of an enterprise's credit records at a height, with the proof of
/// the commitment they must recompute to.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvenEnterprise {
    /// The enterprise's USCC.
    pub uscc: String,
    /// The height the proof is of.
    pub as_of_height: u64,
    /// How many records there are.
    pub total_credit_records: usize,
    /// Every record, in order, as committed, with `reporter_name` added.
    #[schema(value_type = Vec<Object>)]
    pub credit_records: Vec<Value>,
    /// The proof.
    #[schema(value_type = StateAnswerObject)]
    pub proof: StateAnswer,
}

/// An enterprise read: a page of records, or with proof=true all of them
/// with a proof.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EnterpriseAnswer {
    /// Without proof.
    Records(Box<EnterpriseView>),
    /// With proof=true.
    Proven(Box<ProvenEnterprise>),
}

/// One read of enterprise data, as recorded on chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    /// When it was served.
    #[schema(value_type = TimeStr)]
    pub time: String,
    /// Who read.
    #[schema(value_type = HexKey)]
    pub requester: PublicKey,
    /// The requester's name.
    pub requester_name: String,
    /// Whose data.
    pub enterprise: String,
    /// enterprise_records, own_records, query_log, transaction,
    /// receivables or report.
    #[schema(value_type = String)]
    pub route: AuditRoute,
    /// The purpose the requester signed.
    #[schema(value_type = Option<String>)]
    pub purpose: Option<Purpose>,
    /// On what ground it was granted: a consent, the role, or none.
    #[schema(value_type = AccessBasisView)]
    pub basis: AccessBasis,
    /// Granted, or refused with the code.
    #[schema(value_type = AuditOutcomeView)]
    pub outcome: AuditOutcome,
    /// SHA-256 of the answer's bytes.
    #[schema(value_type = HexHash)]
    pub response_hash: Hash,
    /// The node that served it.
    #[schema(value_type = HexKey)]
    pub serving_node: PublicKey,
    /// That node's name.
    pub serving_node_name: String,
    /// Height at which the record reached the chain.
    pub height: u64,
}

/// An enterprise's query log.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryLog {
    /// The enterprise.
    pub uscc: String,
    /// The height this view is of.
    pub as_of_height: u64,
    /// Entries skipped.
    pub offset: usize,
    /// Most recent first.
    pub queries: Vec<AuditView>,
    /// A note on reads not yet shipped to the chain.
    pub not_yet_on_chain: String,
}

/// The reads one requester made.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueriesBy {
    /// The requester.
    #[schema(value_type = HexKey)]
    pub requester: PublicKey,
    /// Entries skipped.
    pub offset: usize,
    /// Most recent first.
    pub queries: Vec<AuditView>,
}

/// One consent in an enterprise's list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentEntry {
    /// The consent.
    #[schema(value_type = ConsentObject)]
    pub consent: deltachain_protocol::Consent,
    /// The enterprise key that signed it.
    #[schema(value_type = HexKey)]
    pub signer: PublicKey,
    /// Height it was granted at.
    pub height: u64,
    /// Height it was revoked at, if it was.
    pub revoked_height: Option<u64>,
    /// In force now.
    pub active: bool,
}

/// Every consent an enterprise gave.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentList {
    /// The enterprise.
    pub uscc: String,
    /// The day (of the latest block) `active` is judged on.
    #[schema(value_type = DateStr)]
    pub as_of: Date,
    /// Its consents.
    pub consents: Vec<ConsentEntry>,
}

/// A consent and whether it is in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    /// The consent.
    #[schema(value_type = ConsentObject)]
    pub consent: deltachain_protocol::Consent,
    /// The enterprise's signature over it.
    #[schema(value_type = HexSignature)]
    pub signature: Signature,
    /// The enterprise key that signed it.
    #[schema(value_type = HexKey)]
    pub signer: PublicKey,
    /// The transaction that granted it.
    #[schema(value_type = HexHash)]
    pub tx_hash: Hash,
    /// Height it was granted at.
    pub height: u64,
    /// Height it was revoked at, if it was.
    pub revoked_height: Option<u64>,
    /// The transaction that revoked it, if any.
    #[schema(value_type = Option<HexHash>)]
    pub revoked_tx: Option<Hash>,
    /// In force now.
    pub active: bool,
    /// The day (of the latest block) `active` is judged on.
    #[schema(value_type = DateStr)]
    pub as_of: Date,
}

/// A consent as of a height, with its proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvenConsent {
    /// The consent's id.
    pub consent_id: String,
    /// The height the proof is of.
    pub as_of_height: u64,
    /// The consent record at that height (null: none).
    #[schema(value_type = Option<Object>)]
    pub record: Option<ConsentRecord>,
    /// The proof.
    #[schema(value_type = StateAnswerObject)]
    pub proof: StateAnswer,
}

/// A consent read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ConsentAnswer {
    /// Without proof.
    Current(Box<ConsentView>),
    /// With proof=true.
    Proven(Box<ProvenConsent>),
}

/// An IP right that was not registered at the height asked about.
#[derive(Debug, Serialize, ToSchema)]
// Closed, so that a present record does not also match this schema.
#[serde(deny_unknown_fields)]
pub struct IpAbsent {
    /// The id asked about.
    pub ip_id: String,
    /// Always false.
    pub registered: bool,
    /// The height the proof is of.
    pub as_of_height: u64,
    /// The proof of absence.
    #[schema(value_type = StateAnswerObject)]
    pub proof: StateAnswer,
}

/// An IP read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum IpAnswer {
    /// The right.
    Right(Box<IpView>),
    /// With proof=true: not registered at that height.
    Absent(Box<IpAbsent>),
}

/// The node and the chain as this node sees them.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    /// The chain.
    pub chain_id: String,
    /// Hash of its genesis.
    #[schema(value_type = HexHash)]
    pub genesis_hash: Hash,
    /// This node's name.
    pub node: String,
    /// This node's key.
    #[schema(value_type = HexKey)]
    pub node_key: PublicKey,
    /// Latest committed height.
    pub height: u64,
    /// Its block's hash.
    #[schema(value_type = HexHash)]
    pub latest_block_hash: Hash,
    /// Its block's time.
    #[schema(value_type = TimeStr)]
    pub latest_block_time: String,
    /// Consensus round at the next height.
    pub round: u32,
    /// Consensus step.
    pub step: String,
    /// Connected peers.
    pub peers: usize,
    /// True while catching up.
    pub syncing: bool,
    /// Transactions waiting.
    pub mempool_txs: usize,
    /// True when this node is a validator.
    pub validator: bool,
}

/// A validator.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidatorView {
    /// Its position in the set.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// Its city.
    pub city: String,
    /// Its consensus key.
    #[schema(value_type = HexKey)]
    pub public_key: PublicKey,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its peer-to-peer address.
    pub p2p_addr: String,
}

/// The validator set.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidatorsView {
    /// In order.
    pub validators: Vec<ValidatorView>,
    /// Votes needed to commit.
    pub quorum: usize,
}

/// Current members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembersView {
    /// Members with their roles.
    #[schema(value_type = Vec<MemberObject>)]
    pub members: Vec<Member>,
}

/// One member, or with proof=true a member (or its absence) at a height.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberAnswer {
    /// The key asked about.
    #[schema(value_type = HexKey)]
    pub public_key: PublicKey,
    /// The member (null with a proof of absence).
    #[schema(value_type = Option<MemberObject>)]
    pub member: Option<Member>,
    /// The height this view is of.
    pub as_of_height: u64,
    /// With proof=true: the proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<StateAnswerObject>)]
    pub proof: Option<StateAnswer>,
}

/// A key's membership and nonces.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// The key.
    #[schema(value_type = HexKey)]
    pub public_key: PublicKey,
    /// Its member record, if it is a member.
    #[schema(value_type = Option<MemberObject>)]
    pub member: Option<Member>,
    /// The enterprise it is bound to, if it is an enterprise key.
    pub enterprise: Option<String>,
    /// Highest committed nonce.
    pub committed_nonce: u64,
    /// The nonce to sign the next transaction with.
    pub next_nonce: u64,
}

/// A committed block, as a server-sent `block` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlockEvent {
    /// Its height.
    pub height: u64,
    /// Its hash.
    #[schema(value_type = HexHash)]
    pub hash: Hash,
    /// Its time, ms since the Unix epoch.
    pub time_ms: u64,
    /// Transactions in it.
    pub tx_count: usize,
    /// Receipts this subscriber may see: its own, or all for regulators
    /// and validator operators.
    #[schema(value_type = Vec<ReceiptView>)]
    pub receipts: Vec<Receipt>,
}
