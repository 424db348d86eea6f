//! Vote bookkeeping for one height: at most one counted vote per validator
//! per (round, kind), tallies per value, and equivocation evidence.

use std::collections::BTreeMap;

use deltachain_protocol::{Hash, Round, SignedVote, ValidatorIndex, VoteKind};

/// Two different signed votes from one validator for the same height, round
/// and kind: proof of equivocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    /// The vote counted.
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
    Conflict(Option<Equivocation>),
}

#[derive(Debug, Default, Clone)]
struct KindVotes {
    by_validator: BTreeMap<ValidatorIndex, SignedVote>,
    /// Validators already reported for equivocating here.
    reported: BTreeMap<ValidatorIndex, ()>,
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
        match k.by_validator.get(&v.validator) {
            None => {
                k.by_validator.insert(v.validator, vote);
                Added::New
            }
            Some(existing) if existing.vote == v => Added::Duplicate,
            Some(existing) => {
                let first = *existing;
                if k.reported.insert(v.validator, ()).is_none() {
                    Added::Conflict(Some(Equivocation {
                        first,
                        second: vote,
                    }))
                } else {
                    Added::Conflict(None)
                }
            }
        }
    }

    /// True if exactly this signed vote is already counted (so its
    /// signature need not be checked again).
    pub fn contains(&self, vote: &SignedVote) -> bool {
        let v = vote.vote;
        self.kind(v.round, v.kind)
            .and_then(|k| k.by_validator.get(&v.validator))
            .is_some_and(|existing| existing == vote)
    }

    /// Number of votes of `kind` at `round` for exactly `value` (None = nil).
    pub fn count(&self, round: Round, kind: VoteKind, value: Option<Hash>) -> usize {
        self.kind(round, kind)
            .map(|k| k.by_validator.values().filter(|v| v.vote.block == value).count())
            .unwrap_or(0)
    }

    /// Number of votes of `kind` at `round`, whatever their value.
    pub fn count_any(&self, round: Round, kind: VoteKind) -> usize {
        self.kind(round, kind).map(|k| k.by_validator.len()).unwrap_or(0)
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

    /// Values (non-nil) that have at least `threshold` votes of `kind` at `round`.
    pub fn values_with(&self, round: Round, kind: VoteKind, threshold: usize) -> Vec<Hash> {
        let Some(k) = self.kind(round, kind) else {
            return Vec::new();
        };
        let mut tally: BTreeMap<Hash, usize> = BTreeMap::new();
        for v in k.by_validator.values() {
            if let Some(h) = v.vote.block {
                *tally.entry(h).or_default() += 1;
            }
        }
        tally.into_iter().filter(|(_, c)| *c >= threshold).map(|(h, _)| h).collect()
    }

    /// The signed votes of `kind` at `round` for `value`, by validator index.
    pub fn votes_for(&self, round: Round, kind: VoteKind, value: Option<Hash>) -> Vec<SignedVote> {
        self.kind(round, kind)
            .map(|k| k.by_validator.values().filter(|v| v.vote.block == value).copied().collect())
            .unwrap_or_default()
    }
}
