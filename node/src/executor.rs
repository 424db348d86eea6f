//! Building and validating blocks on top of the committed chain.
//!
//! This is `valid(v)` of the Tendermint paper made concrete: a proposed block
//! must link to our tip, carry the previous block's commit certificate, hold
//! only well-formed, correctly signed transactions with the next nonces, and
//! its header must state exactly the roots that executing it on an overlay
//! of our state produces. The proposer side builds such a block from
//! mempool candidates. Nothing here writes to disk.

use std::collections::BTreeMap;

use deltachain_protocol::{
    commit_hash, merkle, Block, BlockHeader, CommitCertificate, Genesis, Hash, PublicKey,
    SignedTransaction,
};

use crate::ledger::{self, BlockContext, BlockError, BlockOutcome};
use crate::storage::{Store, StoreError, Tip};

/// A block with the result of executing it.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The block.
    pub block: Block,
    /// Its transaction hashes, in order.
    pub tx_hashes: Vec<Hash>,
    /// Receipts, writes and state root.
    pub outcome: BlockOutcome,
}

/// Why a block was found invalid, or could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// The block breaks a validity rule; prevote nil.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed while checking; the node must stop.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<BlockError> for ValidateError {
    fn from(e: BlockError) -> Self {
        match e {
            BlockError::Invalid(m) => ValidateError::Invalid(m),
            BlockError::Fault(f) => ValidateError::Invalid(format!("state read failed: {f}")),
        }
    }
}

/// A transaction's hash and encoded size from a single encoding.
pub fn hash_and_len(tx: &SignedTransaction) -> (Hash, usize) {
    let bytes = tx.encode();
    (deltachain_protocol::crypto::sha256(&bytes), bytes.len())
}

/// Receipts root for a header.
pub fn results_root(receipts: &[deltachain_protocol::Receipt]) -> Hash {
    let hashes: Vec<Hash> = receipts.iter().map(|r| r.hash()).collect();
    merkle::root(&hashes)
}

/// How far ahead of our clock a proposer's block time may be.
pub const MAX_CLOCK_DRIFT_MS: u64 = 10_000;

/// How far a fresh proposal's time may lag our clock. Without a lower
/// bound a proposer could keep block time (the ledger's "today", which
/// expires pledges and dates events) stuck in the past.
pub const MAX_BLOCK_LAG_MS: u64 = 60_000;

/// Whether a block time is close enough to our clock to prevote a fresh
/// proposal. Never part of validity: a node whose clock is off must still
/// decide what a quorum precommitted.
pub fn timely(block_time_ms: u64, now_ms: u64) -> bool {
    block_time_ms <= now_ms.saturating_add(MAX_CLOCK_DRIFT_MS)
        && block_time_ms.saturating_add(MAX_BLOCK_LAG_MS) >= now_ms
}

