//! JSON views the API returns: records with member names resolved, and
//! statuses spelled out, so a bank's engineer can read them without the
//! protocol docs.

use std::collections::BTreeMap;

use deltachain_protocol::{
    Block, BlockHeader, CommitCertificate, Date, Hash, Payload, PublicKey, Receipt,
    SignedTransaction,
};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

#[allow(unused_imports)] // named by `#[schema(value_type = ...)]`
use super::schema::{
    CertificateObject, CorrectionObject, DateStr, HeaderObject, HexHash, HexKey, HexSignature,
    PayloadObject, StateAnswerObject, TimeStr,
};

use crate::ledger::{IpEvent, IpRecord, Pledge};
use crate::storage::{CreditRecord, Store, StoreError};

/// A member shown by name and key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Party {
    /// Member name (or "unknown" for keys that are not members).
    pub name: String,
    /// Public key.
    #[schema(value_type = HexKey)]
    pub public_key: PublicKey,
}

/// Resolves keys to member names, caching within one request.
pub struct Names<'a> {
    store: &'a Store,
    cache: BTreeMap<PublicKey, String>,
}

impl<'a> Names<'a> {
    /// A resolver over the committed member registry (and genesis validators).
    pub fn new(store: &'a Store, genesis: &deltachain_protocol::Genesis) -> Self {
        let cache = genesis
            .validators
            .iter()
            .map(|v| (v.public_key, format!("validator {}", v.name)))
            .collect();
        Names { store, cache }
    }

    /// The party for a key.
    pub fn party(&mut self, key: &PublicKey) -> Result<Party, StoreError> {
        if let Some(n) = self.cache.get(key) {
            return Ok(Party {
                name: n.clone(),
                public_key: *key,
            });
        }
        let name = match self.store.member(key)? {
            Some(m) => m.name,
            None => match self.store.enterprise_of(key)? {
                Some(uscc) => format!("enterprise {uscc}"),
                None => format!("former or unknown member {}", &key.to_hex()[..8]),
            },
        };
        self.cache.insert(*key, name.clone());
        Ok(Party {
            name,
            public_key: *key,
        })
    }
}

/// Whether a record stands, was corrected, or was withdrawn.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// As reported.
    Active,
    /// Annotated by its reporter (see `corrections`).
    Corrected,
    /// Withdrawn by its reporter.
    Withdrawn,
}

impl RecordStatus {
    /// The status of a record with these corrections.
    pub fn of(withdrawn: bool, corrections: usize) -> Self {
        if withdrawn {
            RecordStatus::Withdrawn
        } else if corrections == 0 {
            RecordStatus::Active
        } else {
            RecordStatus::Corrected
        }
    }
}

/// A credit record with its reporter, corrections and dispute mark.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditView {
    /// Position in the enterprise's list of credit records, from 0.
    pub seq: u64,
    /// The transaction that carried it.
    #[schema(value_type = HexHash)]
    pub tx_hash: Hash,
    /// The bank that reported it.
    pub reporter: Party,
    /// Height it was committed at.
    pub height: u64,
    /// Block time it was committed at.
    #[schema(value_type = TimeStr)]
    pub reported_at: String,
    /// loan, repayment, overdue, default, guarantee or rating.
    #[schema(value_type = String)]
    pub kind: deltachain_protocol::CreditKind,
    /// Contract or loan id at the reporting bank.
    pub reference: String,
    /// Amount in fen (absent for ratings).
    pub amount_fen: Option<u64>,
    /// ISO 4217 currency code.
    pub currency: String,
    /// When it happened.
    #[schema(value_type = DateStr)]
    pub date: Date,
    /// Rating grade, for ratings.
    pub rating: Option<String>,
    /// Free text.
    pub note: Option<String>,
    /// Active, corrected or withdrawn.
    pub status: RecordStatus,
    /// Corrections and withdrawal, oldest first.
    #[schema(value_type = Vec<CorrectionObject>)]
    pub corrections: Vec<crate::ledger::Correction>,
    /// True while an objection to it is open.
    pub disputed: bool,
    /// The open objection, if any.
    #[schema(value_type = Option<HexHash>)]
    pub objection: Option<Hash>,
}

