//! Property tests for the canonical encoding: every value round-trips, has
//! exactly one encoding, arbitrary bytes never panic the decoder, and
//! signatures do not cross domains or chains.

use deltachain_protocol::codec;
use deltachain_protocol::*;
use proptest::prelude::*;

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn key() -> impl Strategy<Value = Keypair> {
    any::<[u8; 32]>().prop_map(Keypair::from_secret)
}

fn date() -> impl Strategy<Value = Date> {
    (1990u32..2100, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,.汉字]{0,40}"
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![payload_core(), payload_registry()]
}

fn receivable_terms() -> impl Strategy<Value = ReceivableTerms> {
    (
        text(),
        text(),
        text(),
        any::<u64>(),
        date(),
        date(),
        proptest::collection::vec(text(), 0..4),
        proptest::option::of(text()),
    )
        .prop_map(|(id, c, d, a, i, due, inv, reg)| ReceivableTerms {
            receivable_id: id,
            creditor: c,
            debtor: d,
            amount_fen: a,
            currency: "CNY".into(),
            issued_on: i,
            due_on: due,
            invoices: inv,
            contract: "合同-1".into(),
            collateral_registration: reg,
        })
}

fn payload_registry() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (receivable_terms(), key())
            .prop_map(|(t, k)| Payload::ReceivableRegister(t.confirm("c", &k))),
        (text(), any::<bool>(), any::<u64>(), text(), date()).prop_map(|(id, f, a, c, u)| {
            Payload::ReceivableFinance(ReceivableFinance {
                receivable_id: id,
                kind: if f {
                    FinanceKind::Pledge
                } else {
                    FinanceKind::Factoring
                },
                amount_fen: a,
                contract: c,
                until: u,
            })
        }),
        (
            text(),
            proptest::collection::vec((text(), text(), any::<u64>()), 0..4)
        )
            .prop_map(|(id, parts)| Payload::ReceivableSplit(ReceivableSplit {
                receivable_id: id,
                parts: parts
                    .into_iter()
                    .map(|(p, h, a)| ReceivablePart {
                        part_id: p,
                        holder: h,
                        amount_fen: a
                    })
                    .collect(),
            })),
        (text(), any::<u64>(), date()).prop_map(|(id, a, d)| Payload::ReceivableSettle(
            ReceivableSettle {
                receivable_id: id,
                amount_fen: a,
                paid_on: d
            }
        )),
        (
            text(),
            text(),
            any::<u32>(),
            any::<u64>(),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(e, p, h, a, o)| Payload::PublicRecord(PublicRecord {
                enterprise: e,
                period: p,
                data: match h % 4 {
                    0 => PublicData::SocialInsurance {
                        headcount: h,
                        arrears_fen: a,
                    },
                    1 => PublicData::CourtJudgment {
                        case_number: "（2024）沪0115民初12345号".into(),
                        amount_fen: o,
                    },
                    2 => PublicData::Utilities {
                        utility: Utility::Electricity,
                        status: PaymentStatus::Late,
                        months: h as u8,
                    },
                    _ => PublicData::TaxGrade { grade: "A".into() },
                },
                source: "src".into(),
                note: None,
            })),
        (hash(), text(), any::<bool>()).prop_map(|(h, r, rv)| Payload::Objection(Objection {
            target: if rv {
                ObjectionTarget::Receivable(r.clone())
            } else {
                ObjectionTarget::Record(h)
            },
            reason: r,
            consent_id: None,
        })),
        (hash(), 0usize..3, text(), any::<bool>()).prop_map(|(h, o, e, w)| {
            Payload::ObjectionResolution(ObjectionResolution {
                objection: h,
                outcome: ObjectionOutcome::ALL[o],
                explanation: e,
                withdraw: w,
            })
        }),
        (text(), text(), text()).prop_map(|(c, n, r)| Payload::UsccException(UsccException {
            code: c,
            name: n,
            reason: r
        })),
    ]
}