/// Validates a block proposed (or synced) for height `tip.height + 1`.
///
/// `now_ms` is our clock for the drift check (None for blocks that already
/// carry a commit certificate: their time was accepted by a quorum).
/// `known_valid(hash)` reports transactions whose signature and stateless
/// checks already passed (the mempool's), so they are not verified twice.
pub fn validate_block(
    store: &Store,
    genesis: &Genesis,
    tip: &Tip,
    block: &Block,
    now_ms: Option<u64>,
    known_valid: &dyn Fn(&Hash) -> bool,
) -> Result<Executed, ValidateError> {
    let invalid = |m: String| Err(ValidateError::Invalid(m));
    let h = &block.header;
    let height = tip.height + 1;
    if h.chain_id != genesis.chain_id {
        return invalid(format!("block is for chain {:?}", h.chain_id));
    }
    if h.height != height {
        return invalid(format!(
            "block height {} is not the next height {height}",
            h.height
        ));
    }
    if h.prev_hash != tip.hash {
        return invalid(format!(
            "block {} does not link to our tip {}",
            h.height,
            tip.hash.short()
        ));
    }
    if h.time_ms <= tip.time_ms {
        return invalid(format!(
            "block time {} is not after its parent's {}",
            h.time_ms, tip.time_ms
        ));
    }
    if let Some(now) = now_ms {
        if h.time_ms > now + MAX_CLOCK_DRIFT_MS {
            return invalid(format!(
                "block time is {} ms ahead of our clock",
                h.time_ms - now
            ));
        }
    }
    if h.validators_hash != genesis.validators_hash() {
        return invalid("validators_hash is not this network's validator set".into());
    }
    if !genesis
        .validators
        .iter()
        .any(|v| v.public_key == h.proposer)
    {
        return invalid("proposer is not a validator".into());
    }
    if block.txs.len() > genesis.params.max_block_txs as usize {
        return invalid(format!("{} transactions exceed the limit", block.txs.len()));
    }
    match (&block.last_commit, height) {
        (None, 1) => {}
        (Some(_), 1) => return invalid("block 1 cannot carry a last commit".into()),
        (None, _) => return invalid("block lacks the previous block's commit certificate".into()),
        (Some(c), _) => {
            if let Err(e) = c.verify(
                &genesis.chain_id,
                tip.height,
                &tip.hash,
                &genesis.validator_keys(),
            ) {
                return invalid(format!("last commit: {e}"));
            }
        }
    }
    // One encoding per transaction gives both its hash and its size.
    let (tx_hashes, sizes): (Vec<Hash>, Vec<usize>) = block.txs.iter().map(hash_and_len).unzip();
    if let Err(e) = block.check_body(&tx_hashes) {
        return invalid(e);
    }
    let mut total = 0usize;
    let mut unchecked = Vec::new();
    for ((tx, hash), &len) in block.txs.iter().zip(&tx_hashes).zip(&sizes) {
        total += len;
        if known_valid(hash) {
            continue;
        }
        if let Err(e) = tx.check_stateless(&genesis.chain_id, len) {
            return invalid(format!("transaction {}: {e}", hash.short()));
        }
        unchecked.push(tx);
    }
    if total as u64 > genesis.params.max_block_bytes {
        return invalid(format!(
            "{total} bytes of transactions exceed the block limit"
        ));
    }
    let results = SignedTransaction::verify_signatures(&unchecked);
    if let Some((tx, Err(e))) = unchecked.iter().zip(results).find(|(_, r)| r.is_err()) {
        return invalid(format!("transaction {}: {e}", tx.hash().short()));
    }
    let outcome = ledger::execute_block(
        store,
        BlockContext::new(genesis, height, h.time_ms),
        &block.txs,
        &tx_hashes,
    )?;
    if outcome.state_root != h.state_root {
        return invalid(format!(
            "state_root {} in the header, execution gives {}",
            h.state_root.short(),
            outcome.state_root.short()
        ));
    }
    if results_root(&outcome.receipts) != h.results_root {
        return invalid("results_root does not match the receipts".into());
    }
    Ok(Executed {
        block: block.clone(),
        tx_hashes,
        outcome,
    })
}

/// Builds the next block from mempool candidates (already verified, in
/// per-sender nonce order). Candidates whose nonce is not the sender's next
/// are left out, so the block is always valid.
pub fn build_block(
    state: &dyn ledger::LedgerState,
    genesis: &Genesis,
    tip: &Tip,
    last_commit: Option<CommitCertificate>,
    proposer: PublicKey,
    now_ms: u64,
    candidates: Vec<SignedTransaction>,
) -> Result<Executed, ValidateError> {
    let height = tip.height + 1;
    let mut next_nonce: BTreeMap<PublicKey, u64> = BTreeMap::new();
    let mut txs = Vec::new();
    let mut tx_hashes = Vec::new();
    let mut bytes = 0u64;
    for tx in candidates {
        if txs.len() >= genesis.params.max_block_txs as usize {
            break;
        }
        let (hash, len) = hash_and_len(&tx);
        let len = len as u64;
        if bytes + len > genesis.params.max_block_bytes {
            break;
        }
        let sender = tx.tx.sender;
        let expected = match next_nonce.get(&sender) {
            Some(n) => *n,
            None => {
                let key = ledger::keys::nonce(&sender);
                let last: u64 = match state
                    .get(&key)
                    .map_err(|e| ValidateError::Invalid(e.to_string()))?
                {
                    Some(b) => deltachain_protocol::codec::decode(&b, 8, "nonce")
                        .map_err(|e| ValidateError::Invalid(e.to_string()))?,
                    None => 0,
                };
                last + 1
            }
        };
        if tx.tx.nonce != expected {
            continue;
        }
        next_nonce.insert(sender, expected + 1);
        bytes += len;
        txs.push(tx);
        tx_hashes.push(hash);
    }
    let time_ms = now_ms.max(tip.time_ms + 1);
    let outcome = ledger::execute_block(
        state,
        BlockContext::new(genesis, height, time_ms),
        &txs,
        &tx_hashes,
    )?;
    let header = BlockHeader {
        chain_id: genesis.chain_id.clone(),
        height,
        time_ms,
        prev_hash: tip.hash,
        tx_root: merkle::root(&tx_hashes),
        results_root: results_root(&outcome.receipts),
        state_root: outcome.state_root,
        last_commit_hash: commit_hash(last_commit.as_ref()),
        validators_hash: genesis.validators_hash(),
        proposer,
        tx_count: txs.len() as u32,
    };
    Ok(Executed {
        block: Block {
            header,
            txs: std::sync::Arc::new(txs),
            last_commit,
        },
        tx_hashes,
        outcome,
    })
}