/// A credit record with its reporter and corrections.
pub fn credit(
    names: &mut Names,
    e: &CreditRecord,
    objection: Option<Hash>,
) -> Result<CreditView, StoreError> {
    Ok(CreditView {
        seq: e.seq,
        tx_hash: e.tx_hash,
        reporter: names.party(&e.reporter)?,
        height: e.height,
        reported_at: deltachain_protocol::time::format_unix_ms(e.time_ms),
        kind: e.record.kind,
        reference: e.record.reference.clone(),
        amount_fen: e.record.amount_fen,
        currency: e.record.currency.clone(),
        date: e.record.date,
        rating: e.record.rating.clone(),
        note: e.record.note.clone(),
        status: RecordStatus::of(e.withdrawn(), e.corrections.len()),
        corrections: e.corrections.clone(),
        disputed: objection.is_some(),
        objection,
    })
}

/// A pledge of an IP right, with the pledgee bank by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct PledgeView {
    /// The pledgee bank's name.
    pub pledgee: String,
    /// The pledgee bank's key.
    #[schema(value_type = HexKey)]
    pub pledgee_key: PublicKey,
    /// Secured amount in fen.
    pub amount_fen: u64,
    /// Pledge contract reference.
    pub contract: String,
    /// Last day of the pledge.
    #[schema(value_type = DateStr)]
    pub until: Date,
    /// The transaction that registered it.
    #[schema(value_type = HexHash)]
    pub tx_hash: Hash,
}

fn pledge(names: &mut Names, p: &Pledge) -> Result<PledgeView, StoreError> {
    let party = names.party(&p.pledgee)?;
    Ok(PledgeView {
        pledgee: party.name,
        pledgee_key: party.public_key,
        amount_fen: p.amount_fen,
        contract: p.contract.clone(),
        until: p.until,
        tx_hash: p.tx_hash,
    })
}

/// An IP right: owner, active pledge and, on its own route, its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct IpView {
    /// Patent number or registration id.
    pub ip_id: String,
    /// patent, trademark, copyright or software_copyright.
    #[schema(value_type = String)]
    pub kind: deltachain_protocol::IpKind,
    /// Title of the right.
    pub title: String,
    /// The owner's USCC.
    pub owner: String,
    /// Registration date.
    #[schema(value_type = DateStr)]
    pub registered_on: Date,
    /// The IP office that registered it.
    pub registrar: Party,
    /// The pledge in force, or null: "no active pledge".
    pub active_pledge: Option<PledgeView>,
    /// A pledge past its end date that was never released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_pledge: Option<PledgeView>,
    /// Every event on the right, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<EventView>>,
    /// The height it is of, and with proof=true the proof.
    #[serde(flatten)]
    pub at: AsOf,
}

/// What a record's view says about the height it answers for.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct AsOf {
    /// With proof=true: true (an absent record has its own answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered: Option<bool>,
    /// The height this view is of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of_height: Option<u64>,
    /// With proof=true: the proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<StateAnswerObject>)]
    pub proof: Option<deltachain_protocol::state::StateAnswer>,
}

impl AsOf {
    /// The latest height, without a proof.
    pub fn tip(height: u64) -> Self {
        AsOf {
            registered: None,
            as_of_height: Some(height),
            proof: None,
        }
    }

    /// A present record at the proof's height.
    pub fn proven(answer: deltachain_protocol::state::StateAnswer) -> Self {
        AsOf {
            registered: Some(true),
            as_of_height: Some(answer.height),
            proof: Some(answer),
        }
    }
}

