//! Deliberate misbehaviour, for the multi-process byzantine tests only.
//!
//! Compiled only with the `byzantine-test` feature (the test crate's
//! dev-dependency turns it on; `cargo build --release` never does) and
//! switched on by `DELTACHAIN_TEST_MISBEHAVE=<attack>` at start-up. Each
//! attack is one a faulty validator could mount with its own key; the
//! tests run it against three honest validators and require the chain to
//! keep committing.

use std::sync::Arc;

use deltachain_protocol::{
    merkle, CommitCertificate, CommitSig, CreditCorrection, Hash, Keypair, Payload, Proposal,
    Signature, SignedTransaction, SignedVote, Transaction, Vote, VoteKind,
};

use crate::consensus::{Message, ROUND_WINDOW};

/// The attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// `Commit`s of junk blocks with one signature, beside every message.
    CommitSpam,
    /// Votes for every round of the next height and megabyte proposals.
    FutureFlood,
    /// Every proposal received is re-published with another body.
    Tamper,
    /// Votes in other validators' names with bad signatures.
    ForgeVotes,
    /// Claims a tip of `u64::MAX` and answers block requests with nothing.
    LyingSync,
    /// A clock 15 s behind.
    ClockSkew,
}

impl Attack {
    /// The attack named by `DELTACHAIN_TEST_MISBEHAVE`, if any.
    pub fn from_env() -> Option<Attack> {
        let name = std::env::var("DELTACHAIN_TEST_MISBEHAVE").ok()?;
        let attack = match name.as_str() {
            "commit-spam" => Attack::CommitSpam,
            "future-flood" => Attack::FutureFlood,
            "tamper" => Attack::Tamper,
            "forge-votes" => Attack::ForgeVotes,
            "lying-sync" => Attack::LyingSync,
            "clock-skew" => Attack::ClockSkew,
            other => panic!("unknown DELTACHAIN_TEST_MISBEHAVE {other:?}"),
        };
        tracing::warn!(?attack, "TEST BUILD: this node misbehaves on purpose");
        Some(attack)
    }
}

/// `DELTACHAIN_TEST_CRASH_BEFORE_WAL=N`: true at the Nth vote this
/// process signs, after the signing state has recorded it and before the
/// WAL has. The node then aborts, which is a kill in exactly the window
/// where a crash once left a lone validator unable to vote again.
pub fn crash_before_wal() -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEEN: AtomicU64 = AtomicU64::new(0);
    let Some(at) = std::env::var("DELTACHAIN_TEST_CRASH_BEFORE_WAL")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return false;
    };
    SEEN.fetch_add(1, Ordering::Relaxed) + 1 == at
}

/// A misbehaving validator's tools.
pub struct Misbehave {
    /// Which attack.
    pub attack: Attack,
    key: Keypair,
    chain_id: String,
    me: u16,
    validators: usize,
    filler: Arc<Vec<SignedTransaction>>,
    filler_root: Hash,
    counter: u64,
}

impl Misbehave {
    /// Tools for `attack` as validator `me` of `validators`.
    pub fn new(
        attack: Attack,
        key: Keypair,
        chain_id: &str,
        me: u16,
        validators: usize,
    ) -> Misbehave {
        // About a megabyte of well-formed transactions for huge blocks and
        // tampered bodies.
        let filler: Vec<SignedTransaction> = (0..2000u64)
            .map(|n| {
                Transaction {
                    chain_id: chain_id.into(),
                    sender: key.public(),
                    nonce: n + 1,
                    payload: Payload::CreditCorrection(CreditCorrection {
                        original_tx: Hash([7; 32]),
                        reason: "flood".repeat(80),
                        withdraw: false,
                    }),
                }
                .sign(&key)
            })
            .collect();
        let filler_root = merkle::root(&filler.iter().map(|t| t.hash()).collect::<Vec<_>>());
        Misbehave {
            attack,
            key,
            chain_id: chain_id.into(),
            me,
            validators,
            filler: Arc::new(filler),
            filler_root,
            counter: 0,
        }
    }

