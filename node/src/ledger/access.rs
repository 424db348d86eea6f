//! Ledger rules for enterprise keys, consents and the query audit trail.
//!
//! Consents are judged by committed block time, like everything else, so
//! that every node gives the same answer to "may this bank read that
//! enterprise's records today?".

use deltachain_protocol::{
    AuditBatch, AuditEntry, ConsentRevoke, Date, EnterpriseKey, Hash, PublicKey, SignedConsent,
    SignedTransaction,
};
use serde::{Deserialize, Serialize};

use super::{keys, BlockContext, ConsentRecord, Member, Overlay, Rule, StateFault, StateRead};

/// An audit entry as the chain holds it: the entry, the node that served
/// the read, its sequence number there, and the block that recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The entry.
    pub entry: AuditEntry,
    /// The serving node's key.
    pub node: PublicKey,
    /// Sequence number at that node.
    pub seq: u64,
    /// Height of the block that recorded it.
    pub height: u64,
}

/// `enterprise_key`: binds or replaces an enterprise's key.
pub(super) fn enterprise_key<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    k: &EnterpriseKey,
) -> Result<Rule, StateFault> {
    if let Some(m) = o.get::<Member>(&keys::member(&k.public_key))? {
        return Ok(Err(format!(
            "key {} belongs to member {}; an enterprise needs a key of its own",
            k.public_key, m.name
        )));
    }
    if let Some(other) = o.get::<String>(&keys::enterprise_of(&k.public_key))? {
        return Ok(Err(if other == k.uscc {
            format!("key {} is already bound to {}", k.public_key, k.uscc)
        } else {
            format!(
                "key {} is already bound to enterprise {other}",
                k.public_key
            )
        }));
    }
    if let Some(old) = o.get::<PublicKey>(&keys::enterprise_key(&k.uscc))? {
        o.delete(keys::enterprise_of(&old));
    }
    o.put(keys::enterprise_key(&k.uscc), &k.public_key);
    o.put(keys::enterprise_of(&k.public_key), &k.uscc);
    Ok(Ok(None))
}

fn no_key(uscc: &str) -> String {
    format!("enterprise {uscc} has no key on chain; an enterprise_registrar must bind one with enterprise_key first")
}

/// `consent_grant`: records a consent the enterprise signed. Any member
/// may submit it, or the enterprise itself.
pub(super) fn consent_grant<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    stx: &SignedTransaction,
    hash: &Hash,
    c: &SignedConsent,
    member: Option<&Member>,
) -> Result<Rule, StateFault> {
    let consent = &c.consent;
    let Some(key) = o.get::<PublicKey>(&keys::enterprise_key(&consent.enterprise))? else {
        return Ok(Err(no_key(&consent.enterprise)));
    };
    if member.is_none() && stx.tx.sender != key {
        return Ok(Err(format!(
            "sender {} is neither a member nor enterprise {}",
            stx.tx.sender, consent.enterprise
        )));
    }
    if consent.chain_id != stx.tx.chain_id {
        return Ok(Err(format!(
            "the consent is for chain {:?}, not this one",
            deltachain_protocol::validate::truncate(&consent.chain_id)
        )));
    }
    if c.verify(&key).is_err() {
        return Ok(Err(format!(
            "the consent is not signed by the key bound to enterprise {}",
            consent.enterprise
        )));
    }
    if o.get::<Member>(&keys::member(&consent.grantee))?.is_none() {
        return Ok(Err(format!(
            "grantee {} is not a member of this chain",
            consent.grantee
        )));
    }
    let today = Date::from_unix_ms(ctx.time_ms);
    if consent.until < today {
        return Ok(Err(format!(
            "the consent ended on {}, before the block date {today}",
            consent.until
        )));
    }
    if let Some(existing) = o.get::<ConsentRecord>(&keys::consent(&consent.consent_id))? {
        return Ok(Err(format!(
            "consent id {} is already used (transaction {})",
            consent.consent_id, existing.tx_hash
        )));
    }
    o.put(
        keys::consent(&consent.consent_id),
        &ConsentRecord {
            signed: c.clone(),
            signer: key,
            tx_hash: *hash,
            height: ctx.height,
            revoked_height: None,
            revoked_tx: None,
        },
    );
    o.put(
        keys::consent_grant(&consent.enterprise, &consent.grantee, &consent.consent_id),
        &(),
    );
    Ok(Ok(None))
}

/// `consent_revoke`: ends a consent, on the enterprise's signature. Any
/// member may submit it, or the enterprise itself.
pub(super) fn consent_revoke<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    stx: &SignedTransaction,
    hash: &Hash,
    r: &ConsentRevoke,
    member: Option<&Member>,
) -> Result<Rule, StateFault> {
    let Some(mut record) = o.get::<ConsentRecord>(&keys::consent(&r.consent_id))? else {
        return Ok(Err(format!(
            "no consent with id {} is on chain",
            r.consent_id
        )));
    };
    let uscc = record.signed.consent.enterprise.clone();
    let Some(key) = o.get::<PublicKey>(&keys::enterprise_key(&uscc))? else {
        return Ok(Err(no_key(&uscc)));
    };
    if member.is_none() && stx.tx.sender != key {
        return Ok(Err(format!(
            "sender {} is neither a member nor enterprise {uscc}",
            stx.tx.sender
        )));
    }
    if r.verify(&stx.tx.chain_id, &key).is_err() {
        return Ok(Err(format!(
            "the revocation is not signed by the key bound to enterprise {uscc}"
        )));
    }
    if let Some(h) = record.revoked_height {
        return Ok(Err(format!(
            "consent {} was already revoked at height {h}",
            r.consent_id
        )));
    }
    record.revoked_height = Some(ctx.height);
    record.revoked_tx = Some(*hash);
    o.put(keys::consent(&r.consent_id), &record);
    Ok(Ok(None))
}

/// `audit_batch`: records reads a validator served. Numbers only grow:
/// entries below the next expected number (a batch resent after a crash)
/// are skipped, and a batch may start above it (a node numbers from a
/// clock-based floor after a restart).
pub(super) fn audit_batch<S: StateRead + ?Sized>(
    o: &mut Overlay<S>,
    ctx: BlockContext,
    stx: &SignedTransaction,
    _hash: &Hash,
    b: &AuditBatch,
) -> Result<Rule, StateFault> {
    let node = stx.tx.sender;
    if o.get_raw(&keys::validator(&node))?.is_none() {
        return Ok(Err(format!(
            "sender {node} is not a validator; only validators record audit entries"
        )));
    }
    let next: u64 = o.get(&keys::audit_next(&node))?.unwrap_or(0);
    let end = b.first_seq.saturating_add(b.entries.len() as u64);
    if end <= next {
        return Ok(Err(format!(
            "audit entries {}..{end} are already recorded",
            b.first_seq
        )));
    }
    let mut count: u64 = o.get(keys::AUDIT_COUNT)?.unwrap_or(0);
    let skip = next.saturating_sub(b.first_seq) as usize;
    for (i, entry) in b.entries.iter().enumerate().skip(skip) {
        o.put(keys::audit_by_enterprise(&entry.enterprise, count), &());
        o.put(keys::audit_by_requester(&entry.requester, count), &());
        o.put(
            keys::audit(count),
            &AuditRecord {
                entry: entry.clone(),
                node,
                seq: b.first_seq + i as u64,
                height: ctx.height,
            },
        );
        count += 1;
    }
    o.put(keys::AUDIT_COUNT.to_vec(), &count);
    o.put(keys::audit_next(&node), &end);
    Ok(Ok(None))
}
