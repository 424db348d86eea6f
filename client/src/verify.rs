//! Checking a node's answer without trusting the node.
//!
//! A [`TxProof`] is trusted when: the transaction bytes hash to the claimed
//! hash; the Merkle path leads from that hash to the header's `tx_root` and
//! from the receipt's hash to `results_root`; the header belongs to the
//! genesis' chain and validator set and hashes to the certified block hash;
//! and the commit certificate carries valid precommit signatures from a
//! quorum (⌊2n/3⌋+1) of the validators listed in genesis.
//!
//! A [`StateAnswer`] (`?proof=true`) is trusted when its header is
//! certified the same way and each key's Merkle proof leads to the header's
//! `state_root`; the keys are computed here from what was asked, never
//! taken from the node.

use deltachain_protocol::state::{
    self, CreditCommitment, IpRecord, Member, ProvenCredit, StateAnswer,
};
use deltachain_protocol::{crypto, Genesis, Hash, PublicKey};

use crate::TxProof;

/// Why a proof was not trusted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The proof is for another transaction.
    #[error("the proof is for transaction {got}, not {expected}")]
    WrongTx {
        /// Asked for.
        expected: Hash,
        /// Proven.
        got: Hash,
    },
    /// A part of the proof fails.
    #[error("{0}")]
    Failed(String),
}

/// What a verified proof establishes.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Height of the block.
    pub height: u64,
    /// Block hash.
    pub block_hash: Hash,
    /// Validators whose signatures certify it.
    pub signers: usize,
    /// Validators in genesis.
    pub validators: usize,
}

/// Verifies `proof` for `expected` against `genesis`.
pub fn verify_proof(
    proof: &TxProof,
    expected: &Hash,
    genesis: &Genesis,
) -> Result<Verified, VerifyError> {
    let fail = |m: String| Err(VerifyError::Failed(m));
    if proof.tx_hash != *expected {
        return Err(VerifyError::WrongTx {
            expected: *expected,
            got: proof.tx_hash,
        });
    }
    if let Some(tx) = &proof.tx {
        let bytes = hex::decode(tx)
            .map_err(|e| VerifyError::Failed(format!("transaction bytes are not hex: {e}")))?;
        if crypto::sha256(&bytes) != *expected {
            return fail("the transaction bytes do not hash to the transaction hash".into());
        }
    }
    if proof.receipt.tx_hash != *expected {
        return fail("the receipt belongs to another transaction".into());
    }
    let h = &proof.header;
    if h.chain_id != genesis.chain_id {
        return fail(format!(
            "the block is from chain {:?}, the genesis is for {:?}",
            h.chain_id, genesis.chain_id
        ));
    }
    if h.validators_hash != genesis.validators_hash() {
        return fail("the block was made by another validator set than the genesis lists".into());
    }
    if h.height != proof.height || proof.certificate.height != proof.height {
        return fail("heights in the proof disagree".into());
    }
    if h.hash() != proof.block_hash {
        return fail("the header does not hash to the certified block hash".into());
    }
    if proof.tx_proof.index != proof.index as u64 || proof.receipt_proof.index != proof.index as u64
    {
        return fail("the proofs are for another position in the block".into());
    }
    proof
        .tx_proof
        .verify(expected, &h.tx_root)
        .map_err(|e| VerifyError::Failed(format!("transaction inclusion: {e}")))?;
    proof
        .receipt_proof
        .verify(&proof.receipt.hash(), &h.results_root)
        .map_err(|e| VerifyError::Failed(format!("receipt inclusion: {e}")))?;
    let keys = genesis.validator_keys();
    proof
        .certificate
        .verify(&genesis.chain_id, proof.height, &proof.block_hash, &keys)
        .map_err(|e| VerifyError::Failed(format!("commit certificate: {e}")))?;
    Ok(Verified {
        height: proof.height,
        block_hash: proof.block_hash,
        signers: proof.certificate.signatures.len(),
        validators: keys.len(),
    })
}

/// What a verified state answer establishes.
#[derive(Debug, Clone)]
pub struct VerifiedState {
    /// The height the answer is about.
    pub height: u64,
    /// That block's time (the day pledges and consents are judged on).
    pub time_ms: u64,
    /// Validators whose signatures certify the header.
    pub signers: usize,
    /// Validators in genesis.
    pub validators: usize,
}

