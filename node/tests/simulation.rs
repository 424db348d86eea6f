//! Deterministic simulation of Tendermint consensus.
//!
//! n consensus machines (4, 5 or 7) run over a simulated network and clock
//! driven by one seeded RNG: random delay, loss, duplication and reordering,
//! partitions that heal, crashes with restart from the WAL, and up to f
//! byzantine validators. Each byzantine behaviour is named for what it does
//! (see [`Behaviour`]): equivocate, propose invalid blocks, stay silent,
//! spam `Commit`s without a quorum, flood the next height with huge
//! proposals and votes for every round, relay proposals with tampered
//! bodies ahead of the real ones, forge votes with bad signatures, or run
//! with a clock 15 s behind. After each run the checker asserts:
//!
//! * safety: no two honest nodes decide different blocks at any height, and
//!   every commit certificate holds a quorum of valid signatures;
//! * validity: every decided block passes the honest validity check;
//! * liveness: after the network heals (partitions end, crashed nodes are
//!   back, loss falls to at most 2%), every honest node decides at least
//!   two new heights in 15 simulated seconds;
//! * bounded memory: no honest machine ever buffers more than
//!   `MAX_FUTURE_BYTES` for the next height or holds more than a bounded
//!   number of blocks for its height.
//!
//! A dedicated scenario restarts a validator while the others are far past
//! the round window, with a fourth validator down, so the height can only
//! be decided if the restarted one catches up through the round skip.
//!
//! `cargo test` runs a fixed set of seeds. `DELTACHAIN_SIM_SEEDS=N` runs
//! seeds 1..=N; `DELTACHAIN_SIM_SEED=S` replays one. A failure prints its
//! seed. The mutation tests run the same checker against a consensus with
//! locking disabled or a 2f quorum and require it to find a violation.

use std::collections::BTreeMap;

use std::sync::Arc;

use deltachain_node::consensus::{
    Config, Consensus, Input, Message, Mutation, Output, Timeout, WalEntry, MAX_BLOCKS_PER_HEIGHT,
    MAX_FUTURE_BYTES, ROUND_WINDOW,
};
use deltachain_protocol::{
    merkle, quorum, Block, BlockHeader, CommitCertificate, ConsensusParams, CreditCorrection, Hash,
    Keypair, Payload, Proposal, PublicKey, Signature, SignedTransaction, SignedVote, Transaction,
    Vote,
};

/// splitmix64: small, fast, and good enough to drive a simulation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Honest,
    /// Sends a conflicting vote beside every vote it signs.
    Equivocator,
    /// Proposes blocks that fail validation and votes for them.
    InvalidProposer,
    /// Sends nothing at all.
    Silent,
    /// With every message, sends `Commit`s of junk blocks whose
    /// certificates hold only its own signature.
    CommitSpammer,
    /// With every vote, floods the next height with votes for every round
    /// and huge proposals for each round it may propose.
    FutureFlooder,
    /// Relays every proposal it receives at once with a tampered body.
    BodyTamperer,
    /// With every vote, sends votes in other validators' names with bad
    /// signatures.
    VoteForger,
    /// Follows the protocol with a clock 15 s behind: it finds honest
    /// blocks untimely and its own proposals carry old times. It takes a
    /// faulty slot but is checked like an honest node: it must stay safe
    /// and keep deciding.
    ClockSkewed,
}

/// How far the skewed validator's clock lags.
const SKEW_MS: i64 = -15_000;

const FAULTS: [Behaviour; 8] = [
    Behaviour::Equivocator,
    Behaviour::InvalidProposer,
    Behaviour::Silent,
    Behaviour::CommitSpammer,
    Behaviour::FutureFlooder,
    Behaviour::BodyTamperer,
    Behaviour::VoteForger,
    Behaviour::ClockSkewed,
];