/// An IP right with its active pledge and (optionally) history.
pub fn ip(
    names: &mut Names,
    ip: &IpRecord,
    today: Date,
    history: Option<&[IpEvent]>,
) -> Result<IpView, StoreError> {
    let active_pledge = match ip.active_pledge(today) {
        Some(p) => Some(pledge(names, p)?),
        None => None,
    };
    let expired_pledge = match ip.pledge.as_ref().filter(|p| p.until < today) {
        Some(p) => Some(pledge(names, p)?),
        None => None,
    };
    let history = match history {
        Some(h) => Some(events(
            names,
            h.iter()
                .map(|e| (e.height, e.time_ms, &e.tx_hash, &e.sender, &e.event)),
        )?),
        None => None,
    };
    Ok(IpView {
        ip_id: ip.ip_id.clone(),
        kind: ip.kind,
        title: ip.title.clone(),
        owner: ip.owner.clone(),
        registered_on: ip.registered_on,
        registrar: names.party(&ip.registrar)?,
        active_pledge,
        expired_pledge,
        history,
        at: AsOf::default(),
    })
}

/// One event in a record's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Height it was committed at.
    pub height: u64,
    /// Block time.
    #[schema(value_type = TimeStr)]
    pub time: String,
    /// The transaction.
    #[schema(value_type = HexHash)]
    pub tx_hash: Hash,
    /// Who sent it.
    pub sender: Party,
    /// What happened: one key, the event's kind, holding its fields.
    pub event: Value,
}

/// A record's history: one entry per event, with the sender's name.
pub fn events<'e, E: Serialize + 'e>(
    names: &mut Names,
    list: impl Iterator<Item = (u64, u64, &'e Hash, &'e PublicKey, &'e E)>,
) -> Result<Vec<EventView>, StoreError> {
    let mut out = Vec::new();
    for (height, time_ms, tx_hash, sender, event) in list {
        out.push(EventView {
            height,
            time: deltachain_protocol::time::format_unix_ms(time_ms),
            tx_hash: *tx_hash,
            sender: names.party(sender)?,
            event: serde_json::to_value(event).unwrap_or(Value::Null),
        });
    }
    Ok(out)
}

/// The enterprise whose data a payload carries, if it carries any: a
/// credit record or a consent. Such content is shown in full to the
/// transaction's sender, and to a regulator reading that one transaction
/// (with an audit entry); in whole blocks and to anyone else it is reduced
/// to its kind and the enterprise's code, and read through the enterprise
/// routes, which check consent and leave an audit entry.
pub fn enterprise_data(p: &Payload) -> Option<&str> {
    match p {
        Payload::Credit(c) => Some(&c.enterprise),
        Payload::ConsentGrant(c) => Some(&c.consent.enterprise),
        Payload::PublicRecord(r) => Some(&r.enterprise),
        Payload::ReceivableRegister(r) => Some(&r.terms.creditor),
        _ => None,
    }
}

/// A transaction with its sender by name and its payload in JSON.
#[derive(Debug, Serialize, ToSchema)]
pub struct TxView {
    /// Its hash.
    #[schema(value_type = HexHash)]
    pub tx_hash: Hash,
    /// Who signed it.
    pub sender: Party,
    /// The sender's nonce.
    pub nonce: u64,
    /// The chain it was signed for.
    pub chain_id: String,
    /// The payload kind, e.g. `credit`, `ip_pledge`.
    pub kind: String,
    /// The payload.
    #[schema(value_type = PayloadObject)]
    pub payload: Value,
    /// The sender's signature; null when the payload is withheld.
    #[schema(value_type = Option<HexSignature>)]
    pub signature: Option<deltachain_protocol::Signature>,
}

/// A transaction with its hash, sender name and decoded payload. Unless
/// `full`, a payload carrying enterprise data is replaced by its kind and
/// where to read it.
pub fn tx(
    names: &mut Names,
    t: &SignedTransaction,
    hash: &Hash,
    full: bool,
) -> Result<TxView, StoreError> {
    let kind = t.tx.payload.kind_name();
    let (payload, signature) = match enterprise_data(&t.tx.payload) {
        Some(uscc) if !full => {
            let inner = json!({
                "enterprise": uscc,
                "redacted": "enterprise data is shown to its reporter, to a regulator reading this transaction (recorded in the enterprise's query log), and through /v1/enterprises/{uscc}, which checks consent and records the read"
            });
            (json!({ kind: inner }), None)
        }
        _ => (
            serde_json::to_value(&t.tx.payload).unwrap_or(Value::Null),
            Some(t.signature),
        ),
    };
    Ok(TxView {
        tx_hash: *hash,
        sender: names.party(&t.tx.sender)?,
        nonce: t.tx.nonce,
        chain_id: t.tx.chain_id.clone(),
        kind: kind.to_string(),
        payload,
        signature,
    })
}

/// A header with its hash and readable time.
pub fn header(h: &BlockHeader) -> Value {
    let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
    v["time"] = json!(deltachain_protocol::time::format_unix_ms(h.time_ms));
    v
}

/// What the ledger did with a transaction. Schema only: the handlers
/// serialise the protocol's own `Outcome`, which writes these names.
#[derive(ToSchema)]
#[allow(non_camel_case_types, dead_code)]
pub enum OutcomeView {
    /// The ledger applied it.
    applied,
    /// A business rule refused it; the receipt's reason says which.
    rejected,
}

/// A receipt: what became of one transaction. Schema only: the handlers
/// serialise the protocol's own `Receipt`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReceiptView {
    /// The transaction.
    tx_hash: HexHash,
    /// Applied or rejected.
    outcome: OutcomeView,
    /// Why it was rejected, in words a clerk can act on.
    reason: Option<String>,
}