/// Checks a state answer: the header is of this chain, certified by a
/// quorum of the genesis validators, and every entry's proof leads to its
/// `state_root`. `expected` are the keys the client asked about, computed
/// by the client: an answer about other keys is refused, whatever it
/// proves.
pub fn verify_state(
    answer: &StateAnswer,
    expected: &[Vec<u8>],
    genesis: &Genesis,
) -> Result<VerifiedState, VerifyError> {
    let fail = |m: String| Err(VerifyError::Failed(m));
    let h = &answer.header;
    if h.chain_id != genesis.chain_id {
        return fail(format!(
            "the header is from chain {:?}, the genesis is for {:?}",
            h.chain_id, genesis.chain_id
        ));
    }
    if h.validators_hash != genesis.validators_hash() {
        return fail("the header was made by another validator set than the genesis lists".into());
    }
    if h.height != answer.height || answer.certificate.height != answer.height {
        return fail("heights in the answer disagree".into());
    }
    let keys = genesis.validator_keys();
    answer
        .certificate
        .verify(&genesis.chain_id, answer.height, &h.hash(), &keys)
        .map_err(|e| VerifyError::Failed(format!("commit certificate: {e}")))?;
    if answer.entries.len() != expected.len() {
        return fail(format!(
            "the answer proves {} keys, {} were asked for",
            answer.entries.len(),
            expected.len()
        ));
    }
    for (entry, key) in answer.entries.iter().zip(expected) {
        if entry.key.as_bytes() != key.as_slice() {
            return fail(format!(
                "the answer proves key {:?}, not the key asked for {:?}",
                entry.key,
                String::from_utf8_lossy(key)
            ));
        }
        entry
            .verify(&h.state_root)
            .map_err(|e| VerifyError::Failed(format!("state proof for {}: {e}", entry.key)))?;
    }
    Ok(VerifiedState {
        height: answer.height,
        time_ms: h.time_ms,
        signers: answer.certificate.signatures.len(),
        validators: keys.len(),
    })
}

fn decode<T: serde::de::DeserializeOwned>(
    answer: &StateAnswer,
    what: &'static str,
) -> Result<Option<T>, VerifyError> {
    answer.entries[0]
        .decode(what)
        .map_err(|e| VerifyError::Failed(format!("the proven {what} does not decode: {e}")))
}

/// Verifies an answer about an IP right and returns the proven record
/// (`None`: proven not registered) and, when it carries a pledge, the
/// pledgee's proven member record (`None` if the pledgee has since left).
pub fn verify_ip(
    answer: &StateAnswer,
    ip_id: &str,
    genesis: &Genesis,
) -> Result<(VerifiedState, Option<IpRecord>, Option<Member>), VerifyError> {
    let ip_key = state::keys::ip(ip_id);
    let first = StateAnswer {
        entries: answer.entries.iter().take(1).cloned().collect(),
        ..answer.clone()
    };
    let v = verify_state(&first, std::slice::from_ref(&ip_key), genesis)?;
    let record: Option<IpRecord> = decode(answer, "IP record")?;
    if let Some(r) = &record {
        if r.ip_id != ip_id {
            return Err(VerifyError::Failed(format!(
                "the proven record is for IP {}, not {ip_id}",
                r.ip_id
            )));
        }
    }
    // The pledgee's key comes from the proven record; the member entry
    // must be for exactly that key.
    let pledgee = match record.as_ref().and_then(|r| r.pledge.as_ref()) {
        None => {
            verify_state(answer, &[ip_key], genesis)?;
            None
        }
        Some(p) => {
            verify_state(answer, &[ip_key, state::keys::member(&p.pledgee)], genesis)?;
            answer.entries[1].decode::<Member>("member").map_err(|e| {
                VerifyError::Failed(format!("the proven pledgee does not decode: {e}"))
            })?
        }
    };
    Ok((v, record, pledgee))
}

/// Verifies an answer about a member key (`None`: proven not a member).
pub fn verify_member(
    answer: &StateAnswer,
    key: &PublicKey,
    genesis: &Genesis,
) -> Result<(VerifiedState, Option<Member>), VerifyError> {
    let v = verify_state(answer, &[state::keys::member(key)], genesis)?;
    let member: Option<Member> = decode(answer, "member")?;
    if member.as_ref().is_some_and(|m| m.public_key != *key) {
        return Err(VerifyError::Failed(
            "the proven member record carries another key".into(),
        ));
    }
    Ok((v, member))
}

/// Verifies that `records` are exactly an enterprise's credit records at
/// the answer's height: as many as the proven commitment counts, in order,
/// each unaltered, all about this enterprise.
pub fn verify_enterprise(
    answer: &StateAnswer,
    uscc: &str,
    records: &[ProvenCredit],
    genesis: &Genesis,
) -> Result<(VerifiedState, CreditCommitment), VerifyError> {
    let v = verify_state(answer, &[state::keys::credit_commitment(uscc)], genesis)?;
    let proven: CreditCommitment = decode(answer, "credit commitment")?.unwrap_or_default();
    if let Some(r) = records.iter().find(|r| r.record.enterprise != uscc) {
        return Err(VerifyError::Failed(format!(
            "a record shown ({}) is about {}, not {uscc}",
            r.tx_hash, r.record.enterprise
        )));
    }
    if let Some(r) = records
        .iter()
        .find(|r| r.height > v.height || r.corrections.iter().any(|c| c.height > v.height))
    {
        return Err(VerifyError::Failed(format!(
            "record {} shows changes after height {}",
            r.tx_hash, v.height
        )));
    }
    let shown = state::credit_commitment(records);
    if shown.count != proven.count {
        return Err(VerifyError::Failed(format!(
            "the chain holds {} credit records for {uscc}, the node showed {}: records are missing or added",
            proven.count, shown.count
        )));
    }
    if shown.peaks != proven.peaks {
        return Err(VerifyError::Failed(format!(
            "the {} records shown do not match the chain's commitment for {uscc}: a record or a correction was altered, reordered or left out",
            shown.count
        )));
    }
    Ok((v, proven))
}
