//! Tendermint BFT consensus as a pure state machine.
//!
//! This is Algorithm 1 of Buchman, Kwon and Milosevic, "The latest gossip on
//! BFT consensus" (2018); `TENDERMINT.md` restates it rule by rule, and the
//! rule labels (L22, L28, ...) appear in the code below. The machine does no
//! I/O: the node feeds it [`Input`]s (messages, fired timeouts, validation
//! results, built proposals) through [`Consensus::step`] and carries out the
//! returned [`Output`]s in order. Time is an input, signing is deterministic
//! ed25519, and all state lives in ordered maps, so a seeded simulation
//! replays exactly.
//!
//! ## What we add to the paper
//!
//! * **Persist before send.** Every message we sign is first returned as
//!   [`Output::Persist`]; the caller makes it durable before it carries out
//!   the [`Output::Broadcast`] that follows. On restart the machine is
//!   rebuilt from those records ([`Consensus::new`] with the WAL) and never
//!   signs a second, different message for a (height, round, step): it
//!   re-sends the recorded one. The latest non-nil precommit restores the
//!   lock (`lockedRound` and the locked block's hash), so a crash cannot
//!   unlock a validator. Only our own proposals carry their block in the
//!   WAL (to re-send them); precommits do not, which keeps the per-height
//!   WAL write small.
//! * **valid(v)** is asked of the node with [`Output::Validate`] and answered
//!   with [`Input::Validated`]; rules that need it wait for the answer.
//! * **Decisions** (L49) accept a precommit quorum at any round for any block
//!   we hold and found valid, not only the block proposed in that round: the
//!   quorum is what makes a value safe, and this helps a node that missed one
//!   proposal but holds the block from another.
//! * **After deciding** the machine waits `timeout_commit` (in step
//!   [`Step::Commit`]) before starting the next height, for late precommits;
//!   the node commits the block meanwhile.
//! * **Gossip is lossy**: [`Input::Rebroadcast`] re-sends our proposal and
//!   votes of the current height (and, while committing, the decision's
//!   precommits). Messages for the next height are buffered (bounded); when
//!   f+1 validators are seen at higher heights the machine asks for block
//!   sync ([`Output::SyncNeeded`]).
//! * **Equivocation**: a second, different vote from a validator for one
//!   (height, round, kind) is reported once as [`Output::Evidence`] and not
//!   counted.
//! * **Round 0 waits for transactions**: the proposer may wait up to
//!   `max_block_interval_ms` for transactions, so round 0's propose timeout
//!   is extended by that much.
//! * **Bounded memory**: votes and proposals are kept only for the current
//!   height and rounds up to [`ROUND_WINDOW`] ahead; messages for the next
//!   height are buffered one per (round, kind, sender), bounded by
//!   [`MAX_FUTURE_BYTES`]. Beyond the window only each validator's highest
//!   round is remembered, so f+1 of them still drive the round skip (L55)
//!   and a validator restarted far behind in rounds can rejoin.
//! * **Nothing unverified is cached**: a proposal's signature, proposer and
//!   body (`tx_root`, `tx_count`, `last_commit_hash` against the
//!   transactions) are checked before its block is held; a `Commit` is held
//!   only with a verified certificate. Validity is keyed by the header hash,
//!   so a relayed copy with a tampered body must not reach it first.
//! * **Timeliness is for prevoting only**: [`Input::Validated`] reports the
//!   block's validity and, separately, whether its time is close to our
//!   clock. A fresh proposal (L22) needs both; L28, L36 and L49 need only
//!   validity, so a node whose clock lags still decides a block a quorum
//!   precommitted (as in Tendermint's proposer-based timestamps).
//! * **A signing floor**: [`Consensus::set_sign_floor`] gives the last
//!   (height, round, step) this validator signed, from a state file kept
//!   outside the data directory. The machine never signs a new message at
//!   or below it, so a validator whose data directory (and WAL) was deleted
//!   cannot sign a conflicting vote.
//! * **Verdicts for gossip**: [`Consensus::on_gossip`] says whether a
//!   message was useful, useless (stale, duplicate) or invalid (bad
//!   signature, wrong proposer, tampered body), so the node forwards only
//!   what verified and penalises peers that relay forgeries.

mod votes;

use std::collections::{BTreeMap, BTreeSet};

use deltachain_protocol::{
    one_third_plus, quorum, Block, CommitCertificate, CommitSig, ConsensusParams, Hash, Height,
    Keypair, Proposal, PublicKey, Round, SignedProposal, SignedVote, ValidatorIndex, Vote,
    VoteKind,
};
use serde::{Deserialize, Serialize};

pub use votes::{Added, Equivocation, VoteKeeper};

/// Rounds beyond the current one for which messages are kept.
pub const ROUND_WINDOW: Round = 64;
/// Messages for the next height kept until we get there: at most one per
/// (round, kind, validator) within [`ROUND_WINDOW`] of round 0, and at most
/// this many bytes (counted as an upper bound: 4 KiB a transaction); over
/// it, the highest rounds go first, so the proposal a node needs on arrival
/// (round 0) is the last to be dropped.
pub const MAX_FUTURE_BYTES: usize = 64 << 20;
/// Distinct blocks kept per height for rounds other than the current one;
/// the current round's proposal and a certified decision are always kept.
pub const MAX_BLOCKS_PER_HEIGHT: usize = 32;

