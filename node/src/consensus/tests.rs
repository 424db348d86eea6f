//! Table-style tests of single rules, named after the paper's lines.

use deltachain_protocol::*;

use super::*;

fn keys(n: usize) -> Vec<Keypair> {
    (0..n)
        .map(|i| Keypair::from_secret([200 + i as u8; 32]))
        .collect()
}

fn cfg(keys: &[Keypair]) -> Config {
    Config {
        chain_id: "c".into(),
        validators: keys.iter().map(|k| k.public()).collect(),
        params: ConsensusParams::default(),
        mutation: Mutation::None,
    }
}

fn block(height: Height, tag: u8) -> Block {
    Block {
        header: BlockHeader {
            chain_id: "c".into(),
            height,
            time_ms: tag as u64,
            prev_hash: Hash::ZERO,
            tx_root: Hash::ZERO,
            results_root: Hash::ZERO,
            state_root: Hash([tag; 32]),
            last_commit_hash: Hash::ZERO,
            validators_hash: Hash::ZERO,
            proposer: Keypair::from_secret([1; 32]).public(),
            tx_count: 0,
        },
        txs: Default::default(),
        last_commit: None,
    }
}

fn proposal(
    keys: &[Keypair],
    height: Height,
    round: Round,
    pol: Option<Round>,
    b: &Block,
) -> Input {
    let proposer = ((height + round as u64) % keys.len() as u64) as u16;
    let sp = Proposal {
        height,
        round,
        pol_round: pol,
        block_hash: b.hash(),
        proposer,
    }
    .sign(&keys[proposer as usize], "c");
    Input::Message(Message::Proposal {
        proposal: sp,
        block: b.clone(),
    })
}

fn vote(
    keys: &[Keypair],
    i: usize,
    height: Height,
    round: Round,
    kind: VoteKind,
    b: Option<Hash>,
) -> Input {
    Input::Message(Message::Vote(
        Vote {
            height,
            round,
            kind,
            block: b,
            validator: i as u16,
        }
        .sign(&keys[i], "c"),
    ))
}

fn our_votes(out: &[Output]) -> Vec<Vote> {
    out.iter()
        .filter_map(|o| match o {
            Output::Broadcast(Message::Vote(v)) => Some(v.vote),
            _ => None,
        })
        .collect()
}

fn decided(out: &[Output]) -> Option<(Hash, CommitCertificate)> {
    out.iter().find_map(|o| match o {
        Output::Decide { block, cert } => Some((block.hash(), cert.clone())),
        _ => None,
    })
}

/// Height 1, round 0: proposer is validator 1 of 4; we are validator 0.
fn follower() -> (Vec<Keypair>, Consensus) {
    let k = keys(4);
    let c = Consensus::new(cfg(&k), k[0].clone(), 1, vec![]);
    (k, c)
}

#[test]
fn l11_proposer_asks_for_a_block_and_others_wait() {
    let k = keys(4);
    let mut p = Consensus::new(cfg(&k), k[1].clone(), 1, vec![]);
    let out = p.start();
    assert!(out.iter().any(|o| matches!(
        o,
        Output::BuildProposal {
            height: 1,
            round: 0
        }
    )));
    let (_, mut f) = follower();
    let out = f.start();
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::BuildProposal { .. })));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Schedule(Timeout {
            kind: TimeoutKind::Propose,
            ..
        })
    )));
}

