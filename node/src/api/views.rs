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

use crate::ledger::{IpEvent, IpRecord, Pledge};
use crate::storage::{CreditRecord, Store, StoreError};

/// A member shown by name and key.
#[derive(Debug, Clone, Serialize)]
pub struct Party {
    /// Member name (or "unknown" for keys that are not members).
    pub name: String,
    /// Public key.
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

/// A credit record with its reporter and corrections.
pub fn credit(names: &mut Names, e: &CreditRecord) -> Result<Value, StoreError> {
    let status = if e.withdrawn() {
        "withdrawn"
    } else if e.corrections.is_empty() {
        "active"
    } else {
        "corrected"
    };
    Ok(json!({
        "seq": e.seq,
        "tx_hash": e.tx_hash,
        "reporter": names.party(&e.reporter)?,
        "height": e.height,
        "reported_at": deltachain_protocol::time::format_unix_ms(e.time_ms),
        "kind": e.record.kind,
        "reference": e.record.reference,
        "amount_fen": e.record.amount_fen,
        "currency": e.record.currency,
        "date": e.record.date,
        "rating": e.record.rating,
        "note": e.record.note,
        "status": status,
        "corrections": e.corrections,
    }))
}

fn pledge(names: &mut Names, p: &Pledge) -> Result<Value, StoreError> {
    let party = names.party(&p.pledgee)?;
    Ok(json!({
        "pledgee": party.name,
        "pledgee_key": party.public_key,
        "amount_fen": p.amount_fen,
        "contract": p.contract,
        "until": p.until,
        "tx_hash": p.tx_hash,
    }))
}

/// An IP right with its active pledge and (optionally) history.
pub fn ip(
    names: &mut Names,
    ip: &IpRecord,
    today: Date,
    history: Option<&[IpEvent]>,
) -> Result<Value, StoreError> {
    let active = match ip.active_pledge(today) {
        Some(p) => pledge(names, p)?,
        None => Value::Null,
    };
    let mut v = json!({
        "ip_id": ip.ip_id,
        "kind": ip.kind,
        "title": ip.title,
        "owner": ip.owner,
        "registered_on": ip.registered_on,
        "registrar": names.party(&ip.registrar)?,
        "active_pledge": active,
    });
    if let Some(expired) = ip.pledge.as_ref().filter(|p| p.until < today) {
        v["expired_pledge"] = pledge(names, expired)?;
    }
    if let Some(h) = history {
        v["history"] = events(
            names,
            h.iter()
                .map(|e| (e.height, e.time_ms, &e.tx_hash, &e.sender, &e.event)),
        )?;
    }
    Ok(v)
}

/// A record's history: one entry per event, with the sender's name.
pub fn events<'e, E: Serialize + 'e>(
    names: &mut Names,
    list: impl Iterator<Item = (u64, u64, &'e Hash, &'e PublicKey, &'e E)>,
) -> Result<Value, StoreError> {
    let mut out = Vec::new();
    for (height, time_ms, tx_hash, sender, event) in list {
        out.push(json!({
            "height": height,
            "time": deltachain_protocol::time::format_unix_ms(time_ms),
            "tx_hash": tx_hash,
            "sender": names.party(sender)?,
            "event": event,
        }));
    }
    Ok(Value::Array(out))
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

/// A transaction with its hash, sender name and decoded payload. Unless
/// `full`, a payload carrying enterprise data is replaced by its kind and
/// where to read it.
pub fn tx(
    names: &mut Names,
    t: &SignedTransaction,
    hash: &Hash,
    full: bool,
) -> Result<Value, StoreError> {
    let kind = t.tx.payload.kind_name();
    let (payload, signature) = match enterprise_data(&t.tx.payload) {
        Some(uscc) if !full => {
            let inner = json!({
                "enterprise": uscc,
                "redacted": "enterprise data is shown to its reporter, to a regulator reading this transaction (recorded in the enterprise's query log), and through /v1/enterprises/{uscc}, which checks consent and records the read"
            });
            (json!({ kind: inner }), Value::Null)
        }
        _ => (
            serde_json::to_value(&t.tx.payload).unwrap_or(Value::Null),
            json!(t.signature),
        ),
    };
    Ok(json!({
        "tx_hash": hash,
        "sender": names.party(&t.tx.sender)?,
        "nonce": t.tx.nonce,
        "chain_id": t.tx.chain_id,
        "kind": kind,
        "payload": payload,
        "signature": signature,
    }))
}

/// A header with its hash and readable time.
pub fn header(h: &BlockHeader) -> Value {
    let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
    v["time"] = json!(deltachain_protocol::time::format_unix_ms(h.time_ms));
    v
}

/// A block with transactions and receipts.
pub fn block(
    names: &mut Names,
    b: &Block,
    receipts: &[Receipt],
    cert: Option<&CommitCertificate>,
    reader: Option<&PublicKey>,
) -> Result<Value, StoreError> {
    let mut txs = Vec::with_capacity(b.txs.len());
    for t in b.txs.iter() {
        txs.push(tx(names, t, &t.hash(), reader == Some(&t.tx.sender))?);
    }
    Ok(json!({
        "height": b.header.height,
        "hash": b.hash(),
        "header": header(&b.header),
        "txs": txs,
        "receipts": receipts,
        "last_commit": b.last_commit,
        "commit": cert,
    }))
}