#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // a test queue; boxing would only add noise
enum Event {
    Deliver {
        to: usize,
        msg: Message,
    },
    Timeout {
        node: usize,
        epoch: u32,
        timeout: Timeout,
    },
    Rebroadcast {
        node: usize,
        epoch: u32,
    },
    Sync {
        node: usize,
        epoch: u32,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
}

struct Node {
    behaviour: Behaviour,
    key: Keypair,
    machine: Consensus,
    chain: Vec<(Block, CommitCertificate)>,
    wal: Vec<WalEntry>,
    alive: bool,
    epoch: u32,
    sync_target: u64,
    /// Simulated times of decisions.
    decided_at: Vec<u64>,
}

/// A scenario derived from the seed.
#[derive(Debug)]
struct Scenario {
    n: usize,
    byzantine: Vec<Behaviour>,
    loss_pct: u64,
    dup_pct: u64,
    max_delay_ms: u64,
    /// Partition: time window and the side of each node.
    partition: Option<(u64, u64, Vec<bool>)>,
    /// Crashes: node, crash time, restart time (`u64::MAX`: never).
    crash: Vec<(usize, u64, u64)>,
    /// A window in which every proposal is lost, so rounds climb without
    /// decisions.
    drop_proposals: Option<(u64, u64)>,
    heal_ms: u64,
    end_ms: u64,
}

struct Sim {
    seed: u64,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Event>,
    nodes: Vec<Node>,
    cfg: Config,
    sc: Scenario,
    violations: Vec<String>,
    traced: Vec<(usize, Vote)>,
    /// Transactions of the future flooder's huge blocks, made once, and
    /// their root.
    huge_txs: Arc<Vec<SignedTransaction>>,
    huge_root: Hash,
}

const CHAIN: &str = "sim";

/// 120 signed transactions of about 600 bytes each (counted as 480 KiB
/// against the next-height buffer's bound).
fn huge_txs() -> Vec<SignedTransaction> {
    let key = Keypair::from_secret([0xAB; 32]);
    (0..120u64)
        .map(|n| {
            Transaction {
                chain_id: CHAIN.into(),
                sender: key.public(),
                nonce: n + 1,
                payload: Payload::CreditCorrection(CreditCorrection {
                    original_tx: Hash([9; 32]),
                    reason: "flood".repeat(100),
                    withdraw: false,
                }),
            }
            .sign(&key)
        })
        .collect()
}
const INVALID_MARK: Hash = Hash([0xBA; 32]);

fn params() -> ConsensusParams {
    ConsensusParams {
        timeout_propose_ms: 300,
        timeout_prevote_ms: 200,
        timeout_precommit_ms: 200,
        timeout_delta_ms: 100,
        timeout_max_ms: 3000,
        timeout_commit_ms: 50,
        max_block_interval_ms: 0,
        ..ConsensusParams::default()
    }
}

impl Sim {
    fn new(seed: u64, mutation: Mutation) -> Sim {
        let mut rng = Rng(seed);
        // A mutated protocol is searched with the harshest scenarios: four
        // validators, one equivocator, always a partition.
        let harsh = mutation != Mutation::None;
        let n = [4usize, 5, 7][rng.below(3) as usize];
        let n = if harsh { 4 } else { n };
        let f = (n - 1) / 3;
        let byz_count = rng.below(f as u64 + 1) as usize;
        let byz_count = if harsh { f } else { byz_count };
        let byzantine: Vec<Behaviour> = (0..byz_count)
            .map(|_| {
                let b = FAULTS[rng.below(FAULTS.len() as u64) as usize];
                if harsh {
                    Behaviour::Equivocator
                } else {
                    b
                }
            })
            .collect();
        let partition = (rng.chance(60) || harsh).then(|| {
            let start = rng.range(500, 5000);
            let end = start + rng.range(1000, 10_000);
            let side: Vec<bool> = (0..n).map(|_| rng.chance(50)).collect();
            (start, end, side)
        });
        let crash: Vec<(usize, u64, u64)> = rng
            .chance(60)
            .then(|| {
                let node = byz_count + rng.below((n - byz_count) as u64) as usize;
                let at = rng.range(300, 8000);
                (node, at, at + rng.range(200, 6000))
            })
            .into_iter()
            .collect();
        let heal_ms = partition
            .as_ref()
            .map(|p| p.1)
            .unwrap_or(0)
            .max(crash.iter().map(|c| c.2).max().unwrap_or(0))
            .max(1000);
        let sc = Scenario {
            n,
            byzantine,
            loss_pct: rng.below(15),
            dup_pct: rng.below(10),
            max_delay_ms: rng.range(5, 150),
            partition,
            crash,
            drop_proposals: None,
            heal_ms,
            end_ms: heal_ms + 30_000,
        };
        Sim::build(seed, rng, sc, mutation)
    }

