//! Vote bookkeeping for one height: tallies per (round, kind, value) and
//! equivocation evidence.
//!
//! A validator that signs two different votes for one (round, kind) is
//! reported once, and *each* of its votes counts toward its own value: a
//! quorum for X and a quorum for Y at one round still intersect in f+1
//! validators, at least one of them honest, and honest validators never sign
//! both, so counting an equivocator for every value it signed cannot make
//! two conflicting quorums. Counting only its first vote, as a naive keeper
//! would, lets an equivocator show different halves of the network different
//! votes and hide a real polka from some honest validators forever.
//!
//! Memory is bounded: at most [`MAX_VALUES_PER_VOTER`] distinct votes per
//! validator per (round, kind). When a validator is at the cap, a new vote
//! for a value other validators also voted for displaces one for a value
//! nobody else supports, so garbage cannot crowd out a real polka.

use std::collections::BTreeMap;

use deltachain_protocol::{Hash, Round, SignedVote, ValidatorIndex, VoteKind};

/// Most distinct votes kept per validator per (round, kind).
pub const MAX_VALUES_PER_VOTER: usize = 4;

/// Two different signed votes from one validator for the same height, round
/// and kind: proof of equivocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    /// The first vote seen.
    pub first: SignedVote,
    /// The conflicting vote.
    pub second: SignedVote,
}

/// Result of adding a vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// A new vote, now counted.
    New,
    /// The same vote again.
    Duplicate,
    /// A conflicting vote; evidence is returned the first time only.
    Conflict(Option<Box<Equivocation>>),
}

#[derive(Debug, Default, Clone)]
struct KindVotes {
    by_validator: BTreeMap<ValidatorIndex, Vec<SignedVote>>,
    reported: BTreeMap<ValidatorIndex, ()>,
}

impl KindVotes {
    fn support(&self, value: Option<Hash>, except: ValidatorIndex) -> usize {
        self.by_validator
            .iter()
            .filter(|(v, votes)| **v != except && votes.iter().any(|sv| sv.vote.block == value))
            .count()
    }
}

#[derive(Debug, Default, Clone)]
struct RoundVotes {
    prevotes: KindVotes,
    precommits: KindVotes,
}

/// All votes of one height.
#[derive(Debug, Default, Clone)]
pub struct VoteKeeper {
    rounds: BTreeMap<Round, RoundVotes>,
}

impl VoteKeeper {
    fn kind_mut(&mut self, round: Round, kind: VoteKind) -> &mut KindVotes {
        let r = self.rounds.entry(round).or_default();
        match kind {
            VoteKind::Prevote => &mut r.prevotes,
            VoteKind::Precommit => &mut r.precommits,
        }
    }

    fn kind(&self, round: Round, kind: VoteKind) -> Option<&KindVotes> {
        self.rounds.get(&round).map(|r| match kind {
            VoteKind::Prevote => &r.prevotes,
            VoteKind::Precommit => &r.precommits,
        })
    }

    /// Adds a vote whose signature was already checked.
    pub fn add(&mut self, vote: SignedVote) -> Added {
        let v = vote.vote;
        let k = self.kind_mut(v.round, v.kind);
        let existing = k
            .by_validator
            .get(&v.validator)
            .cloned()
            .unwrap_or_default();
        if existing.iter().any(|e| e.vote == v) {
            return Added::Duplicate;
        }
        if existing.is_empty() {
            k.by_validator.insert(v.validator, vec![vote]);
            return Added::New;
        }
        let evidence = k.reported.insert(v.validator, ()).is_none().then(|| {
            Box::new(Equivocation {
                first: existing[0],
                second: vote,
            })
        });
        if existing.len() < MAX_VALUES_PER_VOTER {
            k.by_validator.entry(v.validator).or_default().push(vote);
        } else if k.support(v.block, v.validator) > 0 {
            let unsupported = existing
                .iter()
                .position(|e| k.support(e.vote.block, v.validator) == 0);
            if let Some(i) = unsupported {
                let list = k.by_validator.get_mut(&v.validator).expect("present");
                list[i] = vote;
            }
        }
        Added::Conflict(evidence)
    }

    /// True if exactly this signed vote is already counted (so its
    /// signature need not be checked again).
    pub fn contains(&self, vote: &SignedVote) -> bool {
        let v = vote.vote;
        self.kind(v.round, v.kind)
            .and_then(|k| k.by_validator.get(&v.validator))
            .is_some_and(|list| list.contains(vote))
    }

    /// Number of validators that voted `kind` at `round` for exactly `value`
    /// (None = nil).
    pub fn count(&self, round: Round, kind: VoteKind, value: Option<Hash>) -> usize {
        self.kind(round, kind)
            .map(|k| {
                k.by_validator
                    .values()
                    .filter(|list| list.iter().any(|v| v.vote.block == value))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Number of validators with any vote of `kind` at `round`.
    pub fn count_any(&self, round: Round, kind: VoteKind) -> usize {
        self.kind(round, kind)
            .map(|k| k.by_validator.len())
            .unwrap_or(0)
    }

    /// Distinct validators with any vote at `round`.
    pub fn voters(&self, round: Round) -> Vec<ValidatorIndex> {
        let Some(r) = self.rounds.get(&round) else {
            return Vec::new();
        };
        let mut v: Vec<ValidatorIndex> = r
            .prevotes
            .by_validator
            .keys()
            .chain(r.precommits.by_validator.keys())
            .copied()
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Rounds that have any votes, ascending.
    pub fn rounds(&self) -> Vec<Round> {
        self.rounds.keys().copied().collect()
    }

    /// Values (non-nil) that at least `threshold` validators voted for.
    pub fn values_with(&self, round: Round, kind: VoteKind, threshold: usize) -> Vec<Hash> {
        let Some(k) = self.kind(round, kind) else {
            return Vec::new();
        };
        let mut tally: BTreeMap<Hash, usize> = BTreeMap::new();
        for list in k.by_validator.values() {
            let mut seen: Vec<Hash> = list.iter().filter_map(|v| v.vote.block).collect();
            seen.sort_unstable();
            seen.dedup();
            for h in seen {
                *tally.entry(h).or_default() += 1;
            }
        }
        tally
            .into_iter()
            .filter(|(_, c)| *c >= threshold)
            .map(|(h, _)| h)
            .collect()
    }

    /// One signed vote per validator of `kind` at `round` for `value`, by
    /// validator index.
    pub fn votes_for(&self, round: Round, kind: VoteKind, value: Option<Hash>) -> Vec<SignedVote> {
        self.kind(round, kind)
            .map(|k| {
                k.by_validator
                    .values()
                    .filter_map(|list| list.iter().find(|v| v.vote.block == value).copied())
                    .collect()
            })
            .unwrap_or_default()
    }
}