#[test]
fn single_validator_decides_alone_and_persists_before_sending() {
    let k = keys(1);
    let mut c = Consensus::new(cfg(&k), k[0].clone(), 1, vec![]);
    c.start();
    let out = c.step(Input::ProposalBuilt {
        height: 1,
        round: 0,
        block: block(1, 7),
    });
    // Every Broadcast of a newly signed message is preceded by its Persist.
    let mut persisted = Vec::new();
    for o in &out {
        match o {
            Output::Persist(WalEntry::Vote(vote)) => persisted.push(Message::Vote(*vote)),
            Output::Persist(WalEntry::Proposal { proposal, block }) => {
                persisted.push(Message::Proposal {
                    proposal: *proposal,
                    block: (**block).clone(),
                })
            }
            Output::Broadcast(m) => assert!(persisted.contains(m), "sent before persisted: {m:?}"),
            _ => {}
        }
    }
    let (h, cert) = decided(&out).expect("decides");
    assert_eq!(h, block(1, 7).hash());
    cert.verify("c", 1, &h, &[k[0].public()]).unwrap();
}

#[test]
fn l22_prevote_for_a_valid_proposal_after_validation() {
    let (k, mut c) = follower();
    c.start();
    let b = block(1, 1);
    let out = c.step(proposal(&k, 1, 0, None, &b));
    assert!(out.iter().any(|o| matches!(o, Output::Validate { .. })));
    assert!(our_votes(&out).is_empty(), "waits for valid(v)");
    let out = c.step(Input::Validated {
        height: 1,
        hash: b.hash(),
        valid: true,
    });
    assert_eq!(our_votes(&out)[0].block, Some(b.hash()));
    assert_eq!(c.current_step(), Step::Prevote);
}

#[test]
fn l22_prevote_nil_for_an_invalid_proposal() {
    let (k, mut c) = follower();
    c.start();
    let b = block(1, 1);
    c.step(proposal(&k, 1, 0, None, &b));
    let out = c.step(Input::Validated {
        height: 1,
        hash: b.hash(),
        valid: false,
    });
    assert_eq!(our_votes(&out)[0].block, None);
}

#[test]
fn proposal_from_the_wrong_proposer_is_ignored() {
    let (k, mut c) = follower();
    c.start();
    let b = block(1, 1);
    let sp = Proposal {
        height: 1,
        round: 0,
        pol_round: None,
        block_hash: b.hash(),
        proposer: 2,
    }
    .sign(&k[2], "c");
    let out = c.step(Input::Message(Message::Proposal {
        proposal: sp,
        block: b,
    }));
    assert!(out.is_empty());
}

#[test]
fn l36_lock_and_precommit_then_l49_decide() {
    let (k, mut c) = follower();
    c.start();
    let b = block(1, 1);
    let h = b.hash();
    c.step(proposal(&k, 1, 0, None, &b));
    c.step(Input::Validated {
        height: 1,
        hash: h,
        valid: true,
    });
    c.step(vote(&k, 1, 1, 0, VoteKind::Prevote, Some(h)));
    let out = c.step(vote(&k, 2, 1, 0, VoteKind::Prevote, Some(h)));
    let votes = our_votes(&out);
    assert_eq!(votes[0].kind, VoteKind::Precommit);
    assert_eq!(c.locked(), Some((0, h)));
    c.step(vote(&k, 1, 1, 0, VoteKind::Precommit, Some(h)));
    let out = c.step(vote(&k, 2, 1, 0, VoteKind::Precommit, Some(h)));
    let (dh, cert) = decided(&out).unwrap();
    assert_eq!(dh, h);
    assert_eq!(cert.signatures.len(), 3);
    assert_eq!(c.current_step(), Step::Commit);
}

#[test]
fn l44_precommit_nil_on_nil_polka_and_l65_next_round() {
    let (k, mut c) = follower();
    c.start();
    c.step(Input::Timeout(Timeout {
        height: 1,
        round: 0,
        kind: TimeoutKind::Propose,
        duration_ms: 0,
    }));
    c.step(vote(&k, 1, 1, 0, VoteKind::Prevote, None));
    let out = c.step(vote(&k, 2, 1, 0, VoteKind::Prevote, None));
    assert_eq!(our_votes(&out)[0].kind, VoteKind::Precommit);
    assert_eq!(our_votes(&out)[0].block, None);
    c.step(Input::Timeout(Timeout {
        height: 1,
        round: 0,
        kind: TimeoutKind::Precommit,
        duration_ms: 0,
    }));
    assert_eq!(c.round(), 1);
}