/// A block: whole for regulators and validator operators.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlockView {
    /// Its height.
    pub height: u64,
    /// Its hash.
    #[schema(value_type = HexHash)]
    pub hash: Hash,
    /// Its header.
    #[schema(value_type = HeaderObject)]
    pub header: Value,
    /// Its transactions (enterprise data shown to its sender only).
    pub txs: Vec<TxView>,
    /// One receipt per transaction, in order.
    #[schema(value_type = Vec<ReceiptView>)]
    pub receipts: Vec<Receipt>,
    /// The certificate of the previous block that this block carries.
    #[schema(value_type = Option<CertificateObject>)]
    pub last_commit: Option<CommitCertificate>,
    /// This block's own commit certificate.
    #[schema(value_type = Option<CertificateObject>)]
    pub commit: Option<CommitCertificate>,
}

/// A block for readers who may not see its transactions: its header and
/// certificate only.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlockHeaderView {
    /// Its height.
    pub height: u64,
    /// Its hash.
    #[schema(value_type = HexHash)]
    pub hash: Hash,
    /// Its header.
    #[schema(value_type = HeaderObject)]
    pub header: Value,
    /// Its commit certificate.
    #[schema(value_type = Option<CertificateObject>)]
    pub commit: Option<CommitCertificate>,
    /// Why the transactions are not shown.
    pub redacted: String,
}

/// A block as one reader may see it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BlockAnswer {
    /// For regulators and validator operators.
    Whole(BlockView),
    /// For everyone else.
    Redacted(BlockHeaderView),
}

/// A block with transactions and receipts.
pub fn block(
    names: &mut Names,
    b: &Block,
    receipts: &[Receipt],
    cert: Option<&CommitCertificate>,
    reader: Option<&PublicKey>,
) -> Result<BlockView, StoreError> {
    let mut txs = Vec::with_capacity(b.txs.len());
    for t in b.txs.iter() {
        txs.push(tx(names, t, &t.hash(), reader == Some(&t.tx.sender))?);
    }
    Ok(BlockView {
        height: b.header.height,
        hash: b.hash(),
        header: header(&b.header),
        txs,
        receipts: receipts.to_vec(),
        last_commit: b.last_commit.clone(),
        commit: cert.cloned(),
    })
}
