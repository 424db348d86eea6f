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
    block_at(height, 0, tag)
}

/// A block as proposer(height, round) of four validators builds it.
fn block_at(height: Height, round: Round, tag: u8) -> Block {
    Block {
        header: BlockHeader {
            chain_id: "c".into(),
            height,
            time_ms: tag as u64,
            prev_hash: Hash::ZERO,
            tx_root: deltachain_protocol::merkle::root(&[]),
            results_root: Hash::ZERO,
            state_root: Hash([tag; 32]),
            last_commit_hash: Hash::ZERO,
            validators_hash: Hash::ZERO,
            // proposer(height, round) of the four-validator set most tests use.
            proposer: keys(4)[((height + round as u64) % 4) as usize].public(),
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
        timely: true,
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
        timely: true,
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
        timely: true,
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
        timely: true,
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
    let other = block_at(1, 1, 2);
    c.step(proposal(&k, 1, 1, None, &other));
    let out = c.step(Input::Validated {
        height: 1,
        hash: other.hash(),
        valid: true,
        timely: true,
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
        timely: true,
    });
    c.step(vote(&k, 1, 1, 0, VoteKind::Prevote, Some(h)));
    c.step(vote(&k, 2, 1, 0, VoteKind::Prevote, Some(h)));
    // Round 1: prevotes for another value w reach a quorum; round 2 re-proposes w with pol 1.
    let w = block_at(1, 1, 2);
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
        timely: true,
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
        timely: true,
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
        timely: true,
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

fn signed_proposal(keys: &[Keypair], height: Height, round: Round, b: &Block) -> Message {
    match proposal(keys, height, round, None, b) {
        Input::Message(m) => m,
        _ => unreachable!(),
    }
}

fn gossip_vote(
    keys: &[Keypair],
    i: usize,
    height: Height,
    round: Round,
    kind: VoteKind,
    b: Option<Hash>,
) -> Message {
    match vote(keys, i, height, round, kind, b) {
        Input::Message(m) => m,
        _ => unreachable!(),
    }
}

fn valid(c: &mut Consensus, b: &Block, timely: bool) -> Vec<Output> {
    c.step(Input::Validated {
        height: b.header.height,
        hash: b.hash(),
        valid: true,
        timely,
    })
}

/// A commit spammer: 40 `Commit`s of junk blocks with empty certificates
/// are rejected without occupying the block cache, and the honest proposal
/// that follows is still prevoted.
#[test]
fn unverified_commits_are_not_cached() {
    let (k, mut c) = follower();
    c.start();
    for tag in 0..40u8 {
        let junk = block(1, 100 + tag);
        let cert = CommitCertificate {
            height: 1,
            round: 0,
            block_hash: junk.hash(),
            signatures: Vec::new(),
        };
        let (verdict, _) = c.on_gossip(Message::Commit { block: junk, cert });
        assert_eq!(verdict, Verdict::Reject);
    }
    assert_eq!(c.blocks_held(), 0);
    let b = block(1, 1);
    let (verdict, _) = c.on_gossip(signed_proposal(&k, 1, 0, &b));
    assert_eq!(verdict, Verdict::Accept);
    let out = valid(&mut c, &b, true);
    assert_eq!(our_votes(&out)[0].block, Some(b.hash()));
}

/// A body tamperer relays the real header and signature with other
/// transactions: rejected before it is held, so the real block's hash is
/// not marked invalid and the real proposal is prevoted.
#[test]
fn a_tampered_body_cannot_poison_the_real_block() {
    let (k, mut c) = follower();
    c.start();
    let b = block(1, 1);
    let mut tampered = b.clone();
    let tx = Transaction {
        chain_id: "c".into(),
        sender: k[3].public(),
        nonce: 1,
        payload: Payload::IpRelease(IpRelease {
            ip_id: "ZL201710601862.3".into(),
        }),
    }
    .sign(&k[3]);
    tampered.txs = std::sync::Arc::new(vec![tx]);
    assert_eq!(tampered.hash(), b.hash(), "same header");
    let (verdict, out) = c.on_gossip(signed_proposal(&k, 1, 0, &tampered));
    assert_eq!(verdict, Verdict::Reject);
    assert!(!out.iter().any(|o| matches!(o, Output::Validate { .. })));
    let (verdict, out) = c.on_gossip(signed_proposal(&k, 1, 0, &b));
    assert_eq!(verdict, Verdict::Accept);
    assert!(out.iter().any(|o| matches!(o, Output::Validate { .. })));
    let out = valid(&mut c, &b, true);
    assert_eq!(our_votes(&out)[0].block, Some(b.hash()));
}

/// A fresh proposal must carry its signer's key as `header.proposer`.
#[test]
fn header_proposer_is_tied_to_the_signer() {
    let (k, mut c) = follower();
    c.start();
    let mut b = block(1, 1);
    b.header.proposer = k[2].public();
    let (verdict, _) = c.on_gossip(signed_proposal(&k, 1, 0, &b));
    assert_eq!(verdict, Verdict::Reject);
}

/// A future-height flooder: duplicates take one slot, rounds past the
/// window take none, and the buffer never passes its byte bound; the
/// round-0 proposal of the next height is the last thing dropped.
#[test]
fn the_next_height_buffer_is_bounded_by_bytes() {
    let (k, mut c) = follower();
    c.start();
    // A large (valid-looking) block for height 2, for each round's proposer.
    let txs: Vec<SignedTransaction> = (0..1500u64)
        .map(|n| {
            Transaction {
                chain_id: "c".into(),
                sender: k[3].public(),
                nonce: n + 1,
                payload: Payload::CreditCorrection(CreditCorrection {
                    original_tx: Hash([7; 32]),
                    reason: "x".repeat(400),
                    withdraw: false,
                }),
            }
            .sign(&k[3])
        })
        .collect();
    let tx_root = merkle::root(&txs.iter().map(|t| t.hash()).collect::<Vec<_>>());
    let txs = std::sync::Arc::new(txs);
    let big = |round: Round| {
        let mut b = block_at(2, round, 9);
        b.header.tx_count = txs.len() as u32;
        b.header.tx_root = tx_root;
        b.txs = txs.clone();
        b
    };
    let round0 = big(0);
    let (verdict, _) = c.on_gossip(signed_proposal(&k, 2, 0, &round0));
    assert_eq!(verdict, Verdict::Accept);
    let one = c.buffered_bytes();
    assert!(one > 500_000, "{one}");
    // The same again, and the same vote many times: one slot each.
    c.on_gossip(signed_proposal(&k, 2, 0, &round0));
    for _ in 0..100 {
        c.on_gossip(gossip_vote(&k, 3, 2, 0, VoteKind::Prevote, None));
    }
    assert!(c.buffered_bytes() < one + 1000);
    // Proposals for many later rounds: bounded by bytes, round 0 kept.
    for round in 1..=ROUND_WINDOW + 10 {
        let proposer = ((2 + round as u64) % 4) as usize;
        if proposer == 0 {
            continue;
        }
        c.on_gossip(signed_proposal(&k, 2, round, &big(round)));
        assert!(c.buffered_bytes() <= MAX_FUTURE_BYTES);
    }
    // Deciding height 1 replays the buffer: the round-0 proposal is there.
    let b = block(1, 1);
    c.step(proposal(&k, 1, 0, None, &b));
    valid(&mut c, &b, true);
    let mut out = Vec::new();
    for i in 1..4 {
        out.extend(c.step(vote(&k, i, 1, 0, VoteKind::Precommit, Some(b.hash()))));
    }
    assert!(decided(&out).is_some());
    let out = c.step(Input::Timeout(Timeout {
        height: 1,
        round: 0,
        kind: TimeoutKind::Commit,
        duration_ms: 0,
    }));
    assert_eq!(c.height(), 2);
    assert!(
        out.iter().any(
            |o| matches!(o, Output::Validate { height: 2, block } if block.hash() == round0.hash())
        ),
        "the buffered round-0 proposal is validated on arrival at height 2"
    );
    assert_eq!(c.buffered_bytes(), 0);
}

/// A validator restarted far behind in rounds: votes beyond the window
/// from f+1 validators move it to their round (L55), where it rejoins.
#[test]
fn l55_round_skip_beyond_the_window() {
    let (k, mut c) = follower();
    c.start();
    let far = ROUND_WINDOW + 200;
    let (verdict, _) = c.on_gossip(gossip_vote(&k, 1, 1, far, VoteKind::Prevote, None));
    assert_eq!(verdict, Verdict::Accept);
    assert_eq!(c.round(), 0, "one validator is not f+1");
    c.on_gossip(gossip_vote(&k, 2, 1, far + 5, VoteKind::Precommit, None));
    assert_eq!(c.round(), far, "f+1 validators are at round {far} or above");
    // A forged far vote moves nothing.
    let (_, mut c2) = follower();
    c2.start();
    let mut forged = match gossip_vote(&k, 1, 1, far, VoteKind::Prevote, None) {
        Message::Vote(v) => v,
        _ => unreachable!(),
    };
    forged.vote.validator = 2;
    c2.on_gossip(gossip_vote(&k, 1, 1, far, VoteKind::Prevote, None));
    let (verdict, _) = c2.on_gossip(Message::Vote(forged));
    assert_eq!(verdict, Verdict::Reject);
    assert_eq!(c2.round(), 0);
}

/// A clock-skewed validator: a block whose time is far from our clock is
/// not prevoted as a fresh proposal, but a quorum's precommits for it are
/// decided.
#[test]
fn an_untimely_block_is_not_prevoted_but_is_decided() {
    let (k, mut c) = follower();
    c.start();
    let b = block(1, 1);
    c.step(proposal(&k, 1, 0, None, &b));
    let out = valid(&mut c, &b, false);
    assert_eq!(our_votes(&out)[0].block, None, "L22 needs timely");
    let mut out = Vec::new();
    for i in 1..4 {
        out.extend(c.step(vote(&k, i, 1, 0, VoteKind::Precommit, Some(b.hash()))));
    }
    assert_eq!(
        decided(&out).map(|d| d.0),
        Some(b.hash()),
        "L49 needs only valid"
    );
}

/// The signing floor from the state file: nothing new is signed at or
/// below it, everything above it is.
#[test]
fn the_signing_floor_is_never_signed_below() {
    let (k, mut c) = follower();
    c.set_sign_floor(Some(SignPoint {
        height: 1,
        round: 0,
        step: 2,
    }));
    c.start();
    let b = block(1, 1);
    c.step(proposal(&k, 1, 0, None, &b));
    let out = valid(&mut c, &b, true);
    assert!(
        our_votes(&out).is_empty(),
        "prevote (1,0) is below the floor"
    );
    assert!(!out.iter().any(|o| matches!(o, Output::Persist(_))));
    c.step(Input::Timeout(Timeout {
        height: 1,
        round: 0,
        kind: TimeoutKind::Precommit,
        duration_ms: 0,
    }));
    assert_eq!(c.round(), 1);
    let out = c.step(Input::Timeout(Timeout {
        height: 1,
        round: 1,
        kind: TimeoutKind::Propose,
        duration_ms: 0,
    }));
    assert_eq!(our_votes(&out).len(), 1, "round 1 is above the floor");
}

/// A forged vote for the previous height does not make us re-send the
/// whole last block.
#[test]
fn a_forged_stale_vote_does_not_trigger_a_block_rebroadcast() {
    let k = keys(1);
    let mut c = Consensus::new(cfg(&k), k[0].clone(), 2, vec![]);
    let b = block(1, 1);
    let cert = CommitCertificate {
        height: 1,
        round: 0,
        block_hash: b.hash(),
        signatures: vec![CommitSig {
            validator: 0,
            signature: Vote {
                height: 1,
                round: 0,
                kind: VoteKind::Precommit,
                block: Some(b.hash()),
                validator: 0,
            }
            .sign(&k[0], "c")
            .signature,
        }],
    };
    c.set_last_decision(b.clone(), cert);
    let mut forged = match gossip_vote(&k, 0, 1, 0, VoteKind::Prevote, None) {
        Message::Vote(v) => v,
        _ => unreachable!(),
    };
    forged.signature = Signature([1; 64]);
    let (verdict, _) = c.on_gossip(Message::Vote(forged));
    assert_eq!(verdict, Verdict::Reject);
    let out = c.step(Input::Rebroadcast);
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Broadcast(Message::Commit { .. }))));
    let (verdict, _) = c.on_gossip(gossip_vote(&k, 0, 1, 0, VoteKind::Prevote, None));
    assert_eq!(verdict, Verdict::Ignore);
    let out = c.step(Input::Rebroadcast);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Broadcast(Message::Commit { .. }))));
}