/// Deliberate protocol faults, for the simulation's mutation tests only. A
/// simulation run with a mutation must find a safety violation, which shows
/// the checker has teeth. Nodes always run [`Mutation::None`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mutation {
    /// The real algorithm.
    #[default]
    None,
    /// Ignore `lockedValue`/`lockedRound` when prevoting (L22, L28).
    NoLocking,
    /// Use 2f votes instead of 2f+1 as the quorum.
    QuorumTwoF,
}

/// Static configuration of a consensus instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// Chain id, mixed into every signature.
    pub chain_id: String,
    /// Validator keys in index order.
    pub validators: Vec<PublicKey>,
    /// Timeouts.
    pub params: ConsensusParams,
    /// Test-only fault injection.
    pub mutation: Mutation,
}

/// The step within a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Waiting for a proposal.
    Propose,
    /// Prevoted.
    Prevote,
    /// Precommitted.
    Precommit,
    /// Decided; waiting `timeout_commit` before the next height.
    Commit,
}

/// Which timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimeoutKind {
    /// OnTimeoutPropose (L57).
    Propose,
    /// OnTimeoutPrevote (L61).
    Prevote,
    /// OnTimeoutPrecommit (L65).
    Precommit,
    /// End of the pause after a decision.
    Commit,
}

/// A timeout to schedule, and later to feed back as [`Input::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timeout {
    /// Height it belongs to.
    pub height: Height,
    /// Round it belongs to.
    pub round: Round,
    /// Kind.
    pub kind: TimeoutKind,
    /// Delay from now.
    pub duration_ms: u64,
}

/// A consensus message on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A signed proposal with its block.
    Proposal {
        /// The signed proposal.
        proposal: SignedProposal,
        /// The proposed block.
        block: Block,
    },
    /// A signed vote.
    Vote(SignedVote),
    /// A decided block with its certificate, sent to a peer seen one height
    /// behind so it can decide without waiting for block sync.
    Commit {
        /// The decided block.
        block: Block,
        /// Its commit certificate.
        cert: CommitCertificate,
    },
}

impl Message {
    /// Height the message is about.
    pub fn height(&self) -> Height {
        match self {
            Message::Proposal { proposal, .. } => proposal.proposal.height,
            Message::Vote(v) => v.vote.height,
            Message::Commit { cert, .. } => cert.height,
        }
    }
}

/// A record of something we signed, made durable before it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalEntry {
    /// Our proposal and its block.
    Proposal {
        /// The signed proposal.
        proposal: SignedProposal,
        /// Its block.
        block: Box<Block>,
    },
    /// Our vote (a non-nil precommit is also our lock).
    Vote(SignedVote),
}

impl WalEntry {
    /// Height of the record.
    pub fn height(&self) -> Height {
        match self {
            WalEntry::Proposal { proposal, .. } => proposal.proposal.height,
            WalEntry::Vote(vote) => vote.vote.height,
        }
    }
}

/// Something that happened to the machine.
#[derive(Debug, Clone)]
pub enum Input {
    /// A message from the network (or from ourselves, looped back).
    Message(Message),
    /// A scheduled timeout fired.
    Timeout(Timeout),
    /// The node finished checking a block requested by [`Output::Validate`].
    Validated {
        /// Height of the block.
        height: Height,
        /// Its hash.
        hash: Hash,
        /// `valid(v)`: everything every honest node agrees on.
        valid: bool,
        /// Whether the block's time is close to our clock: required to
        /// prevote a fresh proposal (L22), never to lock or decide.
        timely: bool,
    },
    /// The node built the block requested by [`Output::BuildProposal`].
    ProposalBuilt {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// The block.
        block: Block,
    },
    /// Time to re-send our messages.
    Rebroadcast,
    /// The node committed blocks up to `height` by block sync.
    Synced {
        /// New tip height.
        height: Height,
    },
}

/// Something the node must do, in order.
#[derive(Debug, Clone)]
pub enum Output {
    /// Make this record durable before carrying out any later output.
    Persist(WalEntry),
    /// Send a message to all peers.
    Broadcast(Message),
    /// Schedule a timeout.
    Schedule(Timeout),
    /// Build a block for our proposal (answer with [`Input::ProposalBuilt`]).
    BuildProposal {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
    },
    /// Check `valid(block)` (answer with [`Input::Validated`]).
    Validate {
        /// Height.
        height: Height,
        /// The block.
        block: Block,
    },
    /// The block is decided; commit it with this certificate.
    Decide {
        /// The block.
        block: Block,
        /// 2f+1 precommits for it.
        cert: CommitCertificate,
    },
    /// A validator equivocated.
    Evidence(Box<Equivocation>),
    /// f+1 validators are past our height: fetch committed blocks up to
    /// `committed` by block sync.
    SyncNeeded {
        /// A height the network has committed.
        committed: Height,
    },
}

/// Once-per-round rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Once {
    L34,
    L36,
    L47,
}

/// A point in the order in which a validator signs: height, round, then
/// proposal < prevote < precommit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SignPoint {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// 0 proposal, 1 prevote, 2 precommit.
    pub step: u8,
}

