//! Every ledger rule with an applied and a rejected case, and determinism.

use std::collections::BTreeMap;

use deltachain_protocol::*;
use proptest::prelude::*;

use super::*;

pub(crate) const ENT_A: &str = "91350100M000100Y43";
pub(crate) const ENT_B: &str = "91110000802100433B";
pub(crate) const PATENT: &str = "ZL201710601862.3";

/// A small world: genesis members and a committed state map.
struct World {
    chain: String,
    state: MemoryState,
    root: Hash,
    height: u64,
    nonces: BTreeMap<PublicKey, u64>,
    keys: BTreeMap<&'static str, Keypair>,
    /// Block time of the next block.
    time_ms: u64,
}

fn member(name: &str, seed: u8, roles: &[Role]) -> (MemberInfo, Keypair) {
    let k = Keypair::from_secret([seed; 32]);
    (
        MemberInfo {
            name: name.into(),
            public_key: k.public(),
            roles: Roles::from_list(roles),
            city: String::new(),
            categories: if roles.contains(&Role::DataProvider) {
                Categories::from_list(PublicCategory::ALL)
            } else {
                Categories::NONE
            },
        },
        k,
    )
}

impl World {
    fn new() -> World {
        let specs: [(&'static str, u8, &[Role]); 10] = [
            ("bank-shanghai", 1, &[Role::CreditReporter, Role::Lender]),
            ("bank-nanjing", 2, &[Role::CreditReporter, Role::Lender]),
            ("ipo-hangzhou", 3, &[Role::IpRegistrar]),
            ("regulator", 4, &[Role::Regulator]),
            ("reader", 5, &[Role::Reader]),
            ("amr", 6, &[Role::EnterpriseRegistrar]),
            ("scf", 7, &[Role::ReceivablesRegistrar]),
            ("tax", 8, &[Role::DataProvider]),
            ("bank-hangzhou", 9, &[Role::Lender]),
            ("regulator-2", 10, &[Role::Regulator]),
        ];
        let mut members = Vec::new();
        let mut keys = BTreeMap::new();
        for (name, seed, roles) in specs {
            let (m, k) = member(name, seed, roles);
            members.push(m);
            keys.insert(name, k);
        }
        let genesis = Genesis {
            chain_id: "test-chain".into(),
            genesis_time: 1_790_000_000_000,
            validators: vec![ValidatorInfo {
                name: "v".into(),
                city: "Shanghai".into(),
                public_key: Keypair::from_secret([99; 32]).public(),
                p2p_addr: "/ip4/127.0.0.1/tcp/1".into(),
            }],
            members,
            enterprises: Vec::new(),
            params: ConsensusParams::default(),
            rules: LedgerRules::default(),
        };
        keys.insert("validator", Keypair::from_secret([99; 32]));
        keys.insert("ent-a", Keypair::from_secret([30; 32]));
        keys.insert("ent-a-new", Keypair::from_secret([31; 32]));
        keys.insert("ent-b", Keypair::from_secret([32; 32]));
        let (writes, tree, root) = genesis_state(&genesis);
        let mut w = World {
            chain: genesis.chain_id.clone(),
            state: MemoryState::default(),
            root,
            height: 0,
            nonces: BTreeMap::new(),
            keys,
            time_ms: time::parse_rfc3339_ms("2026-11-27T10:00:00Z").unwrap(),
        };
        w.state.apply(&writes, &tree);
        w
    }

    fn tx(&mut self, who: &str, payload: Payload) -> SignedTransaction {
        let key = &self.keys[who];
        let n = self.nonces.entry(key.public()).or_insert(0);
        *n += 1;
        Transaction {
            chain_id: self.chain.clone(),
            sender: key.public(),
            nonce: *n,
            payload,
        }
        .sign(key)
    }

    /// Executes one block at a fixed date and commits it.
    fn block(&mut self, txs: Vec<SignedTransaction>) -> Vec<Receipt> {
        self.height += 1;
        let hashes: Vec<Hash> = txs.iter().map(|t| t.hash()).collect();
        let ctx = BlockContext {
            height: self.height,
            time_ms: self.time_ms,
            objection_answer_ms: 20 * 86_400_000,
        };
        let out = execute_block(&self.state, ctx, &txs, &hashes).unwrap();
        self.root = out.state_root;
        self.state.apply(&out.writes, &out.tree);
        out.receipts
    }

    fn one(&mut self, who: &str, payload: Payload) -> Receipt {
        let tx = self.tx(who, payload);
        self.block(vec![tx]).pop().unwrap()
    }

    fn ip(&self, id: &str) -> Option<IpRecord> {
        self.state
            .kv
            .get(&keys::ip(id))
            .map(|b| codec::decode(b, 1 << 20, "ip").unwrap())
    }

    fn credit(&self, uscc: &str, seq: u64) -> CreditEntry {
        codec::decode(&self.state.kv[&keys::credit(uscc, seq)], 1 << 20, "c").unwrap()
    }
}

fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn register(id: &str, owner: &str) -> Payload {
    Payload::IpRegister(IpRegister {
        ip_id: id.into(),
        kind: IpKind::Patent,
        title: "Solid-state lithium battery separator".into(),
        owner: owner.into(),
        registered_on: date("2019-05-10"),
    })
}

fn pledge(id: &str, until: &str) -> Payload {
    Payload::IpPledge(IpPledge {
        ip_id: id.into(),
        amount_fen: 500_000_000,
        contract: "PL-2026-0042".into(),
        until: date(until),
    })
}

fn release(id: &str) -> Payload {
    Payload::IpRelease(IpRelease { ip_id: id.into() })
}

fn loan(uscc: &str) -> Payload {
    Payload::Credit(Credit {
        enterprise: uscc.into(),
        kind: CreditKind::Loan,
        reference: "LN-2026-001".into(),
        amount_fen: Some(100_000_000),
        currency: "CNY".into(),
        date: date("2026-03-01"),
        rating: None,
        note: None,
    })
}

fn assert_applied(r: &Receipt) {
    assert_eq!(r.outcome, Outcome::Applied, "{:?}", r.reason);
}

fn assert_rejected(r: &Receipt, contains: &str) -> String {
    assert_eq!(r.outcome, Outcome::Rejected);
    let reason = r.reason.clone().unwrap();
    assert!(
        reason.contains(contains),
        "reason {reason:?} lacks {contains:?}"
    );
    reason
}

#[test]
fn double_pledge_is_refused_naming_the_first_pledgee() {
    let mut w = World::new();
    assert_applied(&w.one("ipo-hangzhou", register(PATENT, ENT_A)));
    assert_applied(&w.one("bank-shanghai", pledge(PATENT, "2027-06-30")));
    let r = w.one("bank-nanjing", pledge(PATENT, "2028-01-01"));
    let reason = assert_rejected(&r, "already pledged to bank-shanghai until 2027-06-30");
    assert!(reason.contains(PATENT));
    // The first pledge stands untouched.
    let ip = w.ip(PATENT).unwrap();
    assert_eq!(ip.pledge.unwrap().pledgee, w.keys["bank-shanghai"].public());
}

#[test]
fn release_only_by_pledgee_then_second_pledge_applies() {
    let mut w = World::new();
    w.one("ipo-hangzhou", register(PATENT, ENT_A));
    w.one("bank-shanghai", pledge(PATENT, "2027-06-30"));
    assert_rejected(&w.one("bank-nanjing", release(PATENT)), "only the pledgee");
    assert_applied(&w.one("bank-shanghai", release(PATENT)));
    assert_rejected(&w.one("bank-shanghai", release(PATENT)), "no pledge");
    assert_applied(&w.one("bank-nanjing", pledge(PATENT, "2028-01-01")));
    let ip = w.ip(PATENT).unwrap();
    assert_eq!(ip.events, 4);
}

#[test]
fn expired_pledge_does_not_block() {
    let mut w = World::new();
    w.one("ipo-hangzhou", register(PATENT, ENT_A));
    // Until yesterday relative to the block date: refused as already past.
    assert_rejected(
        &w.one("bank-shanghai", pledge(PATENT, "2026-11-26")),
        "before the block date",
    );
    assert_applied(&w.one("bank-shanghai", pledge(PATENT, "2026-11-27")));
}

#[test]
fn ip_must_be_registered_before_pledge_or_transfer() {
    let mut w = World::new();
    assert_rejected(
        &w.one("bank-shanghai", pledge(PATENT, "2027-06-30")),
        "not registered",
    );
    let t = Payload::IpTransfer(IpTransfer {
        ip_id: PATENT.into(),
        new_owner: ENT_B.into(),
    });
    assert_rejected(&w.one("ipo-hangzhou", t), "not registered");
    assert_rejected(&w.one("bank-shanghai", release(PATENT)), "not registered");
}

#[test]
fn registration_is_unique() {
    let mut w = World::new();
    assert_applied(&w.one("ipo-hangzhou", register(PATENT, ENT_A)));
    assert_rejected(
        &w.one("ipo-hangzhou", register(PATENT, ENT_B)),
        "already registered",
    );
}

#[test]
fn pledged_ip_cannot_be_transferred() {
    let mut w = World::new();
    w.one("ipo-hangzhou", register(PATENT, ENT_A));
    let t = || {
        Payload::IpTransfer(IpTransfer {
            ip_id: PATENT.into(),
            new_owner: ENT_B.into(),
        })
    };
    w.one("bank-shanghai", pledge(PATENT, "2027-06-30"));
    assert_rejected(&w.one("ipo-hangzhou", t()), "pledged to bank-shanghai");
    w.one("bank-shanghai", release(PATENT));
    assert_applied(&w.one("ipo-hangzhou", t()));
    assert_eq!(w.ip(PATENT).unwrap().owner, ENT_B);
    assert!(w.state.kv.contains_key(&keys::owned_ip(ENT_B, PATENT)));
    assert!(!w.state.kv.contains_key(&keys::owned_ip(ENT_A, PATENT)));
    assert_rejected(&w.one("ipo-hangzhou", t()), "already owned");
}

#[test]
fn roles_are_enforced() {
    let mut w = World::new();
    assert_rejected(
        &w.one("bank-shanghai", register(PATENT, ENT_A)),
        "needs the ip_registrar role",
    );
    assert_rejected(
        &w.one("ipo-hangzhou", loan(ENT_A)),
        "needs the credit_reporter role",
    );
    assert_rejected(&w.one("reader", loan(ENT_A)), "reader");
    w.one("ipo-hangzhou", register(PATENT, ENT_A));
    assert_rejected(
        &w.one("ipo-hangzhou", pledge(PATENT, "2027-01-01")),
        "needs the lender role",
    );
    let add = Payload::AddMember(AddMember {
        name: "bank-hefei".into(),
        public_key: Keypair::from_secret([50; 32]).public(),
        roles: Roles::from_list(&[Role::Lender]),
        city: String::new(),
        categories: Categories::NONE,
    });
    assert_rejected(&w.one("bank-shanghai", add), "needs the regulator role");
}

#[test]
fn non_members_are_rejected_but_their_nonce_is_spent() {
    let mut w = World::new();
    let stranger = Keypair::from_secret([77; 32]);
    w.keys.insert("stranger", stranger);
    let r = w.one("stranger", loan(ENT_A));
    assert_rejected(&r, "not a member");
    let pk = w.keys["stranger"].public();
    assert!(w.state.kv.contains_key(&keys::nonce(&pk)));
}

#[test]
fn nonces_must_be_next() {
    let mut w = World::new();
    let tx1 = w.tx("bank-shanghai", loan(ENT_A));
    let _skipped = w.tx("bank-shanghai", loan(ENT_A));
    let tx3 = w.tx("bank-shanghai", loan(ENT_A));
    let hashes = vec![tx1.hash(), tx3.hash()];
    let ctx = BlockContext {
        height: 1,
        time_ms: 1_790_000_000_000,
        objection_answer_ms: 1000,
    };
    let e = execute_block(&w.state, ctx, &[tx1.clone(), tx3], &hashes).unwrap_err();
    assert!(
        matches!(e, BlockError::Invalid(ref m) if m.contains("expected 2")),
        "{e}"
    );
    // Replaying a committed transaction is invalid too.
    w.block(vec![tx1.clone()]);
    let e = execute_block(&w.state, ctx, std::slice::from_ref(&tx1), &[tx1.hash()]).unwrap_err();
    assert!(matches!(e, BlockError::Invalid(_)));
}

#[test]
fn credit_history_across_banks_with_corrections() {
    let mut w = World::new();
    let a = w.tx("bank-shanghai", loan(ENT_A));
    let a_hash = a.hash();
    let b = w.tx(
        "bank-nanjing",
        Payload::Credit(Credit {
            kind: CreditKind::Default,
            reference: "NJ-LN-77".into(),
            ..match loan(ENT_A) {
                Payload::Credit(c) => c,
                _ => unreachable!(),
            }
        }),
    );
    let rs = w.block(vec![a, b]);
    rs.iter().for_each(assert_applied);
    assert_eq!(
        w.credit(ENT_A, 0).reporter,
        w.keys["bank-shanghai"].public()
    );
    let second = w.credit(ENT_A, 1);
    assert_eq!(
        (second.index, second.reporter),
        (1, w.keys["bank-nanjing"].public())
    );
    assert_eq!(w.credit(ENT_A, 0).index, 0);
    // Every transaction is findable by hash, and a credit report names
    // the record it created.
    let entry: TxEntry = codec::decode(&w.state.kv[&keys::tx(&a_hash)], 1 << 10, "t").unwrap();
    assert_eq!(entry.index, 0);
    assert_eq!(
        entry.credit,
        Some(CreditLocation {
            uscc: ENT_A.into(),
            seq: 0
        })
    );

    let corr = |withdraw| {
        Payload::CreditCorrection(CreditCorrection {
            original_tx: a_hash,
            reason: "amount was 800,000 yuan".into(),
            withdraw,
        })
    };
    assert_rejected(
        &w.one("bank-nanjing", corr(false)),
        "only bank-shanghai, the original reporter",
    );
    assert_applied(&w.one("bank-shanghai", corr(false)));
    assert_applied(&w.one("bank-shanghai", corr(true)));
    assert_rejected(&w.one("bank-shanghai", corr(false)), "already withdrawn");
    let entry = w.credit(ENT_A, 0);
    assert_eq!(entry.corrections.len(), 2);
    assert!(entry.withdrawn());
    let missing = Payload::CreditCorrection(CreditCorrection {
        original_tx: Hash([1; 32]),
        reason: "x".into(),
        withdraw: true,
    });
    assert_rejected(&w.one("bank-shanghai", missing), "nothing to correct");
}

/// A clerk's retry of the same record is refused naming the first, in the
/// same block or a later one; another bank, kind, date or reference is a
/// different record; a withdrawn record's identity may be reported afresh.
#[test]
fn a_credit_record_is_reported_once() {
    let mut w = World::new();
    let first = w.tx("bank-shanghai", loan(ENT_A));
    let first_hash = first.hash();
    let retry = w.tx("bank-shanghai", loan(ENT_A));
    let rs = w.block(vec![first, retry]);
    assert_applied(&rs[0]);
    let reason = assert_rejected(&rs[1], "duplicate");
    assert!(reason.contains(&first_hash.to_hex()), "{reason}");
    assert!(reason.contains("credit_correction"), "{reason}");
    // A different amount is still the same record: corrections change it.
    let mut other_amount = match loan(ENT_A) {
        Payload::Credit(c) => c,
        _ => unreachable!(),
    };
    other_amount.amount_fen = Some(1);
    assert_rejected(
        &w.one("bank-shanghai", Payload::Credit(other_amount.clone())),
        "duplicate",
    );
    assert_applied(&w.one("bank-nanjing", loan(ENT_A)));
    assert_applied(&w.one("bank-shanghai", loan(ENT_B)));
    for change in [
        |c: &mut Credit| c.reference = "LN-2026-002".into(),
        |c: &mut Credit| c.date = Date::parse("2026-03-02").unwrap(),
        |c: &mut Credit| c.kind = CreditKind::Repayment,
    ] {
        let mut c = other_amount.clone();
        change(&mut c);
        assert_applied(&w.one("bank-shanghai", Payload::Credit(c)));
    }
    let tally: CreditCommitment =
        codec::decode(&w.state.kv[&keys::credit_commitment(ENT_A)], 1 << 10, "n").unwrap();
    let count = tally.count;
    assert_eq!(count, 5, "the refused retries left no record");
    assert_applied(&w.one(
        "bank-shanghai",
        Payload::CreditCorrection(CreditCorrection {
            original_tx: first_hash,
            reason: "wrong branch; reported again".into(),
            withdraw: true,
        }),
    ));
    assert_applied(&w.one("bank-shanghai", loan(ENT_A)));
    assert_rejected(&w.one("bank-shanghai", loan(ENT_A)), "duplicate");
}

/// Credit events and registrations may not lie after the block's date
/// (beyond a day for time zones); a pledge's end date may.
#[test]
fn event_dates_may_not_lie_in_the_future() {
    let mut w = World::new();
    // Blocks are dated 2026-11-27.
    let on = |d: &str| {
        let mut c = match loan(ENT_A) {
            Payload::Credit(c) => c,
            _ => unreachable!(),
        };
        c.date = Date::parse(d).unwrap();
        c.reference = format!("LN-{d}");
        Payload::Credit(c)
    };
    let r = w.one("bank-shanghai", on("2099-01-01"));
    assert_rejected(
        &r,
        "credit event date 2099-01-01 is after the block date 2026-11-27",
    );
    assert_rejected(
        &w.one("bank-shanghai", on("2026-11-29")),
        "after the block date",
    );
    assert_applied(&w.one("bank-shanghai", on("2026-11-28")));
    assert_applied(&w.one("bank-shanghai", on("2026-11-27")));
    let mut reg = match register(PATENT, ENT_A) {
        Payload::IpRegister(r) => r,
        _ => unreachable!(),
    };
    reg.registered_on = Date::parse("2030-01-01").unwrap();
    assert_rejected(
        &w.one("ipo-hangzhou", Payload::IpRegister(reg.clone())),
        "registration date",
    );
    reg.registered_on = Date::parse("2026-11-28").unwrap();
    assert_applied(&w.one("ipo-hangzhou", Payload::IpRegister(reg)));
    assert_applied(&w.one("bank-shanghai", pledge(PATENT, "2036-12-31")));
}

#[test]
fn membership_changes_only_by_regulator() {
    let mut w = World::new();
    let hefei = Keypair::from_secret([60; 32]);
    let add = Payload::AddMember(AddMember {
        name: "bank-hefei".into(),
        public_key: hefei.public(),
        roles: Roles::from_list(&[Role::CreditReporter]),
        city: "合肥".into(),
        categories: Categories::NONE,
    });
    assert_applied(&w.one("regulator", add.clone()));
    assert_rejected(&w.one("regulator", add), "already belongs");
    w.keys.insert("bank-hefei", hefei);
    assert_applied(&w.one("bank-hefei", loan(ENT_B)));
    let pk = w.keys["bank-hefei"].public();
    let set = Payload::SetRoles(SetRoles {
        public_key: pk,
        roles: Roles::from_list(&[Role::Reader]),
        categories: Categories::NONE,
    });
    assert_applied(&w.one("regulator", set));
    assert_rejected(
        &w.one("bank-hefei", loan(ENT_B)),
        "needs the credit_reporter role",
    );
    let reg = w.keys["regulator"].public();
    assert_rejected(
        &w.one(
            "regulator",
            Payload::RemoveMember(RemoveMember { public_key: reg }),
        ),
        "may not remove itself",
    );
    assert_applied(&w.one(
        "regulator",
        Payload::RemoveMember(RemoveMember { public_key: pk }),
    ));
    assert_rejected(&w.one("bank-hefei", loan(ENT_B)), "not a member");
}

#[test]
fn overlay_execution_leaves_base_untouched() {
    let mut w = World::new();
    let before = w.state.kv.clone();
    let tx = w.tx("ipo-hangzhou", register(PATENT, ENT_A));
    let ctx = BlockContext {
        height: 1,
        time_ms: 1_790_000_000_000,
        objection_answer_ms: 1000,
    };
    let out = execute_block(&w.state, ctx, std::slice::from_ref(&tx), &[tx.hash()]).unwrap();
    assert!(!out.writes.is_empty());
    assert_eq!(w.state.kv, before);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The same block sequence always yields the same roots and receipts.
    #[test]
    fn execution_is_deterministic(ops in proptest::collection::vec((0u8..6, 0u8..3, 0u8..2), 1..40)) {
        let run = || {
            let mut w = World::new();
            let ids = [PATENT, "ZL98123456.9", "TM-2020-0001"];
            let mut roots = Vec::new();
            let mut receipts = Vec::new();
            for chunk in ops.chunks(5) {
                let mut txs = Vec::new();
                for &(op, ip, bank) in chunk {
                    let id = ids[ip as usize];
                    let bank = if bank == 0 { "bank-shanghai" } else { "bank-nanjing" };
                    let tx = match op {
                        0 => w.tx("ipo-hangzhou", register(id, ENT_A)),
                        1 => w.tx(bank, pledge(id, "2027-06-30")),
                        2 => w.tx(bank, release(id)),
                        3 => w.tx("ipo-hangzhou", Payload::IpTransfer(IpTransfer { ip_id: id.into(), new_owner: ENT_B.into() })),
                        4 => w.tx(bank, loan(ENT_A)),
                        _ => w.tx(bank, loan(ENT_B)),
                    };
                    txs.push(tx);
                }
                receipts.extend(w.block(txs));
                roots.push(w.root);
            }
            // Never two active pledges: the IP state holds at most one.
            (roots, receipts, w.state.kv)
        };
        let (r1, rc1, s1) = run();
        let (r2, rc2, s2) = run();
        prop_assert_eq!(r1, r2);
        prop_assert_eq!(rc1, rc2);
        prop_assert_eq!(s1, s2);
    }
}

fn consent_payload(w: &World, signer: &str, id: &str, until: &str) -> Payload {
    Payload::ConsentGrant(
        Consent {
            chain_id: w.chain.clone(),
            enterprise: ENT_A.into(),
            grantee: w.keys["bank-shanghai"].public(),
            scope: Scope::Credit,
            purpose: Purpose::LoanApproval,
            not_before: date("2026-11-01"),
            until: date(until),
            consent_id: id.into(),
        }
        .sign(&w.keys[signer]),
    )
}

fn audit_entry(w: &World) -> AuditEntry {
    AuditEntry {
        time_ms: 1,
        requester: w.keys["bank-shanghai"].public(),
        enterprise: ENT_A.into(),
        route: AuditRoute::EnterpriseRecords,
        purpose: Some(Purpose::LoanApproval),
        basis: AccessBasis::Consent {
            consent_id: "c1".into(),
        },
        outcome: AuditOutcome::Granted,
        response_hash: Hash([1; 32]),
    }
}

#[test]
fn enterprise_keys_consents_revocations_and_audit_batches() {
    let mut w = World::new();
    let reason = |r: Receipt| r.reason.unwrap_or_default();
    let r = w.one(
        "bank-shanghai",
        consent_payload(&w, "ent-a", "c1", "2027-06-30"),
    );
    assert!(reason(r).contains("has no key on chain"));
    let bind = |w: &World, who: &str| {
        Payload::EnterpriseKey(EnterpriseKey {
            uscc: ENT_A.into(),
            public_key: w.keys[who].public(),
        })
    };
    let r = w.one("reader", bind(&w, "ent-a"));
    assert!(reason(r).contains("enterprise_registrar"));
    assert_eq!(w.one("amr", bind(&w, "ent-a")).outcome, Outcome::Applied);
    let r = w.one("amr", bind(&w, "bank-nanjing"));
    assert!(
        reason(r).contains("belongs to member"),
        "a member's key is not an enterprise's"
    );

    // Grant: signed by the enterprise, submitted by the grantee bank.
    assert_eq!(
        w.one(
            "bank-shanghai",
            consent_payload(&w, "ent-a", "c1", "2027-06-30")
        )
        .outcome,
        Outcome::Applied
    );
    let r = w.one(
        "bank-nanjing",
        consent_payload(&w, "ent-a", "c1", "2027-06-30"),
    );
    assert!(reason(r).contains("already used"));
    let r = w.one(
        "bank-shanghai",
        consent_payload(&w, "ent-a-new", "c2", "2027-06-30"),
    );
    assert!(reason(r).contains("not signed by the key bound"));
    let r = w.one(
        "bank-shanghai",
        consent_payload(&w, "ent-a", "c3", "2026-11-02"),
    );
    assert!(reason(r).contains("ended on"));
    let mut other_chain = consent_payload(&w, "ent-a", "c4", "2027-06-30");
    if let Payload::ConsentGrant(c) = &mut other_chain {
        c.consent.chain_id = "elsewhere".into();
        *c = c.consent.clone().sign(&w.keys["ent-a"]);
    }
    assert!(reason(w.one("bank-shanghai", other_chain)).contains("for chain"));
    let rec: ConsentRecord =
        codec::decode(&w.state.kv[&keys::consent("c1")], 1 << 20, "c").unwrap();
    let bound = w.keys["ent-a"].public();
    assert!(rec.active(date("2026-11-27"), Some(&bound)));
    assert!(
        !rec.active(date("2027-07-01"), Some(&bound)),
        "expired after until"
    );
    assert!(
        !rec.active(date("2026-10-31"), Some(&bound)),
        "not before not_before"
    );
    let other = w.keys["ent-a-new"].public();
    assert!(
        !rec.active(date("2026-11-27"), Some(&other)),
        "lapses with a new key"
    );

    // Revoke: the enterprise itself submits, with no membership.
    let forged = ConsentRevoke::sign(&w.chain, "c1", &w.keys["bank-shanghai"]);
    let r = w.one("bank-nanjing", Payload::ConsentRevoke(forged));
    assert!(reason(r).contains("not signed by the key bound"));
    let revoke = ConsentRevoke::sign(&w.chain, "c1", &w.keys["ent-a"]);
    assert_eq!(
        w.one("ent-a", Payload::ConsentRevoke(revoke.clone()))
            .outcome,
        Outcome::Applied
    );
    let rec: ConsentRecord =
        codec::decode(&w.state.kv[&keys::consent("c1")], 1 << 20, "c").unwrap();
    assert!(!rec.active(date("2026-11-27"), Some(&bound)));
    assert!(
        reason(w.one("bank-nanjing", Payload::ConsentRevoke(revoke))).contains("already revoked")
    );
    // An enterprise key may not send anything else.
    let r = w.one("ent-a", bind(&w, "ent-a-new"));
    assert!(reason(r).contains("not a member"));

    // Rebinding moves the key: the old one no longer names the enterprise.
    assert_eq!(
        w.one("amr", bind(&w, "ent-a-new")).outcome,
        Outcome::Applied
    );
    assert!(!w
        .state
        .kv
        .contains_key(&keys::enterprise_of(&w.keys["ent-a"].public())));

    // Audit batches: only validators, once each, no gaps.
    let batch = |first_seq: u64, n: usize, w: &World| {
        Payload::AuditBatch(AuditBatch {
            first_seq,
            entries: vec![audit_entry(w); n],
        })
    };
    let r = w.one("bank-shanghai", batch(0, 2, &w));
    assert!(reason(r).contains("not a validator"));
    assert_eq!(
        w.one("validator", batch(0, 2, &w)).outcome,
        Outcome::Applied
    );
    assert!(reason(w.one("validator", batch(0, 2, &w))).contains("already recorded"));
    // Overlapping resend: only the new entry is added.
    assert_eq!(
        w.one("validator", batch(1, 2, &w)).outcome,
        Outcome::Applied
    );
    let count: u64 = codec::decode(&w.state.kv[keys::AUDIT_COUNT], 16, "n").unwrap();
    assert_eq!(count, 3);
    // A jump forward (a restarted node numbering from its clock) is fine;
    // going back below it is a resend.
    assert_eq!(
        w.one("validator", batch(1000, 1, &w)).outcome,
        Outcome::Applied
    );
    assert!(reason(w.one("validator", batch(999, 2, &w))).contains("already recorded"));
    let next: u64 = codec::decode(
        &w.state.kv[&keys::audit_next(&w.keys["validator"].public())],
        16,
        "n",
    )
    .unwrap();
    assert_eq!(next, 1001);
}

mod registry;