/// The crash that stalled a dev node for good: the signing state recorded
/// the prevote, the WAL did not (killed between the two writes). With only
/// the floor, a lone validator may neither re-send its prevote nor sign
/// another, and no timeout leaves round 0 without 2/3 prevotes. The vote
/// kept in the signing state goes back into the WAL and the height ends.
#[test]
fn a_vote_the_wal_lost_comes_back_from_the_signing_state() {
    use crate::signstate::SignState;
    let k = keys(1);
    let mut c = Consensus::new(cfg(&k), k[0].clone(), 1, vec![]);
    c.start();
    let b = block(1, 7);
    let out = c.step(Input::ProposalBuilt {
        height: 1,
        round: 0,
        block: b.clone(),
    });
    let signed: Vec<WalEntry> = out
        .into_iter()
        .filter_map(|o| match o {
            Output::Persist(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(matches!(signed[1], WalEntry::Vote(v) if v.vote.kind == VoteKind::Prevote));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing_state.json");
    let mut state = SignState::load(&path).unwrap();
    state.record(&signed[0]).unwrap();
    state.record(&signed[1]).unwrap();
    let wal = vec![signed[0].clone()];

    let restart = |wal: Vec<WalEntry>| {
        let state = SignState::load(&path).unwrap();
        let mut c = Consensus::new(cfg(&k), k[0].clone(), 1, wal);
        c.set_sign_floor(state.last());
        let mut out = c.start();
        // Every timeout the node would fire, for a few rounds.
        for round in 0..3 {
            for kind in [
                TimeoutKind::Propose,
                TimeoutKind::Prevote,
                TimeoutKind::Precommit,
            ] {
                out.extend(c.step(Input::Timeout(Timeout {
                    height: 1,
                    round,
                    kind,
                    duration_ms: 0,
                })));
            }
        }
        decided(&out).map(|(h, _)| h)
    };
    assert_eq!(restart(wal.clone()), None, "the floor alone stalls it");

    let mut restored = wal;
    let v = SignState::load(&path)
        .unwrap()
        .unlogged_vote(1, &restored)
        .expect("the prevote is missing from the WAL");
    restored.push(WalEntry::Vote(v));
    assert_eq!(restart(restored), Some(b.hash()));
}