impl SignPoint {
    /// The point of a WAL record.
    pub fn of(entry: &WalEntry) -> SignPoint {
        match entry {
            WalEntry::Proposal { proposal, .. } => SignPoint {
                height: proposal.proposal.height,
                round: proposal.proposal.round,
                step: 0,
            },
            WalEntry::Vote(v) => SignPoint {
                height: v.vote.height,
                round: v.vote.round,
                step: match v.vote.kind {
                    VoteKind::Prevote => 1,
                    VoteKind::Precommit => 2,
                },
            },
        }
    }
}

/// What a gossiped message was worth, for the network's forwarding and
/// peer scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Verified and new: forward it.
    Accept,
    /// Harmless but useless (stale, duplicate, outside the windows): drop
    /// it without blaming the sender.
    Ignore,
    /// Provably bad (bad signature, wrong proposer, body not bound to the
    /// header, certificate without a quorum): drop it and blame the sender.
    Reject,
}

/// Key of a buffered next-height message: one per (round, kind, sender).
type FutureKey = (Round, u8, ValidatorIndex);

/// One validator's (or observer's) consensus state.
pub struct Consensus {
    cfg: Config,
    key: Keypair,
    me: Option<ValidatorIndex>,
    quorum: usize,
    skip: usize,
    height: Height,
    round: Round,
    step: Step,
    locked: Option<(Round, Hash)>,
    valid: Option<(Round, Hash)>,
    votes: VoteKeeper,
    proposals: BTreeMap<Round, SignedProposal>,
    blocks: BTreeMap<Hash, Block>,
    validity: BTreeMap<Hash, bool>,
    untimely: BTreeSet<Hash>,
    signed_votes: BTreeMap<(Round, VoteKind), SignedVote>,
    signed_proposals: BTreeMap<Round, SignedProposal>,
    fired: BTreeSet<(Round, Once)>,
    future: BTreeMap<FutureKey, (Message, usize)>,
    future_bytes: usize,
    far_rounds: BTreeMap<ValidatorIndex, Round>,
    sign_floor: Option<SignPoint>,
    ahead: BTreeMap<ValidatorIndex, Height>,
    sync_requested: Height,
    decision: Option<(Block, CommitCertificate)>,
    last_decision: Option<(Block, CommitCertificate)>,
    peer_behind: bool,
}

impl Consensus {
    /// A machine at `height` (our tip + 1), restored from the WAL records we
    /// wrote at that height. Call [`Consensus::start`] next.
    pub fn new(cfg: Config, key: Keypair, height: Height, wal: Vec<WalEntry>) -> Consensus {
        let n = cfg.validators.len();
        let me = cfg
            .validators
            .iter()
            .position(|v| *v == key.public())
            .map(|i| i as ValidatorIndex);
        let quorum = match cfg.mutation {
            Mutation::QuorumTwoF => (2 * ((n - 1) / 3)).max(1),
            _ => quorum(n),
        };
        let mut c = Consensus {
            skip: one_third_plus(n),
            quorum,
            cfg,
            key,
            me,
            height,
            round: 0,
            step: Step::Propose,
            locked: None,
            valid: None,
            votes: VoteKeeper::default(),
            proposals: BTreeMap::new(),
            blocks: BTreeMap::new(),
            validity: BTreeMap::new(),
            untimely: BTreeSet::new(),
            signed_votes: BTreeMap::new(),
            signed_proposals: BTreeMap::new(),
            fired: BTreeSet::new(),
            future: BTreeMap::new(),
            future_bytes: 0,
            far_rounds: BTreeMap::new(),
            sign_floor: None,
            ahead: BTreeMap::new(),
            sync_requested: 0,
            decision: None,
            last_decision: None,
            peer_behind: false,
        };
        for entry in wal.into_iter().filter(|e| e.height() == height) {
            c.restore(entry);
        }
        c
    }

    fn restore(&mut self, entry: WalEntry) {
        match entry {
            WalEntry::Proposal { proposal, block } => {
                let p = proposal.proposal;
                self.round = self.round.max(p.round);
                self.signed_proposals.insert(p.round, proposal);
                self.proposals.insert(p.round, proposal);
                self.validity.insert(p.block_hash, true);
                self.blocks.insert(p.block_hash, *block);
            }
            WalEntry::Vote(vote) => {
                let v = vote.vote;
                self.round = self.round.max(v.round);
                self.signed_votes.insert((v.round, v.kind), vote);
                self.votes.add(vote);
                // Our lock is the latest non-nil precommit we signed. Its
                // hash is all safety needs; the block itself returns with
                // any re-proposal.
                if let (VoteKind::Precommit, Some(hash)) = (v.kind, v.block) {
                    if self.locked.is_none_or(|(r, _)| r < v.round) {
                        self.locked = Some((v.round, hash));
                        self.valid = Some((v.round, hash));
                    }
                }
            }
        }
    }

    /// Starts (or, after a restart, resumes) the current round.
    pub fn start(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        self.start_round(self.round, &mut out);
        self.apply_rules(&mut out);
        out
    }

    /// Current height.
    pub fn height(&self) -> Height {
        self.height
    }

    /// Current round.
    pub fn round(&self) -> Round {
        self.round
    }

    /// Current step.
    pub fn current_step(&self) -> Step {
        self.step
    }

    /// Our validator index, if we are a validator.
    pub fn validator_index(&self) -> Option<ValidatorIndex> {
        self.me
    }