#[test]
fn locked_validator_prevotes_nil_for_another_value_without_polka() {
    let (k, mut c) = follower();
    c.start();
    let b = block(1, 1);
    let h = b.hash();
    c.step(proposal(&k, 1, 0, None, &b));
    c.step(Input::Validated {
        height: 1,
        hash: h,
        valid: true,
    });
    c.step(vote(&k, 1, 1, 0, VoteKind::Prevote, Some(h)));
    c.step(vote(&k, 2, 1, 0, VoteKind::Prevote, Some(h)));
    assert_eq!(c.locked(), Some((0, h)));
    c.step(Input::Timeout(Timeout {
        height: 1,
        round: 0,
        kind: TimeoutKind::Precommit,
        duration_ms: 0,
    }));
    assert_eq!(c.round(), 1);
    let other = block(1, 2);
    c.step(proposal(&k, 1, 1, None, &other));
    let out = c.step(Input::Validated {
        height: 1,
        hash: other.hash(),
        valid: true,
    });
    assert_eq!(
        our_votes(&out)[0].block,
        None,
        "L22: locked on another value"
    );
}

#[test]
fn l28_polka_at_a_later_round_unlocks() {
    let (k, mut c) = follower();
    c.start();
    let b = block(1, 1);
    let h = b.hash();
    c.step(proposal(&k, 1, 0, None, &b));
    c.step(Input::Validated {
        height: 1,
        hash: h,
        valid: true,
    });
    c.step(vote(&k, 1, 1, 0, VoteKind::Prevote, Some(h)));
    c.step(vote(&k, 2, 1, 0, VoteKind::Prevote, Some(h)));
    // Round 1: prevotes for another value w reach a quorum; round 2 re-proposes w with pol 1.
    let w = block(1, 2);
    let wh = w.hash();
    c.step(Input::Timeout(Timeout {
        height: 1,
        round: 0,
        kind: TimeoutKind::Precommit,
        duration_ms: 0,
    }));
    c.step(proposal(&k, 1, 1, None, &w));
    c.step(Input::Validated {
        height: 1,
        hash: wh,
        valid: true,
    });
    for i in 1..4 {
        c.step(vote(&k, i, 1, 1, VoteKind::Prevote, Some(wh)));
    }
    c.step(Input::Timeout(Timeout {
        height: 1,
        round: 1,
        kind: TimeoutKind::Precommit,
        duration_ms: 0,
    }));
    assert_eq!(c.round(), 2);
    let out = c.step(proposal(&k, 1, 2, Some(1), &w));
    assert_eq!(our_votes(&out)[0].block, Some(wh));
}

#[test]
fn l55_round_skip_on_f_plus_one() {
    let (k, mut c) = follower();
    c.start();
    c.step(vote(&k, 1, 1, 5, VoteKind::Prevote, None));
    assert_eq!(c.round(), 0, "one validator is not f+1");
    c.step(vote(&k, 2, 1, 5, VoteKind::Precommit, None));
    assert_eq!(c.round(), 5);
}

#[test]
fn equivocation_is_reported_once_and_counted_once() {
    let (k, mut c) = follower();
    c.start();
    c.step(vote(&k, 1, 1, 0, VoteKind::Prevote, Some(Hash([1; 32]))));
    let out = c.step(vote(&k, 1, 1, 0, VoteKind::Prevote, Some(Hash([2; 32]))));
    assert!(out.iter().any(|o| matches!(o, Output::Evidence(_))));
    let out = c.step(vote(&k, 1, 1, 0, VoteKind::Prevote, None));
    assert!(!out.iter().any(|o| matches!(o, Output::Evidence(_))));
}