    /// A simulation of a given scenario.
    fn build(seed: u64, rng: Rng, sc: Scenario, mutation: Mutation) -> Sim {
        let n = sc.n;
        let keys: Vec<Keypair> = (0..n)
            .map(|i| {
                let mut s = [0u8; 32];
                s[..8].copy_from_slice(&seed.to_le_bytes());
                s[8] = i as u8;
                Keypair::from_secret(s)
            })
            .collect();
        let cfg = Config {
            chain_id: CHAIN.into(),
            validators: keys.iter().map(|k| k.public()).collect(),
            params: params(),
            mutation,
        };
        let nodes = keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| Node {
                behaviour: sc.byzantine.get(i).copied().unwrap_or(Behaviour::Honest),
                machine: Consensus::new(cfg.clone(), key.clone(), 1, vec![]),
                key,
                chain: Vec::new(),
                wal: Vec::new(),
                alive: true,
                epoch: 0,
                sync_target: 0,
                decided_at: Vec::new(),
            })
            .collect();
        Sim {
            seed,
            rng,
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            nodes,
            cfg,
            sc,
            violations: Vec::new(),
            traced: Vec::new(),
            huge_root: merkle::root(&huge_txs().iter().map(|t| t.hash()).collect::<Vec<_>>()),
            huge_txs: Arc::new(huge_txs()),
        }
    }

    fn schedule(&mut self, delay: u64, e: Event) {
        self.seq += 1;
        self.queue.insert((self.now + delay, self.seq), e);
    }

    /// Nodes whose decisions are checked: the honest ones and the one
    /// whose only fault is its clock.
    fn honest(&self, i: usize) -> bool {
        matches!(
            self.nodes[i].behaviour,
            Behaviour::Honest | Behaviour::ClockSkewed
        )
    }

    /// A node's clock.
    fn clock(&self, i: usize) -> u64 {
        match self.nodes[i].behaviour {
            Behaviour::ClockSkewed => self.now.saturating_add_signed(SKEW_MS),
            _ => self.now,
        }
    }

    fn partitioned(&self, a: usize, b: usize) -> bool {
        match &self.sc.partition {
            Some((start, end, side)) => self.now >= *start && self.now < *end && side[a] != side[b],
            None => false,
        }
    }