    /// Tells the machine the committed block just below its height, with its
    /// certificate, so it can hand them to peers still deciding that height.
    /// The node calls this after a restart and after block sync, when the
    /// machine did not decide that block itself: without it, a peer that
    /// missed the last precommits and a restarted node that already
    /// committed could wait on each other forever.
    pub fn set_last_decision(&mut self, block: Block, cert: CommitCertificate) {
        if cert.height + 1 == self.height && block.hash() == cert.block_hash {
            self.last_decision = Some((block, cert));
        }
    }

    /// The lock, for tests and metrics.
    pub fn locked(&self) -> Option<(Round, Hash)> {
        self.locked
    }

    /// proposer(h, r): round-robin by height + round.
    pub fn proposer(&self, height: Height, round: Round) -> ValidatorIndex {
        ((height + round as u64) % self.cfg.validators.len() as u64) as ValidatorIndex
    }

    /// Feeds one input; returns what to do, in order.
    pub fn step(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Message(m) => {
                self.on_message(m, &mut out);
            }
            Input::Timeout(t) => self.on_timeout(t, &mut out),
            Input::Validated {
                height,
                hash,
                valid,
                timely,
            } => {
                if height == self.height && self.blocks.contains_key(&hash) {
                    self.validity.insert(hash, valid);
                    if !timely {
                        self.untimely.insert(hash);
                    }
                }
            }
            Input::ProposalBuilt {
                height,
                round,
                block,
            } => {
                if height == self.height
                    && round == self.round
                    && self.step == Step::Propose
                    && self.me == Some(self.proposer(height, round))
                    && !self.signed_proposals.contains_key(&round)
                    && block.header.height == height
                {
                    self.propose(block, None, &mut out);
                }
            }
            Input::Rebroadcast => self.rebroadcast(&mut out),
            Input::Synced { height } => {
                if height >= self.height {
                    self.advance(height + 1, &mut out);
                }
            }
        }
        self.apply_rules(&mut out);
        out
    }

    fn timeout(&self, kind: TimeoutKind, round: Round) -> Timeout {
        let p = &self.cfg.params;
        let duration_ms = match kind {
            TimeoutKind::Propose => {
                let extra = if round == 0 {
                    p.max_block_interval_ms
                } else {
                    0
                };
                p.timeout_ms(p.timeout_propose_ms, round) + extra
            }
            TimeoutKind::Prevote => p.timeout_ms(p.timeout_prevote_ms, round),
            TimeoutKind::Precommit => p.timeout_ms(p.timeout_precommit_ms, round),
            TimeoutKind::Commit => p.timeout_commit_ms,
        };
        Timeout {
            height: self.height,
            round,
            kind,
            duration_ms,
        }
    }

    /// StartRound(r) (L11).
    fn start_round(&mut self, round: Round, out: &mut Vec<Output>) {
        debug_assert!(round >= self.round, "rounds never go back");
        self.round = round;
        self.step = Step::Propose;
        if self.me == Some(self.proposer(self.height, round)) {
            if let Some(sp) = self.signed_proposals.get(&round).copied() {
                if let Some(block) = self.blocks.get(&sp.proposal.block_hash).cloned() {
                    out.push(Output::Broadcast(Message::Proposal {
                        proposal: sp,
                        block,
                    }));
                }
            } else if let Some((vr, block)) = self
                .valid
                .and_then(|(vr, vh)| self.blocks.get(&vh).cloned().map(|b| (vr, b)))
            {
                self.propose(block, Some(vr), out);
            } else {
                // No valid value, or (after a restart) we hold only its hash:
                // a fresh block is safe, locked validators still refuse it.
                out.push(Output::BuildProposal {
                    height: self.height,
                    round,
                });
            }
        }
        out.push(Output::Schedule(self.timeout(TimeoutKind::Propose, round)));
    }

    fn propose(&mut self, block: Block, pol_round: Option<Round>, out: &mut Vec<Output>) {
        let Some(me) = self.me else { return };
        let point = SignPoint {
            height: self.height,
            round: self.round,
            step: 0,
        };
        if !self.may_sign(point) {
            return;
        }
        let hash = block.hash();
        let sp = Proposal {
            height: self.height,
            round: self.round,
            pol_round,
            block_hash: hash,
            proposer: me,
        }
        .sign(&self.key, &self.cfg.chain_id);
        self.signed_proposals.insert(self.round, sp);
        self.proposals.insert(self.round, sp);
        self.validity.insert(hash, true);
        self.blocks.insert(hash, block.clone());
        out.push(Output::Persist(WalEntry::Proposal {
            proposal: sp,
            block: Box::new(block.clone()),
        }));
        out.push(Output::Broadcast(Message::Proposal {
            proposal: sp,
            block,
        }));
        // A re-proposal is only acceptable to peers that hold its polka
        // (L28); send the polka with it rather than waiting for the
        // re-broadcast timer, which may fire after their propose timeout.
        if let Some(vr) = pol_round {
            for v in self.votes.votes_for(vr, VoteKind::Prevote, Some(hash)) {
                out.push(Output::Broadcast(Message::Vote(v)));
            }
        }
    }

    /// Signs (or, if already signed for this round and kind, re-sends) a vote.
    fn vote(&mut self, kind: VoteKind, value: Option<Hash>, out: &mut Vec<Output>) {
        let Some(me) = self.me else { return };
        let key = (self.round, kind);
        let point = SignPoint {
            height: self.height,
            round: self.round,
            step: match kind {
                VoteKind::Prevote => 1,
                VoteKind::Precommit => 2,
            },
        };
        let sv = match self.signed_votes.get(&key) {
            // Double-sign protection: whatever the rules say now, the vote
            // we signed before is the only one we ever send.
            Some(existing) => *existing,
            // The signing floor: we may have signed here before and lost
            // the record (a deleted data directory). Stay silent.
            None if !self.may_sign(point) => return,
            None => {
                let sv = Vote {
                    height: self.height,
                    round: self.round,
                    kind,
                    block: value,
                    validator: me,
                }
                .sign(&self.key, &self.cfg.chain_id);
                self.signed_votes.insert(key, sv);
                out.push(Output::Persist(WalEntry::Vote(sv)));
                sv
            }
        };
        out.push(Output::Broadcast(Message::Vote(sv)));
        self.count_vote(sv, out);
    }

    fn count_vote(&mut self, sv: SignedVote, out: &mut Vec<Output>) {
        if let Added::Conflict(Some(ev)) = self.votes.add(sv) {
            out.push(Output::Evidence(ev));
        }
    }

    fn note_ahead(&mut self, validator: ValidatorIndex, height: Height, out: &mut Vec<Output>) {
        let e = self.ahead.entry(validator).or_insert(0);
        *e = (*e).max(height);
        let mut heights: Vec<Height> = self.ahead.values().copied().collect();
        heights.sort_unstable_by(|a, b| b.cmp(a));
        if heights.len() >= self.skip {
            // At least f+1 validators are at this height or above, so at least
            // one honest validator has committed every height below it.
            let committed = heights[self.skip - 1] - 1;
            if committed >= self.height && committed > self.sync_requested {
                self.sync_requested = committed;
                out.push(Output::SyncNeeded { committed });
            }
        }
    }

    /// Feeds a message from the network and says what it was worth.
    pub fn on_gossip(&mut self, m: Message) -> (Verdict, Vec<Output>) {
        let mut out = Vec::new();
        let verdict = self.on_message(m, &mut out);
        self.apply_rules(&mut out);
        (verdict, out)
    }

    /// Sets the last point this validator signed, from state kept outside
    /// the WAL: no new message at or below it is ever signed.
    pub fn set_sign_floor(&mut self, floor: Option<SignPoint>) {
        self.sign_floor = floor;
    }

    /// True if signing a new message at `point` is allowed.
    fn may_sign(&self, point: SignPoint) -> bool {
        self.sign_floor.is_none_or(|f| point > f)
    }

    /// Bytes of next-height messages buffered (bounded by [`MAX_FUTURE_BYTES`]).
    pub fn buffered_bytes(&self) -> usize {
        self.future_bytes
    }

    /// Blocks held for the current height.
    pub fn blocks_held(&self) -> usize {
        self.blocks.len()
    }

    /// A validator's key, if the index is in range.
    fn key_of(&self, index: ValidatorIndex) -> Option<PublicKey> {
        self.cfg.validators.get(index as usize).copied()
    }

    /// Checks that a block's body is the one its header commits to, so that
    /// the header hash (our key for blocks and validity) names one body.
    fn body_bound(block: &Block) -> bool {
        // The count first: it costs nothing, hashing every transaction does.
        block.header.tx_count as usize == block.txs.len()
            && block.check_body(&block.tx_hashes()).is_ok()
    }

    fn on_message(&mut self, m: Message, out: &mut Vec<Output>) -> Verdict {
        self.handle(m, out, false)
    }

    /// `verified`: the message passed its signature and body checks when it
    /// was buffered for this height, so they are not repeated.
    fn handle(&mut self, m: Message, out: &mut Vec<Output>, verified: bool) -> Verdict {
        let n = self.cfg.validators.len();
        if m.height() + 1 == self.height {
            // A peer still deciding our last height: help it, but only if
            // the message is really a validator's (a forged one must not
            // make us re-send whole blocks).
            let genuine = match &m {
                Message::Vote(sv) => self
                    .key_of(sv.vote.validator)
                    .is_some_and(|k| sv.verify(&self.cfg.chain_id, &k).is_ok()),
                Message::Proposal { proposal, .. } => self
                    .key_of(proposal.proposal.proposer)
                    .is_some_and(|k| proposal.verify(&self.cfg.chain_id, &k).is_ok()),
                Message::Commit { .. } => false,
            };
            if !genuine {
                return match m {
                    Message::Commit { .. } => Verdict::Ignore,
                    _ => Verdict::Reject,
                };
            }
            self.peer_behind = true;
            return Verdict::Ignore;
        }
        if m.height() < self.height {
            return Verdict::Ignore;
        }
        match &m {
            Message::Commit { block, cert } => {
                if block.hash() != cert.block_hash || block.header.height != cert.height {
                    return Verdict::Reject;
                }
                if cert.height == self.height
                    && self.blocks.contains_key(&cert.block_hash)
                    && self.decision.is_some()
                {
                    return Verdict::Ignore; // Already decided with it.
                }
                // Only a verified certificate and a bound body may be held:
                // an empty signature list must not occupy the block cache.
                if !verified
                    && (cert
                        .verify(
                            &self.cfg.chain_id,
                            cert.height,
                            &cert.block_hash,
                            &self.cfg.validators,
                        )
                        .is_err()
                        || !Self::body_bound(block))
                {
                    return Verdict::Reject;
                }
                if cert.height > self.height {
                    for s in &cert.signatures {
                        self.note_ahead(s.validator, cert.height, out);
                    }
                    self.buffer(m);
                    return Verdict::Accept;
                }
                // A certified block is the one block this height can decide:
                // it is always held, whatever else fills the cache.
                self.blocks
                    .entry(cert.block_hash)
                    .or_insert_with(|| block.clone());
                if !self.validity.contains_key(&cert.block_hash) {
                    out.push(Output::Validate {
                        height: self.height,
                        block: block.clone(),
                    });
                }
                for s in &cert.signatures {
                    let vote = SignedVote {
                        vote: cert.vote_of(s),
                        signature: s.signature,
                    };
                    // Verified with the certificate.
                    if !self.votes.contains(&vote) {
                        self.count_vote(vote, out);
                    }
                }
                Verdict::Accept
            }
            Message::Vote(sv) => {
                let v = sv.vote;
                if v.validator as usize >= n {
                    return Verdict::Reject;
                }
                if v.height == self.height && self.votes.contains(sv) {
                    return Verdict::Ignore; // Re-broadcast copy of a vote we already counted.
                }
                if v.height == self.height + 1
                    && (v.round > ROUND_WINDOW || self.future.contains_key(&Self::future_key(&m)))
                {
                    return Verdict::Ignore; // Outside the window, or its slot is taken.
                }
                if v.height > self.height + 1
                    && self.ahead.get(&v.validator).is_some_and(|h| *h >= v.height)
                {
                    // Already known to be this far ahead: nothing to learn,
                    // and no signature to check.
                    return Verdict::Ignore;
                }
                let far =
                    v.height == self.height && v.round > self.round.saturating_add(ROUND_WINDOW);
                if far
                    && self
                        .far_rounds
                        .get(&v.validator)
                        .is_some_and(|r| *r >= v.round)
                {
                    return Verdict::Ignore;
                }
                let key = self.cfg.validators[v.validator as usize];
                if !verified && sv.verify(&self.cfg.chain_id, &key).is_err() {
                    return Verdict::Reject;
                }
                if far {
                    self.note_far_round(v.validator, v.round, out);
                    return Verdict::Accept;
                }
                if v.height > self.height {
                    self.note_ahead(v.validator, v.height, out);
                    self.buffer(m);
                    return Verdict::Accept;
                }
                self.count_vote(*sv, out);
                Verdict::Accept
            }
            Message::Proposal { proposal, block } => {
                let p = proposal.proposal;
                if p.proposer as usize >= n || p.proposer != self.proposer(p.height, p.round) {
                    return Verdict::Reject;
                }
                if p.height == self.height && self.proposals.contains_key(&p.round) {
                    // First proposal per round wins; a copy is harmless, a
                    // second, different one is the proposer's fault.
                    return Verdict::Ignore;
                }
                let far =
                    p.height == self.height && p.round > self.round.saturating_add(ROUND_WINDOW);
                let key = self.cfg.validators[p.proposer as usize];
                if (!verified && proposal.verify(&self.cfg.chain_id, &key).is_err())
                    || block.hash() != p.block_hash
                    || block.header.height != p.height
                    || p.pol_round.is_some_and(|vr| vr >= p.round)
                    // A fresh proposal carries its proposer's key in the
                    // header; a re-proposal carries the original proposer's.
                    || (p.pol_round.is_none() && block.header.proposer != key)
                    || !self.cfg.validators.contains(&block.header.proposer)
                    || (!verified && !Self::body_bound(block))
                {
                    return Verdict::Reject;
                }
                if far {
                    self.note_far_round(p.proposer, p.round, out);
                    return Verdict::Accept;
                }
                if p.height > self.height {
                    self.note_ahead(p.proposer, p.height, out);
                    self.buffer(m);
                    return Verdict::Accept;
                }
                if !self.blocks.contains_key(&p.block_hash) {
                    // The current round's proposal always has room; other
                    // rounds' share the bounded cache.
                    if p.round != self.round && self.blocks.len() >= MAX_BLOCKS_PER_HEIGHT {
                        return Verdict::Ignore;
                    }
                    self.blocks.insert(p.block_hash, block.clone());
                }
                self.proposals.insert(p.round, *proposal);
                if !self.validity.contains_key(&p.block_hash) {
                    out.push(Output::Validate {
                        height: self.height,
                        block: block.clone(),
                    });
                }
                Verdict::Accept
            }
        }
    }

    /// L55 beyond the round window: remembers each validator's highest
    /// round past the window and, once f+1 validators are at a round r* or
    /// above, moves to r*. At least one of them is honest, so r* is a round
    /// the honest network has reached; there the regular rules take over
    /// as the others' re-broadcasts arrive.
    fn note_far_round(&mut self, validator: ValidatorIndex, round: Round, out: &mut Vec<Output>) {
        let e = self.far_rounds.entry(validator).or_insert(0);
        *e = (*e).max(round);
        let mut rounds: Vec<Round> = self.far_rounds.values().copied().collect();
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        if rounds.len() >= self.skip {
            let target = rounds[self.skip - 1];
            if target > self.round && self.step != Step::Commit {
                self.far_rounds
                    .retain(|_, r| *r > target.saturating_add(ROUND_WINDOW));
                self.start_round(target, out);
            }
        }
    }

    /// The slot of a next-height message: one per (round, kind, sender).
    fn future_key(m: &Message) -> FutureKey {
        match m {
            Message::Proposal { proposal, .. } => {
                (proposal.proposal.round, 0, proposal.proposal.proposer)
            }
            Message::Vote(sv) => (
                sv.vote.round,
                match sv.vote.kind {
                    VoteKind::Prevote => 1,
                    VoteKind::Precommit => 2,
                },
                sv.vote.validator,
            ),
            // One certified block per height: a single slot.
            Message::Commit { cert, .. } => (cert.round, 3, 0),
        }
    }

    /// An upper bound of a message's encoded size, without encoding it.
    fn size_bound(m: &Message) -> usize {
        let block = |b: &Block| {
            b.txs.len() * deltachain_protocol::MAX_TX_BYTES
                + b.last_commit
                    .as_ref()
                    .map_or(0, |c| c.signatures.len() * 128)
                + 4096
        };
        match m {
            Message::Proposal { block: b, .. } => block(b),
            Message::Vote(_) => deltachain_protocol::MAX_VOTE_BYTES,
            Message::Commit { block: b, cert } => block(b) + cert.signatures.len() * 128,
        }
    }

    fn buffer(&mut self, m: Message) {
        if m.height() != self.height + 1 {
            return;
        }
        let key = Self::future_key(&m);
        if key.0 > ROUND_WINDOW || self.future.contains_key(&key) {
            return;
        }
        let size = Self::size_bound(&m);
        self.future_bytes += size;
        self.future.insert(key, (m, size));
        // Over budget: the highest rounds go first.
        while self.future_bytes > MAX_FUTURE_BYTES {
            let Some((_, (_, size))) = self.future.pop_last() else {
                break;
            };
            self.future_bytes -= size;
        }
    }

    fn on_timeout(&mut self, t: Timeout, out: &mut Vec<Output>) {
        if t.height != self.height {
            return;
        }
        match t.kind {
            // L57
            TimeoutKind::Propose if t.round == self.round && self.step == Step::Propose => {
                self.vote(VoteKind::Prevote, None, out);
                self.step = Step::Prevote;
            }
            // L61
            TimeoutKind::Prevote if t.round == self.round && self.step == Step::Prevote => {
                self.vote(VoteKind::Precommit, None, out);
                self.step = Step::Precommit;
            }
            // L65
            TimeoutKind::Precommit if t.round == self.round && self.step != Step::Commit => {
                self.start_round(t.round + 1, out);
            }
            TimeoutKind::Commit if self.step == Step::Commit => {
                self.advance(self.height + 1, out);
            }
            _ => {}
        }
    }

    fn rebroadcast(&mut self, out: &mut Vec<Output>) {
        if std::mem::take(&mut self.peer_behind) {
            if let Some((block, cert)) = &self.last_decision {
                out.push(Output::Broadcast(Message::Commit {
                    block: block.clone(),
                    cert: cert.clone(),
                }));
            }
        }
        if let Some((_, cert)) = &self.decision {
            for s in &cert.signatures {
                out.push(Output::Broadcast(Message::Vote(SignedVote {
                    vote: cert.vote_of(s),
                    signature: s.signature,
                })));
            }
            return;
        }
        if let Some(sp) = self.signed_proposals.get(&self.round) {
            // Once a quorum prevoted it, they hold the block; a validator
            // that missed it is helped by the decision, not by the proposer
            // republishing a whole block every second.
            let held =
                self.votes
                    .count(self.round, VoteKind::Prevote, Some(sp.proposal.block_hash));
            if let Some(block) = self
                .blocks
                .get(&sp.proposal.block_hash)
                .filter(|_| held < self.quorum)
            {
                out.push(Output::Broadcast(Message::Proposal {
                    proposal: *sp,
                    block: block.clone(),
                }));
                // The polka that justifies a re-proposal: peers that missed
                // those prevotes cannot accept it otherwise (L28).
                if let Some(vr) = sp.proposal.pol_round {
                    for v in
                        self.votes
                            .votes_for(vr, VoteKind::Prevote, Some(sp.proposal.block_hash))
                    {
                        out.push(Output::Broadcast(Message::Vote(v)));
                    }
                }
            }
        }
        let mut rounds = vec![self.round.saturating_sub(1), self.round];
        if let Some((vr, _)) = self.valid {
            rounds.push(vr);
        }
        rounds.sort_unstable();
        rounds.dedup();
        for round in rounds {
            for kind in [VoteKind::Prevote, VoteKind::Precommit] {
                if let Some(v) = self.signed_votes.get(&(round, kind)) {
                    out.push(Output::Broadcast(Message::Vote(*v)));
                }
            }
        }
    }

    /// Moves to a new height (after a decision's commit pause or a sync).
    fn advance(&mut self, height: Height, out: &mut Vec<Output>) {
        self.last_decision = if height == self.height + 1 {
            self.decision.take()
        } else {
            None
        };
        self.peer_behind = false;
        self.height = height;
        self.round = 0;
        self.step = Step::Propose;
        self.locked = None;
        self.valid = None;
        self.votes = VoteKeeper::default();
        self.proposals.clear();
        self.blocks.clear();
        self.validity.clear();
        self.untimely.clear();
        self.signed_votes.clear();
        self.signed_proposals.clear();
        self.fired.clear();
        self.far_rounds.clear();
        self.decision = None;
        self.ahead.retain(|_, h| *h > height);
        let future = std::mem::take(&mut self.future);
        self.future_bytes = 0;
        self.start_round(0, out);
        for (_, (m, _)) in future {
            if m.height() >= height {
                self.handle(m, out, true);
            }
        }
    }

    fn is_valid(&self, hash: &Hash) -> Option<bool> {
        self.validity.get(hash).copied()
    }

    fn apply_rules(&mut self, out: &mut Vec<Output>) {
        // Each rule changes state when it fires, so this terminates; the bound
        // guards against a bug turning it into a hang.
        for _ in 0..64 {
            if !self.apply_one_rule(out) {
                return;
            }
        }
        debug_assert!(false, "consensus rules did not settle");
    }

    fn lock_allows(&self, v: &Hash, vr: Option<Round>) -> bool {
        if self.cfg.mutation == Mutation::NoLocking {
            return true;
        }
        match (self.locked, vr) {
            (None, _) => true,
            (Some((_, lh)), _) if lh == *v => true,
            (Some((lr, _)), Some(vr)) => lr <= vr,
            (Some(_), None) => false,
        }
    }

    fn apply_one_rule(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step == Step::Commit {
            return false;
        }
        let q = self.quorum;
        let round = self.round;
        let proposal = self.proposals.get(&round).map(|p| p.proposal);

        // L49: a precommit quorum for a block we hold and found valid, any round.
        for r in self.votes.rounds() {
            for v in self.votes.values_with(r, VoteKind::Precommit, q) {
                if self.is_valid(&v) == Some(true) && self.blocks.contains_key(&v) {
                    self.decide(r, v, out);
                    return true;
                }
            }
        }

        // L55: f+1 validators at a higher round.
        if let Some(r) = self
            .votes
            .rounds()
            .into_iter()
            .filter(|r| *r > round)
            .find(|r| {
                let mut who = self.votes.voters(*r);
                if let Some(p) = self.proposals.get(r) {
                    who.push(p.proposal.proposer);
                    who.sort_unstable();
                    who.dedup();
                }
                who.len() >= self.skip
            })
        {
            self.start_round(r, out);
            return true;
        }

        if self.step == Step::Propose {
            if let Some(p) = proposal {
                let v = p.block_hash;
                match p.pol_round {
                    // L22
                    None => {
                        if let Some(valid) = self.is_valid(&v) {
                            let timely = !self.untimely.contains(&v);
                            let vote = (valid && timely && self.lock_allows(&v, None)).then_some(v);
                            self.vote(VoteKind::Prevote, vote, out);
                            self.step = Step::Prevote;
                            return true;
                        }
                    }
                    // L28
                    Some(vr)
                        if vr < round && self.votes.count(vr, VoteKind::Prevote, Some(v)) >= q =>
                    {
                        if let Some(valid) = self.is_valid(&v) {
                            let vote = (valid && self.lock_allows(&v, Some(vr))).then_some(v);
                            self.vote(VoteKind::Prevote, vote, out);
                            self.step = Step::Prevote;
                            return true;
                        }
                    }
                    Some(_) => {}
                }
            }
        }

        // L34
        if self.step == Step::Prevote
            && self.votes.count_any(round, VoteKind::Prevote) >= q
            && self.fired.insert((round, Once::L34))
        {
            out.push(Output::Schedule(self.timeout(TimeoutKind::Prevote, round)));
            return true;
        }

        // L36
        if self.step >= Step::Prevote && !self.fired.contains(&(round, Once::L36)) {
            if let Some(p) = proposal {
                let v = p.block_hash;
                if self.is_valid(&v) == Some(true)
                    && self.votes.count(round, VoteKind::Prevote, Some(v)) >= q
                {
                    self.fired.insert((round, Once::L36));
                    if self.step == Step::Prevote {
                        self.locked = Some((round, v));
                        self.vote(VoteKind::Precommit, Some(v), out);
                        self.step = Step::Precommit;
                    }
                    self.valid = Some((round, v));
                    return true;
                }
            }
        }

        // L44
        if self.step == Step::Prevote && self.votes.count(round, VoteKind::Prevote, None) >= q {
            self.vote(VoteKind::Precommit, None, out);
            self.step = Step::Precommit;
            return true;
        }

        // L47
        if self.votes.count_any(round, VoteKind::Precommit) >= q
            && self.fired.insert((round, Once::L47))
        {
            out.push(Output::Schedule(
                self.timeout(TimeoutKind::Precommit, round),
            ));
            return true;
        }
        false
    }

    fn decide(&mut self, round: Round, v: Hash, out: &mut Vec<Output>) {
        let block = self.blocks.get(&v).cloned().expect("decided block is held");
        let signatures = self
            .votes
            .votes_for(round, VoteKind::Precommit, Some(v))
            .into_iter()
            .map(|sv| CommitSig {
                validator: sv.vote.validator,
                signature: sv.signature,
            })
            .collect();
        let cert = CommitCertificate {
            height: self.height,
            round,
            block_hash: v,
            signatures,
        };
        self.step = Step::Commit;
        self.decision = Some((block.clone(), cert.clone()));
        out.push(Output::Decide { block, cert });
        out.push(Output::Schedule(self.timeout(TimeoutKind::Commit, round)));
    }
}

#[cfg(test)]
mod tests;