    /// Clock offset in milliseconds.
    pub fn clock_offset_ms(&self) -> i64 {
        if self.attack == Attack::ClockSkew {
            -15_000
        } else {
            0
        }
    }

    /// Extra messages to publish beside one of our own.
    pub fn beside(&mut self, msg: &Message) -> Vec<Message> {
        self.counter += 1;
        match (self.attack, msg) {
            (Attack::CommitSpam, Message::Vote(sv)) => {
                let v = sv.vote;
                (0..3u8)
                    .map(|i| {
                        let mut block = self.junk_block(v.height, i);
                        block.header.state_root = Hash([i; 32]);
                        let hash = block.hash();
                        let own = Vote {
                            height: v.height,
                            round: v.round,
                            kind: VoteKind::Precommit,
                            block: Some(hash),
                            validator: self.me,
                        }
                        .sign(&self.key, &self.chain_id);
                        Message::Commit {
                            block,
                            cert: CommitCertificate {
                                height: v.height,
                                round: v.round,
                                block_hash: hash,
                                signatures: vec![CommitSig {
                                    validator: self.me,
                                    signature: own.signature,
                                }],
                            },
                        }
                    })
                    .collect()
            }
            (Attack::FutureFlood, Message::Vote(sv)) => {
                let next = sv.vote.height + 1;
                let mut out: Vec<Message> = (0..=ROUND_WINDOW + 8)
                    .step_by(4)
                    .map(|round| {
                        let mut v = sv.vote;
                        v.height = next;
                        v.round = round;
                        v.block = Some(Hash([round as u8; 32]));
                        Message::Vote(v.sign(&self.key, &self.chain_id))
                    })
                    .collect();
                // A megabyte proposal for a round we lead at the next height.
                let n = self.validators as u64;
                let start = (self.counter % ROUND_WINDOW as u64) as u32;
                if let Some(round) =
                    (start..start + n as u32).find(|r| (next + *r as u64) % n == self.me as u64)
                {
                    let mut block = self.junk_block(next, 0);
                    block.header.proposer = self.key.public();
                    block.header.tx_count = self.filler.len() as u32;
                    block.header.tx_root = self.filler_root;
                    block.txs = self.filler.clone();
                    let proposal = Proposal {
                        height: next,
                        round,
                        pol_round: None,
                        block_hash: block.hash(),
                        proposer: self.me,
                    }
                    .sign(&self.key, &self.chain_id);
                    out.push(Message::Proposal { proposal, block });
                }
                out
            }
            (Attack::ForgeVotes, Message::Vote(sv)) => (0..self.validators as u16)
                .filter(|i| *i != self.me)
                .map(|i| {
                    let mut v = sv.vote;
                    v.validator = i;
                    v.block = Some(Hash([0xF0; 32]));
                    Message::Vote(SignedVote {
                        vote: v,
                        signature: Signature([i as u8; 64]),
                    })
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Messages to publish on receiving one from a peer.
    pub fn on_received(&mut self, msg: &Message) -> Vec<Message> {
        match (self.attack, msg) {
            (Attack::Tamper, Message::Proposal { proposal, block })
                if !Arc::ptr_eq(&block.txs, &self.filler) =>
            {
                let mut tampered = block.clone();
                tampered.txs = self.filler.clone();
                vec![Message::Proposal {
                    proposal: *proposal,
                    block: tampered,
                }]
            }
            _ => Vec::new(),
        }
    }

    fn junk_block(&self, height: u64, tag: u8) -> deltachain_protocol::Block {
        deltachain_protocol::Block {
            header: deltachain_protocol::BlockHeader {
                chain_id: self.chain_id.clone(),
                height,
                time_ms: self.counter,
                prev_hash: Hash([tag; 32]),
                tx_root: merkle::root(&[]),
                results_root: Hash::ZERO,
                state_root: Hash::ZERO,
                last_commit_hash: Hash::ZERO,
                validators_hash: Hash::ZERO,
                proposer: self.key.public(),
                tx_count: 0,
            },
            txs: Default::default(),
            last_commit: None,
        }
    }
}
