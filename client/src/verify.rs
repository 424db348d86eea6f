//! Checking a node's answer without trusting the node.
//!
//! A [`TxProof`] is trusted when: the transaction bytes hash to the claimed
//! hash; the Merkle path leads from that hash to the header's `tx_root` and
//! from the receipt's hash to `results_root`; the header belongs to the
//! genesis' chain and validator set and hashes to the certified block hash;
//! and the commit certificate carries valid precommit signatures from a
//! quorum (⌊2n/3⌋+1) of the validators listed in genesis.

use deltachain_protocol::{crypto, Genesis, Hash};

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