fn payload_core() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (
            text(),
            0usize..6,
            text(),
            any::<Option<u64>>(),
            date(),
            proptest::option::of(text()),
            proptest::option::of(text())
        )
            .prop_map(|(e, k, r, a, d, rating, note)| Payload::Credit(Credit {
                enterprise: e,
                kind: CreditKind::ALL[k],
                reference: r,
                amount_fen: a,
                currency: "CNY".into(),
                date: d,
                rating,
                note,
            })),
        (hash(), text(), any::<bool>()).prop_map(
            |(h, reason, withdraw)| Payload::CreditCorrection(CreditCorrection {
                original_tx: h,
                reason,
                withdraw
            })
        ),
        (text(), 0usize..4, text(), text(), date()).prop_map(|(id, k, t, o, d)| {
            Payload::IpRegister(IpRegister {
                ip_id: id,
                kind: IpKind::ALL[k],
                title: t,
                owner: o,
                registered_on: d,
            })
        }),
        (text(), text()).prop_map(|(id, to)| Payload::IpTransfer(IpTransfer {
            ip_id: id,
            new_owner: to
        })),
        (text(), any::<u64>(), text(), date()).prop_map(|(id, a, c, u)| Payload::IpPledge(
            IpPledge {
                ip_id: id,
                amount_fen: a,
                contract: c,
                until: u,
            }
        )),
        text().prop_map(|id| Payload::IpRelease(IpRelease { ip_id: id })),
        (text(), key(), any::<u8>(), text(), any::<u16>()).prop_map(|(n, k, r, city, c)| {
            Payload::AddMember(AddMember {
                name: n,
                public_key: k.public(),
                roles: Roles::from_list(
                    &Role::ALL
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| r >> i & 1 == 1)
                        .map(|(_, r)| *r)
                        .collect::<Vec<_>>(),
                ),
                city,
                categories: Categories::from_list(
                    &PublicCategory::ALL
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| c >> i & 1 == 1)
                        .map(|(_, c)| *c)
                        .collect::<Vec<_>>(),
                ),
            })
        }),
        key().prop_map(|k| Payload::RemoveMember(RemoveMember {
            public_key: k.public()
        })),
    ]
}

fn signed_tx() -> impl Strategy<Value = SignedTransaction> {
    (key(), any::<u64>(), payload(), "[a-z-]{1,20}").prop_map(|(k, nonce, payload, chain)| {
        Transaction {
            chain_id: chain,
            sender: k.public(),
            nonce,
            payload,
        }
        .sign(&k)
    })
}

fn vote() -> impl Strategy<Value = Vote> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<bool>(),
        proptest::option::of(hash()),
        any::<u16>(),
    )
        .prop_map(|(height, round, pre, block, validator)| Vote {
            height,
            round,
            kind: if pre {
                VoteKind::Precommit
            } else {
                VoteKind::Prevote
            },
            block,
            validator,
        })
}