    fn send(&mut self, from: usize, to: usize, msg: Message) {
        // Healing ends partitions and brings loss down to a trickle.
        let loss = if self.now >= self.sc.heal_ms {
            self.sc.loss_pct.min(2)
        } else {
            self.sc.loss_pct
        };
        if from == to || self.partitioned(from, to) || self.rng.chance(loss) {
            return;
        }
        if matches!(msg, Message::Proposal { .. })
            && self
                .sc
                .drop_proposals
                .is_some_and(|(a, b)| self.now >= a && self.now < b)
        {
            return;
        }
        let copies = if self.rng.chance(self.sc.dup_pct) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.rng.range(1, self.sc.max_delay_ms);
            self.schedule(
                delay,
                Event::Deliver {
                    to,
                    msg: msg.clone(),
                },
            );
        }
    }

    fn broadcast(&mut self, from: usize, msg: Message) {
        match self.nodes[from].behaviour {
            Behaviour::Silent => {}
            Behaviour::Equivocator => {
                let conflicting = match &msg {
                    Message::Vote(sv) => {
                        let mut v: Vote = sv.vote;
                        v.block = Some(Hash([self.rng.below(255) as u8; 32]));
                        Some(Message::Vote(v.sign(&self.nodes[from].key, CHAIN)))
                    }
                    _ => None,
                };
                for to in 0..self.sc.n {
                    match (&conflicting, to % 2) {
                        (Some(c), 1) => self.send(from, to, c.clone()),
                        _ => self.send(from, to, msg.clone()),
                    }
                }
            }
            behaviour => {
                let extra = self.byzantine_extras(from, behaviour, &msg);
                for to in 0..self.sc.n {
                    self.send(from, to, msg.clone());
                    for m in &extra {
                        self.send(from, to, m.clone());
                    }
                }
            }
        }
    }

    /// What a byzantine node sends beside each of its protocol messages.
    fn byzantine_extras(
        &mut self,
        from: usize,
        behaviour: Behaviour,
        msg: &Message,
    ) -> Vec<Message> {
        let height = msg.height();
        let key = self.nodes[from].key.clone();
        match behaviour {
            Behaviour::CommitSpammer => (0..3)
                .map(|_| {
                    let mut junk = self.build_block(from, height, 0);
                    junk.header.state_root.0[31] = self.rng.below(255) as u8;
                    let hash = junk.hash();
                    let own = Vote {
                        height,
                        round: 0,
                        kind: deltachain_protocol::VoteKind::Precommit,
                        block: Some(hash),
                        validator: from as u16,
                    }
                    .sign(&key, CHAIN);
                    Message::Commit {
                        block: junk,
                        cert: CommitCertificate {
                            height,
                            round: 0,
                            block_hash: hash,
                            signatures: vec![deltachain_protocol::CommitSig {
                                validator: from as u16,
                                signature: own.signature,
                            }],
                        },
                    }
                })
                .collect(),
            Behaviour::FutureFlooder => {
                // A flood a quarter of the time keeps the simulation fast
                // and still fills every window within a height.
                let Message::Vote(sv) = msg else {
                    return Vec::new();
                };
                if !self.rng.chance(25) {
                    return Vec::new();
                }
                let next = sv.vote.height + 1;
                let mut out = Vec::new();
                for round in (0..=ROUND_WINDOW + 8).step_by(4) {
                    let mut v = sv.vote;
                    v.height = next;
                    v.round = round;
                    v.block = Some(Hash([round as u8; 32]));
                    out.push(Message::Vote(v.sign(&key, CHAIN)));
                }
                // Huge proposals for the next height in every round it
                // leads (a few per message, so the flood builds over time).
                let n = self.sc.n as u64;
                let first = self.rng.below(ROUND_WINDOW as u64) as u32;
                for round in (first..first + 24)
                    .filter(|r| (next + *r as u64) % n == from as u64)
                    .take(1)
                {
                    let block = self.huge_block(from, next, round);
                    let proposal = Proposal {
                        height: next,
                        round,
                        pol_round: None,
                        block_hash: block.hash(),
                        proposer: from as u16,
                    }
                    .sign(&key, CHAIN);
                    out.push(Message::Proposal { proposal, block });
                }
                out
            }
            Behaviour::VoteForger => {
                let Message::Vote(sv) = msg else {
                    return Vec::new();
                };
                (0..self.sc.n)
                    .filter(|&i| i != from)
                    .map(|i| {
                        let mut v = sv.vote;
                        v.validator = i as u16;
                        v.block = Some(Hash([0xF0 + i as u8; 32]));
                        Message::Vote(SignedVote {
                            vote: v,
                            signature: Signature([i as u8; 64]),
                        })
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// A block of a few hundred kilobytes that is valid in form.
    fn huge_block(&mut self, i: usize, height: u64, round: u32) -> Block {
        let mut b = self.build_block(i, height, round);
        let txs = self.huge_txs.clone();
        b.header.tx_count = txs.len() as u32;
        b.header.tx_root = self.huge_root;
        b.txs = txs;
        b
    }

    fn last_hash(&self, i: usize) -> Hash {
        self.nodes[i]
            .chain
            .last()
            .map(|(b, _)| b.hash())
            .unwrap_or(Hash::ZERO)
    }

    fn build_block(&mut self, i: usize, height: u64, round: u32) -> Block {
        let invalid = self.nodes[i].behaviour == Behaviour::InvalidProposer;
        let time_ms = self.clock(i);
        let mut state_root = Hash([0; 32]);
        state_root.0[..8].copy_from_slice(&self.rng.next().to_le_bytes());
        state_root.0[8] = i as u8;
        state_root.0[9] = round as u8;
        Block {
            header: BlockHeader {
                chain_id: CHAIN.into(),
                height,
                time_ms,
                prev_hash: if invalid {
                    INVALID_MARK
                } else {
                    self.last_hash(i)
                },
                tx_root: deltachain_protocol::merkle::root(&[]),
                results_root: Hash::ZERO,
                state_root,
                last_commit_hash: Hash::ZERO,
                validators_hash: Hash::ZERO,
                proposer: self.nodes[i].key.public(),
                tx_count: 0,
            },
            txs: Default::default(),
            last_commit: None,
        }
    }

    /// The honest validity check: the block links to our chain.
    fn valid(&self, i: usize, block: &Block) -> bool {
        block.header.height == self.nodes[i].chain.len() as u64 + 1
            && block.header.prev_hash == self.last_hash(i)
    }

    fn feed(&mut self, i: usize, input: Input) {
        let mut pending = vec![input];
        let mut steps = 0;
        while let Some(input) = pending.pop() {
            steps += 1;
            assert!(
                steps < 10_000,
                "seed {}: node {i} does not settle",
                self.seed
            );
            let outputs = self.nodes[i].machine.step(input);
            self.carry_out(i, outputs, &mut pending);
        }
        self.check_memory(i);
    }

    fn check_memory(&mut self, i: usize) {
        let m = &self.nodes[i].machine;
        if m.buffered_bytes() > MAX_FUTURE_BYTES {
            self.violations.push(format!(
                "MEMORY: node {i} buffers {} bytes for the next height",
                m.buffered_bytes()
            ));
        }
        // The cache bound, plus the current round's proposal and the
        // certified block that may pass it, one per round moved through.
        let bound = MAX_BLOCKS_PER_HEIGHT + 2 + m.round() as usize;
        if m.blocks_held() > bound {
            self.violations.push(format!(
                "MEMORY: node {i} holds {} blocks at round {}",
                m.blocks_held(),
                m.round()
            ));
        }
    }

    fn carry_out(&mut self, i: usize, outputs: Vec<Output>, pending: &mut Vec<Input>) {
        for o in outputs {
            match o {
                Output::Persist(e) => self.nodes[i].wal.push(e),
                Output::Broadcast(m) => {
                    if std::env::var("DELTACHAIN_SIM_TRACE").is_ok() {
                        match &m {
                            Message::Vote(v) if !self.traced.contains(&(i, v.vote)) => {
                                self.traced.push((i, v.vote));
                                eprintln!(
                                    "t={} node {i} h{} r{} {:?} {:?}",
                                    self.now,
                                    v.vote.height,
                                    v.vote.round,
                                    v.vote.kind,
                                    v.vote.block.map(|h| h.short())
                                );
                            }
                            Message::Proposal { proposal, .. } => eprintln!(
                                "t={} node {i} PROPOSES h{} r{} pol {:?} {}",
                                self.now,
                                proposal.proposal.height,
                                proposal.proposal.round,
                                proposal.proposal.pol_round,
                                proposal.proposal.block_hash.short()
                            ),
                            _ => {}
                        }
                    }
                    self.broadcast(i, m)
                }
                Output::Schedule(t) => {
                    let epoch = self.nodes[i].epoch;
                    self.schedule(
                        t.duration_ms,
                        Event::Timeout {
                            node: i,
                            epoch,
                            timeout: t,
                        },
                    );
                }
                Output::BuildProposal { height, round } => {
                    let block = self.build_block(i, height, round);
                    pending.push(Input::ProposalBuilt {
                        height,
                        round,
                        block,
                    });
                }
                Output::Validate { height, block } => {
                    let valid = self.valid(i, &block);
                    let timely =
                        deltachain_node::executor::timely(block.header.time_ms, self.clock(i));
                    pending.push(Input::Validated {
                        height,
                        hash: block.hash(),
                        valid,
                        timely,
                    });
                }
                Output::Decide { block, cert } => self.decide(i, block, cert),
                Output::Evidence(_) => {}
                Output::SyncNeeded { committed } => {
                    let node = &mut self.nodes[i];
                    node.sync_target = node.sync_target.max(committed);
                    let epoch = node.epoch;
                    self.schedule(20, Event::Sync { node: i, epoch });
                }
            }
        }
    }

    fn check_block(&mut self, i: usize, block: &Block, cert: &CommitCertificate) {
        let height = block.header.height;
        if let Err(e) = cert.verify(CHAIN, height, &block.hash(), &self.cfg.validators) {
            self.violations
                .push(format!("node {i} height {height}: bad certificate: {e}"));
        }
        if self.honest(i) && !self.valid(i, block) {
            self.violations.push(format!(
                "node {i} decided an invalid block at height {height}"
            ));
        }
    }

    fn decide(&mut self, i: usize, block: Block, cert: CommitCertificate) {
        self.check_block(i, &block, &cert);
        let node = &mut self.nodes[i];
        if block.header.height != node.chain.len() as u64 + 1 {
            self.violations.push(format!(
                "node {i} decided height {} out of order",
                block.header.height
            ));
            return;
        }
        let next = block.header.height + 1;
        node.chain.push((block, cert));
        node.decided_at.push(self.now);
        node.wal.retain(|e| e.height() >= next);
    }

    fn sync(&mut self, i: usize) {
        let mine = self.nodes[i].chain.len();
        let source = (0..self.sc.n)
            .filter(|&j| j != i && self.honest(j) && self.nodes[j].alive && !self.partitioned(i, j))
            .max_by_key(|&j| self.nodes[j].chain.len());
        let Some(j) = source else {
            return self.retry_sync(i);
        };
        let theirs = self.nodes[j].chain.len();
        if theirs <= mine {
            return self.retry_sync(i);
        }
        for h in mine..theirs {
            let (block, cert) = self.nodes[j].chain[h].clone();
            if cert
                .verify(
                    CHAIN,
                    block.header.height,
                    &block.hash(),
                    &self.cfg.validators,
                )
                .is_err()
                || !self.valid(i, &block)
            {
                self.violations
                    .push(format!("node {i} was offered a bad synced block {}", h + 1));
                return;
            }
            self.nodes[i].chain.push((block, cert));
            self.nodes[i].decided_at.push(self.now);
        }
        let height = self.nodes[i].chain.len() as u64;
        self.nodes[i].wal.retain(|e| e.height() > height);
        self.feed(i, Input::Synced { height });
        // As the node does: the machine learns the block it did not decide.
        let (block, cert) = self.nodes[i]
            .chain
            .last()
            .cloned()
            .expect("synced at least one block");
        self.nodes[i].machine.set_last_decision(block, cert);
    }

    /// The body tamperer: a proposal it receives goes straight back out to
    /// everyone with other transactions under the same signed header.
    fn relay_tampered(&mut self, from: usize, msg: &Message) {
        let Message::Proposal { proposal, block } = msg else {
            return;
        };
        if Arc::ptr_eq(&block.txs, &self.huge_txs) {
            return; // Already a tampered copy (another tamperer's).
        }
        let mut tampered = block.clone();
        tampered.txs = self.huge_txs.clone();
        for to in 0..self.sc.n {
            if to != from && !self.partitioned(from, to) {
                self.schedule(
                    1,
                    Event::Deliver {
                        to,
                        msg: Message::Proposal {
                            proposal: *proposal,
                            block: tampered.clone(),
                        },
                    },
                );
            }
        }
    }

    fn retry_sync(&mut self, i: usize) {
        if (self.nodes[i].chain.len() as u64) < self.nodes[i].sync_target {
            let epoch = self.nodes[i].epoch;
            self.schedule(300, Event::Sync { node: i, epoch });
        }
    }

    fn run(&mut self) {
        for i in 0..self.sc.n {
            let out = self.nodes[i].machine.start();
            let mut pending = Vec::new();
            self.carry_out(i, out, &mut pending);
            while let Some(input) = pending.pop() {
                self.feed(i, input);
            }
            let delay = 1000 + self.rng.below(1000);
            self.schedule(delay, Event::Rebroadcast { node: i, epoch: 0 });
        }
        for (node, at, back) in self.sc.crash.clone() {
            self.schedule(at, Event::Crash { node });
            if back != u64::MAX {
                self.schedule(back, Event::Restart { node });
            }
        }
        while let Some((&(t, s), _)) = self.queue.iter().next() {
            if t > self.sc.end_ms {
                break;
            }
            let event = self.queue.remove(&(t, s)).expect("present");
            self.now = t;
            match event {
                Event::Deliver { to, msg } => {
                    if self.nodes[to].alive {
                        if self.nodes[to].behaviour == Behaviour::BodyTamperer {
                            self.relay_tampered(to, &msg);
                        }
                        self.feed(to, Input::Message(msg));
                    }
                }
                Event::Timeout {
                    node,
                    epoch,
                    timeout,
                } => {
                    if self.nodes[node].alive && self.nodes[node].epoch == epoch {
                        self.feed(node, Input::Timeout(timeout));
                    }
                }
                Event::Rebroadcast { node, epoch } => {
                    if self.nodes[node].alive && self.nodes[node].epoch == epoch {
                        self.feed(node, Input::Rebroadcast);
                        self.schedule(1000, Event::Rebroadcast { node, epoch });
                    }
                }
                Event::Sync { node, epoch } => {
                    if self.nodes[node].alive && self.nodes[node].epoch == epoch {
                        self.sync(node);
                    }
                }
                Event::Crash { node } => {
                    self.nodes[node].alive = false;
                    self.nodes[node].epoch += 1;
                }
                Event::Restart { node } => {
                    let n = &mut self.nodes[node];
                    n.alive = true;
                    n.sync_target = 0;
                    let height = n.chain.len() as u64 + 1;
                    n.machine =
                        Consensus::new(self.cfg.clone(), n.key.clone(), height, n.wal.clone());
                    if let Some((block, cert)) = n.chain.last().cloned() {
                        n.machine.set_last_decision(block, cert);
                    }
                    let out = n.machine.start();
                    let epoch = n.epoch;
                    let mut pending = Vec::new();
                    self.carry_out(node, out, &mut pending);
                    while let Some(input) = pending.pop() {
                        self.feed(node, input);
                    }
                    self.schedule(500, Event::Rebroadcast { node, epoch });
                }
            }
        }
    }

    /// Safety across honest nodes; returns the violations.
    fn check(&mut self, check_liveness: bool) -> Vec<String> {
        let mut v = std::mem::take(&mut self.violations);
        let honest: Vec<usize> = (0..self.sc.n).filter(|&i| self.honest(i)).collect();
        let max_h = honest
            .iter()
            .map(|&i| self.nodes[i].chain.len())
            .max()
            .unwrap_or(0);
        for h in 0..max_h {
            let mut seen: Option<(usize, Hash)> = None;
            for &i in &honest {
                if let Some((b, _)) = self.nodes[i].chain.get(h) {
                    match seen {
                        None => seen = Some((i, b.hash())),
                        Some((j, hash)) if hash != b.hash() => v.push(format!(
                            "SAFETY: nodes {j} and {i} decided different blocks at height {}",
                            h + 1
                        )),
                        _ => {}
                    }
                }
            }
        }
        if check_liveness {
            for &i in &honest {
                let after = self.nodes[i]
                    .decided_at
                    .iter()
                    .filter(|t| **t > self.sc.heal_ms + 15_000)
                    .count();
                if after < 2 {
                    v.push(format!(
                        "LIVENESS: node {i} decided {after} heights in the 15 s after the network healed and settled (chain {} long)",
                        self.nodes[i].chain.len()
                    ));
                }
            }
        }
        v
    }
}

/// One run; returns the violations and (heights decided, mean ms per height
/// over the whole run for honest nodes).
fn run_seed(seed: u64, mutation: Mutation, check_liveness: bool) -> (Vec<String>, u64, u64) {
    run_sim(Sim::new(seed, mutation), seed, mutation, check_liveness)
}

fn run_sim(
    mut sim: Sim,
    seed: u64,
    mutation: Mutation,
    check_liveness: bool,
) -> (Vec<String>, u64, u64) {
    sim.run();
    let v = sim.check(check_liveness);
    let honest: Vec<usize> = (0..sim.sc.n).filter(|&i| sim.honest(i)).collect();
    let heights = honest
        .iter()
        .map(|&i| sim.nodes[i].chain.len() as u64)
        .min()
        .unwrap_or(0);
    let per_height = sim.sc.end_ms / heights.max(1);
    if !v.is_empty() && mutation == Mutation::None {
        eprintln!("seed {seed} failed with scenario {:?}", sim.sc);
        for (i, n) in sim.nodes.iter().enumerate() {
            eprintln!(
                "  node {i} {:?}: chain {} at h{} r{} {:?} locked {:?} alive {}",
                n.behaviour,
                n.chain.len(),
                n.machine.height(),
                n.machine.round(),
                n.machine.current_step(),
                n.machine.locked(),
                n.alive
            );
            let rounds: Vec<String> = n
                .chain
                .iter()
                .zip(&n.decided_at)
                .map(|((_, c), t)| format!("{}@{}", c.round, t))
                .collect();
            eprintln!("    decided rounds@ms: {}", rounds.join(" "));
        }
    }
    (v, heights, per_height)
}

fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("DELTACHAIN_SIM_SEED") {
        return vec![s.parse().expect("DELTACHAIN_SIM_SEED is a number")];
    }
    let n: u64 = std::env::var("DELTACHAIN_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    (1..=n).collect()
}

#[test]
fn safety_validity_and_liveness_under_faults() {
    let seeds = seeds();
    // Seeds are independent: spread them over the machine's cores.
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(seeds.len().max(1));
    let results: Vec<(u64, Vec<String>, u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let seeds = &seeds;
                s.spawn(move || {
                    seeds
                        .iter()
                        .skip(w)
                        .step_by(workers)
                        .map(|&seed| {
                            let (v, heights, ms) = run_seed(seed, Mutation::None, true);
                            (seed, v, heights, ms)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("simulation worker"))
            .collect()
    });
    let mut failures = Vec::new();
    let (mut total_heights, mut total_ms) = (0u64, 0u64);
    for (seed, v, heights, ms) in results {
        total_heights += heights;
        total_ms += ms;
        if !v.is_empty() {
            failures.push(format!("seed {seed}: {}", v.join("; ")));
        }
    }
    eprintln!(
        "simulation: {} seeds, {} heights decided by every honest node, mean {} simulated ms per height (faults included)",
        seeds.len(),
        total_heights,
        total_ms / seeds.len().max(1) as u64
    );
    assert!(
        failures.is_empty(),
        "replay with DELTACHAIN_SIM_SEED=<seed>:\n{}",
        failures.join("\n")
    );
}

/// Same seed, same run: the whole simulation is deterministic.
#[test]
fn a_seed_replays_exactly() {
    let chain = |seed| {
        let mut sim = Sim::new(seed, Mutation::None);
        sim.run();
        sim.nodes
            .iter()
            .map(|n| n.chain.iter().map(|(b, _)| b.hash()).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    assert_eq!(chain(42), chain(42));
}

fn mutation_finds_violation(mutation: Mutation, max_seeds: u64) -> Option<(u64, String)> {
    (1..=max_seeds).find_map(|seed| {
        let (v, _, _) = run_seed(seed, mutation, false);
        v.into_iter()
            .find(|m| m.starts_with("SAFETY"))
            .map(|m| (seed, m))
    })
}

/// With a 2f quorum, two halves of a partition can both decide: the checker
/// must see it.
#[test]
fn mutation_quorum_2f_is_caught() {
    let found = mutation_finds_violation(Mutation::QuorumTwoF, 200);
    assert!(found.is_some(), "the checker missed a 2f quorum");
    eprintln!("2f quorum caught: {found:?}");
}

/// Without locking, a value can be decided in one round and another value in
/// a later one: the checker must see it.
#[test]
fn mutation_no_locking_is_caught() {
    let found = mutation_finds_violation(Mutation::NoLocking, 400);
    assert!(found.is_some(), "the checker missed disabled locking");
    eprintln!("disabled locking caught: {found:?}");
}

/// A validator restarted far behind in rounds rejoins. While every
/// proposal is lost, all four validators climb rounds without deciding.
/// Validator 2 crashes early; the other three climb far past the round
/// window. Then validator 3 crashes and 2 restarts (at the round of its
/// WAL) as proposals flow again. Only 0, 1 and 2 together make a quorum,
/// so the height is decided only if 2 follows the others' round through
/// the round skip beyond the window.
#[test]
fn a_validator_restarted_far_behind_in_rounds_rejoins() {
    let resume_at = 700_000;
    let sc = Scenario {
        n: 4,
        byzantine: Vec::new(),
        loss_pct: 0,
        dup_pct: 0,
        max_delay_ms: 20,
        partition: None,
        crash: vec![(2, 60_000, resume_at + 1000), (3, resume_at, u64::MAX)],
        drop_proposals: Some((1_000, resume_at)),
        heal_ms: resume_at,
        end_ms: resume_at + 60_000,
    };
    let mut sim = Sim::build(7, Rng(7), sc, Mutation::None);
    sim.run();
    let v = std::mem::take(&mut sim.violations);
    assert!(v.is_empty(), "{v:?}");
    let first_after = |sim: &Sim, i: usize| {
        sim.nodes[i]
            .chain
            .iter()
            .zip(&sim.nodes[i].decided_at)
            .find(|(_, t)| **t > resume_at)
            .map(|((_, cert), _)| cert.round)
    };
    for i in 0..3 {
        let after = sim.nodes[i]
            .decided_at
            .iter()
            .filter(|t| **t > resume_at)
            .count();
        assert!(
            after >= 2,
            "node {i} decided {after} heights after the restart (h{} r{})",
            sim.nodes[i].machine.height(),
            sim.nodes[i].machine.round()
        );
    }
    // The stall really went past the window before the restart.
    let round = first_after(&sim, 0).expect("a decision after the restart");
    assert!(
        round > ROUND_WINDOW + 10,
        "decided in round {round}: the others were not past the window"
    );
}

/// Every byzantine behaviour, with f validators doing it at once, on four
/// and on seven validators, under the seed's loss, partitions and crashes:
/// safety, validity, liveness and bounded memory hold.
#[test]
fn each_byzantine_behaviour_with_f_faulty() {
    let mut failures = Vec::new();
    for (k, behaviour) in FAULTS.iter().enumerate() {
        for seed in [1000 + k as u64, 2000 + k as u64] {
            let mut sim = Sim::new(seed, Mutation::None);
            let f = (sim.sc.n - 1) / 3;
            sim.sc.byzantine = vec![*behaviour; f];
            for (i, node) in sim.nodes.iter_mut().enumerate() {
                node.behaviour = sim
                    .sc
                    .byzantine
                    .get(i)
                    .copied()
                    .unwrap_or(Behaviour::Honest);
            }
            // Crashes hit honest nodes only: f faulty are the budget.
            sim.sc.crash.retain(|c| c.0 >= f);
            let (v, _, _) = run_sim(sim, seed, Mutation::None, true);
            if !v.is_empty() {
                failures.push(format!("{behaviour:?} seed {seed}: {}", v.join("; ")));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn quorum_sizes() {
    assert_eq!(quorum(4), 3);
    assert_eq!(quorum(5), 4);
    assert_eq!(quorum(7), 5);
    let _unused: Option<(PublicKey, SignedVote)> = None;
}