#[test]
fn forged_vote_is_ignored() {
    let (k, mut c) = follower();
    c.start();
    let mut sv = Vote {
        height: 1,
        round: 3,
        kind: VoteKind::Prevote,
        block: None,
        validator: 2,
    }
    .sign(&k[1], "c");
    sv.vote.validator = 2;
    c.step(Input::Message(Message::Vote(sv)));
    let sv3 = Vote {
        height: 1,
        round: 3,
        kind: VoteKind::Prevote,
        block: None,
        validator: 3,
    }
    .sign(&k[1], "c");
    c.step(Input::Message(Message::Vote(sv3)));
    assert_eq!(c.round(), 0);
}

#[test]
fn restart_from_wal_never_signs_a_conflicting_vote() {
    let (k, mut c) = follower();
    c.start();
    // Prevote nil on timeout, record the WAL.
    let out = c.step(Input::Timeout(Timeout {
        height: 1,
        round: 0,
        kind: TimeoutKind::Propose,
        duration_ms: 0,
    }));
    let wal: Vec<WalEntry> = out
        .iter()
        .filter_map(|o| match o {
            Output::Persist(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(wal.len(), 1);
    // Restart: a valid proposal now arrives, but the old nil prevote is re-sent.
    let mut c = Consensus::new(cfg(&k), k[0].clone(), 1, wal.clone());
    c.start();
    let b = block(1, 1);
    c.step(proposal(&k, 1, 0, None, &b));
    let out = c.step(Input::Validated {
        height: 1,
        hash: b.hash(),
        valid: true,
    });
    let sent: Vec<&Output> = out
        .iter()
        .filter(|o| matches!(o, Output::Broadcast(Message::Vote(_))))
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(our_votes(&out)[0].block, None);
    assert!(
        !out.iter().any(|o| matches!(o, Output::Persist(_))),
        "nothing new signed"
    );
    match (&wal[0], sent[0]) {
        (WalEntry::Vote(vote), Output::Broadcast(Message::Vote(v))) => assert_eq!(vote, v),
        _ => unreachable!(),
    }
}

#[test]
fn restart_restores_the_lock() {
    let (k, mut c) = follower();
    c.start();
    let b = block(1, 1);
    let h = b.hash();
    let mut wal = Vec::new();
    let mut collect = |out: Vec<Output>| {
        for o in out {
            if let Output::Persist(e) = o {
                wal.push(e);
            }
        }
    };
    collect(c.step(proposal(&k, 1, 0, None, &b)));
    collect(c.step(Input::Validated {
        height: 1,
        hash: h,
        valid: true,
    }));
    collect(c.step(vote(&k, 1, 1, 0, VoteKind::Prevote, Some(h))));
    collect(c.step(vote(&k, 2, 1, 0, VoteKind::Prevote, Some(h))));
    let c = Consensus::new(cfg(&k), k[0].clone(), 1, wal);
    assert_eq!(c.locked(), Some((0, h)));
}

#[test]
fn sync_needed_when_f_plus_one_are_ahead() {
    let (k, mut c) = follower();
    c.start();
    let out = c.step(vote(&k, 1, 5, 0, VoteKind::Prevote, None));
    assert!(!out.iter().any(|o| matches!(o, Output::SyncNeeded { .. })));
    let out = c.step(vote(&k, 2, 6, 0, VoteKind::Prevote, None));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::SyncNeeded { committed: 4 })),
        "{out:?}"
    );
    c.step(Input::Synced { height: 4 });
    assert_eq!(c.height(), 5);
}

#[test]
fn timeouts_grow_linearly_and_are_capped() {
    let p = ConsensusParams::default();
    assert_eq!(p.timeout_ms(1000, 0), 1000);
    assert_eq!(p.timeout_ms(1000, 2), 1000 + 2 * p.timeout_delta_ms);
    assert_eq!(p.timeout_ms(1000, 1_000_000), p.timeout_max_ms);
}