fn block() -> impl Strategy<Value = Block> {
    (
        proptest::collection::vec(signed_tx(), 0..4),
        any::<u64>(),
        any::<u64>(),
        hash(),
        proptest::option::of((
            hash(),
            proptest::collection::vec((any::<u16>(), any::<[u8; 32]>()), 0..4),
        )),
        key(),
    )
        .prop_map(|(txs, height, time_ms, prev, cert, proposer)| {
            let last_commit = cert.map(|(h, sigs)| CommitCertificate {
                height: height.saturating_sub(1),
                round: 0,
                block_hash: h,
                signatures: sigs
                    .into_iter()
                    .map(|(v, s)| {
                        let mut sig = [0u8; 64];
                        sig[..32].copy_from_slice(&s);
                        CommitSig {
                            validator: v,
                            signature: Signature(sig),
                        }
                    })
                    .collect(),
            });
            let hashes: Vec<Hash> = txs.iter().map(|t| t.hash()).collect();
            Block {
                header: BlockHeader {
                    chain_id: "delta".into(),
                    height,
                    time_ms,
                    prev_hash: prev,
                    tx_root: merkle::root(&hashes),
                    results_root: Hash::ZERO,
                    state_root: Hash::ZERO,
                    last_commit_hash: commit_hash(last_commit.as_ref()),
                    validators_hash: Hash::ZERO,
                    proposer: proposer.public(),
                    tx_count: txs.len() as u32,
                },
                txs: std::sync::Arc::new(txs),
                last_commit,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn transactions_round_trip(tx in signed_tx()) {
        let bytes = tx.encode();
        let back = SignedTransaction::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &tx);
        prop_assert_eq!(back.encode(), bytes);
        prop_assert!(back.verify_signature().is_ok());
    }

    #[test]
    fn blocks_round_trip(b in block()) {
        let bytes = b.encode();
        let back = Block::decode(&bytes, MAX_BLOCK_BYTES).unwrap();
        prop_assert_eq!(back.hash(), b.hash());
        prop_assert_eq!(back.encode(), bytes);
        prop_assert!(back.check_body(&back.tx_hashes()).is_ok());
    }

    #[test]
    fn votes_round_trip(v in vote()) {
        let bytes = codec::encode(&v);
        let back: Vote = codec::decode(&bytes, MAX_VOTE_BYTES, "vote").unwrap();
        prop_assert_eq!(back, v);
    }

    /// Exactly one encoding: whatever bytes decode re-encode to themselves.
    #[test]
    fn decoded_bytes_re_encode_identically(tx in signed_tx(), pos in any::<usize>(), val in any::<u8>()) {
        let mut bytes = tx.encode();
        let i = pos % bytes.len();
        bytes[i] = val;
        if let Ok(decoded) = SignedTransaction::decode(&bytes) {
            prop_assert_eq!(decoded.encode(), bytes);
        }
    }

    #[test]
    fn votes_have_one_encoding(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(v) = codec::decode::<Vote>(&bytes, MAX_VOTE_BYTES, "vote") {
            prop_assert_eq!(codec::encode(&v), bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = SignedTransaction::decode(&bytes);
        let _ = Block::decode(&bytes, MAX_BLOCK_BYTES);
        let _ = codec::decode::<SignedProposal>(&bytes, MAX_PROPOSAL_BYTES, "proposal");
        let _ = codec::decode::<CommitCertificate>(&bytes, 4096, "certificate");
    }

    /// A huge length prefix must not make the decoder reserve memory.
    #[test]
    fn forged_lengths_are_errors(len in any::<u64>(), tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = len.to_le_bytes().to_vec();
        bytes.extend(tail);
        let _ = Block::decode(&bytes, MAX_BLOCK_BYTES);
        let _ = codec::decode::<Vec<SignedTransaction>>(&bytes, 1 << 20, "txs");
    }

    #[test]
    fn trailing_bytes_are_rejected(tx in signed_tx(), extra in proptest::collection::vec(any::<u8>(), 1..8)) {
        let mut bytes = tx.encode();
        bytes.extend(extra);
        let e = SignedTransaction::decode(&bytes).unwrap_err();
        let ok = matches!(e, DecodeError::TrailingBytes { .. } | DecodeError::TooLarge { .. });
        prop_assert!(ok);
    }

    #[test]
    fn signatures_do_not_cross_domains_or_chains(k in key(), body in proptest::collection::vec(any::<u8>(), 0..200), chain in "[a-z]{1,10}") {
        let domains = [Domain::Tx, Domain::Vote, Domain::Proposal];
        for d in domains {
            let sig = k.sign(d, &chain, &body);
            prop_assert!(crypto::verify(&k.public(), d, &chain, &body, &sig).is_ok());
            for other in domains.into_iter().filter(|o| *o != d) {
                prop_assert!(crypto::verify(&k.public(), other, &chain, &body, &sig).is_err());
            }
            let other_chain = format!("{chain}x");
            prop_assert!(crypto::verify(&k.public(), d, &other_chain, &body, &sig).is_err());
        }
    }

    #[test]
    fn a_vote_signature_is_not_a_transaction_signature(k in key(), v in vote()) {
        let sv = v.sign(&k, "delta");
        prop_assert!(sv.verify("delta", &k.public()).is_ok());
        prop_assert!(sv.verify("delta-test", &k.public()).is_err());
        prop_assert!(crypto::verify(&k.public(), Domain::Tx, "delta", &codec::encode(&v), &sv.signature).is_err());
    }

    #[test]
    fn json_round_trips(tx in signed_tx()) {
        let j = serde_json::to_string(&tx).unwrap();
        let back: SignedTransaction = serde_json::from_str(&j).unwrap();
        prop_assert_eq!(back, tx);
    }
}

#[test]
fn commit_certificate_verifies_only_with_quorum() {
    let keys: Vec<Keypair> = (1..=4u8).map(|i| Keypair::from_secret([i; 32])).collect();
    let pubs: Vec<PublicKey> = keys.iter().map(|k| k.public()).collect();
    let block = Hash([9; 32]);
    let sign = |i: usize| {
        let v = Vote {
            height: 5,
            round: 1,
            kind: VoteKind::Precommit,
            block: Some(block),
            validator: i as u16,
        };
        CommitSig {
            validator: i as u16,
            signature: v.sign(&keys[i], "delta").signature,
        }
    };
    let cert = CommitCertificate {
        height: 5,
        round: 1,
        block_hash: block,
        signatures: vec![sign(0), sign(1), sign(3)],
    };
    cert.verify("delta", 5, &block, &pubs).unwrap();
    assert!(cert.verify("other", 5, &block, &pubs).is_err());
    assert!(cert.verify("delta", 6, &block, &pubs).is_err());
    let mut two = cert.clone();
    two.signatures.pop();
    assert!(matches!(
        two.verify("delta", 5, &block, &pubs),
        Err(CertError::NoQuorum { .. })
    ));
    let mut dup = cert.clone();
    dup.signatures[2] = sign(1);
    assert!(matches!(
        dup.verify("delta", 5, &block, &pubs),
        Err(CertError::BadIndex(1))
    ));
    let mut other_keys = pubs.clone();
    other_keys[3] = Keypair::from_secret([77; 32]).public();
    assert!(matches!(
        cert.verify("delta", 5, &block, &other_keys),
        Err(CertError::BadSignature(3))
    ));
}

#[test]
fn tx_size_limit_enforced() {
    let k = Keypair::from_secret([1; 32]);
    let tx = Transaction {
        chain_id: "delta".into(),
        sender: k.public(),
        nonce: 1,
        payload: Payload::CreditCorrection(CreditCorrection {
            original_tx: Hash::ZERO,
            reason: "x".repeat(5000),
            withdraw: false,
        }),
    }
    .sign(&k);
    let bytes = tx.encode();
    assert!(matches!(
        SignedTransaction::decode(&bytes),
        Err(DecodeError::TooLarge { .. })
    ));
    assert!(matches!(
        tx.check_stateless("delta", bytes.len()),
        Err(TxError::TooLarge(_))
    ));
}

#[test]
fn stateless_checks_name_the_field() {
    let k = Keypair::from_secret([1; 32]);
    let mk = |payload| {
        Transaction {
            chain_id: "delta".into(),
            sender: k.public(),
            nonce: 1,
            payload,
        }
        .sign(&k)
    };
    let credit = Credit {
        enterprise: "91350100M000100Y43".into(),
        kind: CreditKind::Loan,
        reference: "LN-2026-001".into(),
        amount_fen: Some(50_000_000),
        currency: "CNY".into(),
        date: Date::parse("2026-03-01").unwrap(),
        rating: None,
        note: None,
    };
    let ok = mk(Payload::Credit(credit.clone()));
    ok.check_stateless("delta", ok.encode().len()).unwrap();
    assert!(matches!(
        ok.check_stateless("other", 10),
        Err(TxError::WrongChain { .. })
    ));
    // A wrong check character alone is a matter for the ledger (a
    // regulator may have admitted the code); the payload names it.
    let pilot = mk(Payload::Credit(Credit {
        enterprise: "91350100M000100Y44".into(),
        ..credit.clone()
    }));
    pilot.check_stateless("delta", 10).unwrap();
    assert_eq!(
        pilot.tx.payload.usccs_needing_exception(),
        vec![("enterprise", "91350100M000100Y44")]
    );
    assert!(ok.tx.payload.usccs_needing_exception().is_empty());
    let bad = mk(Payload::Credit(Credit {
        enterprise: "91350100M000I00Y43".into(),
        ..credit.clone()
    }));
    let e = bad.check_stateless("delta", 10).unwrap_err().to_string();
    assert!(e.contains("enterprise"), "{e}");
    let bad = mk(Payload::Credit(Credit {
        amount_fen: None,
        ..credit.clone()
    }));
    assert!(bad
        .check_stateless("delta", 10)
        .unwrap_err()
        .to_string()
        .contains("amount"));
    let bad = mk(Payload::IpRegister(IpRegister {
        ip_id: "ZL201710601862.4".into(),
        kind: IpKind::Patent,
        title: "A battery".into(),
        owner: "91350100M000100Y43".into(),
        registered_on: Date::parse("2019-01-01").unwrap(),
    }));
    assert!(bad
        .check_stateless("delta", 10)
        .unwrap_err()
        .to_string()
        .contains("ip_id"));
}

#[test]
fn genesis_json_round_trip_and_errors() {
    let k = Keypair::from_secret([3; 32]);
    let g = Genesis {
        chain_id: "yrd-credit-1".into(),
        genesis_time: time::parse_rfc3339_ms("2026-11-27T00:00:00Z").unwrap(),
        validators: vec![ValidatorInfo {
            name: "shanghai".into(),
            city: "Shanghai".into(),
            public_key: k.public(),
            p2p_addr: "/ip4/127.0.0.1/tcp/7170".into(),
        }],
        members: vec![MemberInfo {
            name: "bank-shanghai".into(),
            public_key: Keypair::from_secret([4; 32]).public(),
            roles: Roles::from_list(&[Role::Lender]),
            city: "上海".into(),
            categories: Categories::NONE,
        }],
        enterprises: Vec::new(),
        params: ConsensusParams::default(),
        rules: LedgerRules::default(),
    };
    let j = g.to_json();
    assert!(j.contains("\"2026-11-27T00:00:00.000Z\""), "{j}");
    assert!(j.contains("\"lender\""));
    let back = Genesis::from_json(&j).unwrap();
    assert_eq!(back.hash(), g.hash());
    let broken = j.replace("\"chain_id\"", "\"chainid\"");
    let e = Genesis::from_json(&broken).unwrap_err().to_string();
    assert!(e.contains("chain_id"), "{e}");
    let mut dup = g.clone();
    dup.members.push(dup.members[0].clone());
    assert!(dup.validate().is_err());
}
