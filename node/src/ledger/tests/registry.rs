//! Receivables, public records, objections and code exceptions: each rule
//! applied and refused, split arithmetic at its edges, and a property test
//! of the double-financing invariant.

// Amounts are written yuan_fen (`1_000_00` is 1,000.00 yuan).
#![allow(clippy::inconsistent_digit_grouping)]

use deltachain_protocol::state::Receivable;

use super::*;

/// A pilot-era code: well formed, wrong check character.
const PILOT: &str = "91350100M0001TGQXM";

fn bind(w: &mut World, uscc: &str, who: &str) {
    let p = Payload::EnterpriseKey(EnterpriseKey {
        uscc: uscc.into(),
        public_key: w.keys[who].public(),
    });
    assert_applied(&w.one("amr", p));
}

/// A world where ENT_A (supplier) and ENT_B (core enterprise) hold keys.
fn world() -> World {
    let mut w = World::new();
    bind(&mut w, ENT_A, "ent-a");
    bind(&mut w, ENT_B, "ent-b");
    w
}

fn terms(id: &str, amount_fen: u64, invoices: &[&str]) -> ReceivableTerms {
    ReceivableTerms {
        receivable_id: id.into(),
        creditor: ENT_A.into(),
        debtor: ENT_B.into(),
        amount_fen,
        currency: "CNY".into(),
        issued_on: date("2026-09-01"),
        due_on: date("2027-03-01"),
        invoices: invoices.iter().map(|s| s.to_string()).collect(),
        contract: "供货-2026-17".into(),
        collateral_registration: Some("04512345000123456789".into()),
    }
}

fn register(w: &World, t: ReceivableTerms) -> Payload {
    Payload::ReceivableRegister(t.confirm(&w.chain, &w.keys["ent-b"]))
}

fn finance(id: &str, amount_fen: u64, kind: FinanceKind) -> Payload {
    Payload::ReceivableFinance(ReceivableFinance {
        receivable_id: id.into(),
        kind,
        amount_fen,
        contract: "保理-001".into(),
        until: date("2027-03-01"),
    })
}

fn split(id: &str, parts: &[(&str, &str, u64)]) -> Payload {
    Payload::ReceivableSplit(ReceivableSplit {
        receivable_id: id.into(),
        parts: parts
            .iter()
            .map(|(p, h, a)| ReceivablePart {
                part_id: p.to_string(),
                holder: h.to_string(),
                amount_fen: *a,
            })
            .collect(),
    })
}

fn settle(id: &str, amount_fen: u64) -> Payload {
    Payload::ReceivableSettle(ReceivableSettle {
        receivable_id: id.into(),
        amount_fen,
        paid_on: date("2026-11-20"),
    })
}

impl World {
    fn receivable(&self, id: &str) -> Receivable {
        codec::decode(&self.state.kv[&keys::receivable(id)], 1 << 20, "rv").unwrap()
    }
}

#[test]
fn registration_needs_the_debtors_confirmation_and_free_invoices() {
    let mut w = World::new();
    bind(&mut w, ENT_A, "ent-a");
    let p = register(&w, terms("AR-1", 100_00, &["INV-1"]));
    assert_rejected(&w.one("scf", p.clone()), "has no key on chain");
    bind(&mut w, ENT_B, "ent-b");
    assert_rejected(&w.one("bank-shanghai", p.clone()), "receivables_registrar");
    // Signed by the creditor, not the debtor.
    let forged = Payload::ReceivableRegister(
        terms("AR-1", 100_00, &["INV-1"]).confirm(&w.chain, &w.keys["ent-a"]),
    );
    assert_rejected(
        &w.one("scf", forged),
        "not signed by the key bound to debtor",
    );
    // Terms changed after the debtor signed.
    let mut altered = register(&w, terms("AR-1", 100_00, &["INV-1"]));
    if let Payload::ReceivableRegister(r) = &mut altered {
        r.terms.amount_fen = 999_00;
    }
    assert_rejected(&w.one("scf", altered), "over exactly these terms");
    assert_applied(&w.one("scf", p.clone()));
    let r = w.receivable("AR-1");
    assert_eq!((r.holder.as_str(), r.balance()), (ENT_A, 100_00));
    assert_rejected(&w.one("scf", p), "already used");
    // An overlapping invoice number backs one live receivable only.
    let overlap = register(&w, terms("AR-2", 50_00, &["INV-9", "INV-1"]));
    let reason = assert_rejected(&w.one("scf", overlap.clone()), "invoice INV-1");
    assert!(reason.contains("AR-1"), "{reason}");
    // Once AR-1 is paid in full, its invoices are free again.
    assert_applied(&w.one("scf", settle("AR-1", 100_00)));
    assert_applied(&w.one("scf", overlap));
}

#[test]
fn no_second_financing_and_release_by_the_financier_only() {
    let mut w = world();
    assert_applied(&w.one("scf", register(&w, terms("AR-1", 1_000_00, &["I1"]))));
    assert_rejected(
        &w.one(
            "bank-hangzhou",
            finance("AR-1", 1_000_01, FinanceKind::Factoring),
        ),
        "exceeds the unsettled balance",
    );
    assert_applied(&w.one(
        "bank-hangzhou",
        finance("AR-1", 800_00, FinanceKind::Factoring),
    ));
    let reason = assert_rejected(
        &w.one(
            "bank-shanghai",
            finance("AR-1", 100_00, FinanceKind::Pledge),
        ),
        "already financed",
    );
    assert!(reason.contains("factoring to bank-hangzhou"), "{reason}");
    let release = Payload::ReceivableRelease(ReceivableRelease {
        receivable_id: "AR-1".into(),
    });
    assert_rejected(
        &w.one("bank-shanghai", release.clone()),
        "only the financier",
    );
    assert_applied(&w.one("bank-hangzhou", release.clone()));
    assert_rejected(&w.one("bank-hangzhou", release), "no financing to release");
    assert_applied(&w.one(
        "bank-shanghai",
        finance("AR-1", 100_00, FinanceKind::Pledge),
    ));
    assert_rejected(
        &w.one("bank-shanghai", finance("AR-9", 1, FinanceKind::Pledge)),
        "not registered",
    );
}

#[test]
fn split_arithmetic_at_the_edges() {
    let mut w = world();
    assert_applied(&w.one("scf", register(&w, terms("AR-1", 1_000_00, &["I1"]))));
    // One fen over the balance.
    assert_rejected(
        &w.one(
            "ent-a",
            split("AR-1", &[("P1", ENT_B, 600_00), ("P2", ENT_A, 400_01)]),
        ),
        "add up to 1,000.01",
    );
    // Only the holder (or the platform) splits.
    assert_rejected(
        &w.one("ent-b", split("AR-1", &[("P1", ENT_B, 1)])),
        "only the holder",
    );
    // After a partial payment the balance is smaller.
    assert_applied(&w.one("scf", settle("AR-1", 100_00)));
    assert_rejected(
        &w.one("ent-a", split("AR-1", &[("P1", ENT_B, 900_01)])),
        "only 900.00",
    );
    // A financed share stays with the parent; only the rest can be split.
    assert_applied(&w.one(
        "bank-hangzhou",
        finance("AR-1", 300_00, FinanceKind::Pledge),
    ));
    assert_rejected(
        &w.one("ent-a", split("AR-1", &[("P1", ENT_B, 600_01)])),
        "a financed part cannot be split",
    );
    // Exactly the free balance.
    assert_applied(&w.one(
        "ent-a",
        split("AR-1", &[("P1", ENT_B, 400_00), ("P2", ENT_A, 200_00)]),
    ));
    let parent = w.receivable("AR-1");
    assert_eq!((parent.balance(), parent.split_fen), (300_00, 600_00));
    let p1 = w.receivable("P1");
    assert_eq!(
        (
            p1.holder.as_str(),
            p1.debtor.as_str(),
            p1.due_on,
            p1.root.as_str()
        ),
        (ENT_B, ENT_B, date("2027-03-01"), "AR-1")
    );
    // Parts are financed on their own; the parent's financing is untouched.
    assert_applied(&w.one(
        "bank-shanghai",
        finance("P2", 200_00, FinanceKind::Factoring),
    ));
    assert_rejected(
        &w.one("bank-nanjing", finance("P2", 1, FinanceKind::Pledge)),
        "already financed",
    );
    // A financed part can be neither split nor transferred.
    assert_rejected(
        &w.one("ent-a", split("P2", &[("P3", ENT_B, 1)])),
        "only 0.00",
    );
    let to_b = Payload::ReceivableTransfer(ReceivableTransfer {
        receivable_id: "P2".into(),
        new_holder: ENT_B.into(),
    });
    assert_rejected(&w.one("ent-a", to_b), "must release it before a transfer");
    // Part ids are unique chain-wide.
    assert_rejected(
        &w.one("ent-b", split("P1", &[("AR-1", ENT_A, 1)])),
        "already used",
    );
    // Payments on the parent cannot reach money split off.
    assert_rejected(
        &w.one("scf", settle("AR-1", 300_01)),
        "parts split off are paid on the parts",
    );
}

#[test]
fn transfer_and_settlement() {
    let mut w = world();
    assert_applied(&w.one("scf", register(&w, terms("AR-1", 500_00, &["I1"]))));
    let to_b = Payload::ReceivableTransfer(ReceivableTransfer {
        receivable_id: "AR-1".into(),
        new_holder: ENT_B.into(),
    });
    assert_rejected(&w.one("bank-shanghai", to_b.clone()), "only the holder");
    assert_applied(&w.one("ent-a", to_b.clone()));
    assert_eq!(w.receivable("AR-1").holder, ENT_B);
    assert_rejected(&w.one("ent-b", to_b), "already held by");
    // Payment reduces what is financed.
    assert_applied(&w.one(
        "bank-shanghai",
        finance("AR-1", 500_00, FinanceKind::Pledge),
    ));
    assert_applied(&w.one("scf", settle("AR-1", 200_00)));
    let r = w.receivable("AR-1");
    assert_eq!(
        (r.balance(), r.financing.as_ref().unwrap().amount_fen),
        (300_00, 300_00)
    );
    assert_rejected(&w.one("scf", settle("AR-1", 300_01)), "exceeds the balance");
    assert_applied(&w.one("scf", settle("AR-1", 300_00)));
    let r = w.receivable("AR-1");
    assert!(r.financing.is_none() && r.balance() == 0);
    assert_rejected(
        &w.one("bank-nanjing", finance("AR-1", 1, FinanceKind::Pledge)),
        "nothing left to finance",
    );
}

fn tax_grade(uscc: &str, period: &str, grade: &str) -> Payload {
    Payload::PublicRecord(PublicRecord {
        enterprise: uscc.into(),
        period: period.into(),
        data: PublicData::TaxGrade {
            grade: grade.into(),
        },
        source: "税务-2026-001".into(),
        note: None,
    })
}

#[test]
fn public_records_by_category_with_duplicates_and_corrections() {
    let mut w = World::new();
    // A provider limited to court records may not write tax grades.
    let court_only = Keypair::from_secret([60; 32]);
    let add = Payload::AddMember(AddMember {
        name: "court-hefei".into(),
        public_key: court_only.public(),
        roles: Roles::from_list(&[Role::DataProvider]),
        city: "合肥".into(),
        categories: Categories::from_list(&[PublicCategory::CourtJudgment]),
    });
    assert_applied(&w.one("regulator", add));
    w.keys.insert("court", court_only);
    assert_rejected(
        &w.one("court", tax_grade(ENT_A, "2026-10", "A")),
        "may not write tax_grade records",
    );
    assert_rejected(
        &w.one("bank-shanghai", tax_grade(ENT_A, "2026-10", "A")),
        "needs the data_provider role",
    );
    assert_rejected(
        &w.one("tax", tax_grade(ENT_A, "2026-12", "A")),
        "after the block's month",
    );
    let first = w.tx("tax", tax_grade(ENT_A, "2026-10", "A"));
    let first_hash = first.hash();
    assert_applied(&w.block(vec![first]).pop().unwrap());
    assert_rejected(&w.one("tax", tax_grade(ENT_A, "2026-10", "B")), "duplicate");
    let correction = |withdraw| {
        Payload::CreditCorrection(CreditCorrection {
            original_tx: first_hash,
            reason: "等级复核后调整".into(),
            withdraw,
        })
    };
    assert_rejected(
        &w.one("bank-shanghai", correction(false)),
        "original reporter",
    );
    assert_applied(&w.one("tax", correction(false)));
    assert_applied(&w.one("tax", correction(true)));
    assert_rejected(&w.one("tax", correction(false)), "already withdrawn");
    // Once withdrawn, the same record may be reported afresh.
    assert_applied(&w.one("tax", tax_grade(ENT_A, "2026-10", "B")));
}

fn objection(target: ObjectionTarget, consent_id: Option<&str>) -> Payload {
    Payload::Objection(Objection {
        target,
        reason: "该笔逾期已于当月结清".into(),
        consent_id: consent_id.map(Into::into),
    })
}

fn answer(id: Hash, outcome: ObjectionOutcome, withdraw: bool) -> Payload {
    Payload::ObjectionResolution(ObjectionResolution {
        objection: id,
        outcome,
        explanation: "核实后撤销".into(),
        withdraw,
    })
}

fn overdue(uscc: &str) -> Payload {
    Payload::Credit(Credit {
        enterprise: uscc.into(),
        kind: CreditKind::Overdue,
        reference: "LN-7".into(),
        amount_fen: Some(50_000_00),
        currency: "CNY".into(),
        date: date("2026-11-01"),
        rating: None,
        note: None,
    })
}

#[test]
fn objections_mark_records_disputed_until_the_reporter_answers() {
    let mut w = world();
    let tx = w.tx("bank-shanghai", overdue(ENT_A));
    let record = tx.hash();
    assert_applied(&w.block(vec![tx]).pop().unwrap());
    let target = ObjectionTarget::Record(record);
    // Another enterprise, or a member without consent, may not object.
    assert_rejected(
        &w.one("ent-b", objection(target.clone(), None)),
        "filed by the enterprise it concerns",
    );
    assert_rejected(
        &w.one("bank-nanjing", objection(target.clone(), Some("none"))),
        "no consent with id none",
    );
    let filed = w.tx("ent-a", objection(target.clone(), None));
    let id = filed.hash();
    let filed_at = w.time_ms;
    assert_applied(&w.block(vec![filed]).pop().unwrap());
    let mark: DisputeMark = codec::decode(
        &w.state.kv[&crate::ledger::registry::dispute_key(&target)],
        1 << 10,
        "d",
    )
    .unwrap();
    assert!(mark.open);
    assert_rejected(
        &w.one("ent-a", objection(target.clone(), None)),
        "already disputed",
    );
    // Only the reporter answers.
    assert_rejected(
        &w.one("bank-nanjing", answer(id, ObjectionOutcome::Upheld, false)),
        "for bank-shanghai to answer",
    );
    // Twenty days and a second later, it is overdue; a late answer is marked so.
    w.time_ms = filed_at + 20 * 86_400_000 + 1000;
    let rec: ObjectionRecord =
        codec::decode(&w.state.kv[&keys::objection(&id)], 1 << 12, "o").unwrap();
    assert!(rec.overdue(w.time_ms) && !rec.overdue(filed_at + 1000));
    assert_applied(&w.one(
        "bank-shanghai",
        answer(id, ObjectionOutcome::Corrected, true),
    ));
    let rec: ObjectionRecord =
        codec::decode(&w.state.kv[&keys::objection(&id)], 1 << 12, "o").unwrap();
    assert!(rec.answer.as_ref().unwrap().late);
    assert!(w.credit(ENT_A, 0).withdrawn());
    assert!(!w
        .state
        .kv
        .contains_key(&crate::ledger::registry::dispute_key(&target)));
    assert!(!w
        .state
        .kv
        .keys()
        .any(|k| k.starts_with(keys::OPEN_OBJECTIONS)));
    assert_rejected(
        &w.one("bank-shanghai", answer(id, ObjectionOutcome::Upheld, false)),
        "already answered",
    );
}

#[test]
fn members_object_under_consent_and_unresolved_stays_disputed() {
    let mut w = world();
    assert_applied(&w.one("scf", register(&w, terms("AR-1", 100_00, &["I1"]))));
    let target = ObjectionTarget::Receivable("AR-1".into());
    // The debtor objects; the platform cannot settle it.
    let filed = w.tx("ent-b", objection(target.clone(), None));
    let id = filed.hash();
    assert_applied(&w.block(vec![filed]).pop().unwrap());
    assert_applied(&w.one("scf", answer(id, ObjectionOutcome::Unresolved, false)));
    let mark: DisputeMark = codec::decode(
        &w.state.kv[&crate::ledger::registry::dispute_key(&target)],
        1 << 10,
        "d",
    )
    .unwrap();
    assert!(!mark.open);
    // A bank with the supplier's receivables consent may file again.
    let consent = Payload::ConsentGrant(
        Consent {
            chain_id: w.chain.clone(),
            enterprise: ENT_A.into(),
            grantee: w.keys["bank-nanjing"].public(),
            scope: Scope::Receivables,
            purpose: Purpose::LoanApproval,
            not_before: date("2026-11-01"),
            until: date("2027-06-30"),
            consent_id: "rc-1".into(),
        }
        .sign(&w.keys["ent-a"]),
    );
    assert_applied(&w.one("bank-nanjing", consent));
    let filed = w.tx("bank-nanjing", objection(target.clone(), Some("rc-1")));
    let second = filed.hash();
    assert_applied(&w.block(vec![filed]).pop().unwrap());
    // A receivable is corrected by annotation, never withdrawn.
    assert_rejected(
        &w.one("scf", answer(second, ObjectionOutcome::Corrected, true)),
        "cannot be withdrawn",
    );
    assert_applied(&w.one("scf", answer(second, ObjectionOutcome::Corrected, false)));
    assert_eq!(w.receivable("AR-1").corrections.len(), 1);
    // The credit scope does not cover receivables.
    let credit_only = Payload::ConsentGrant(
        Consent {
            chain_id: w.chain.clone(),
            enterprise: ENT_A.into(),
            grantee: w.keys["bank-shanghai"].public(),
            scope: Scope::Credit,
            purpose: Purpose::LoanApproval,
            not_before: date("2026-11-01"),
            until: date("2027-06-30"),
            consent_id: "cc-1".into(),
        }
        .sign(&w.keys["ent-a"]),
    );
    assert_applied(&w.one("bank-shanghai", credit_only));
    assert_rejected(
        &w.one("bank-shanghai", objection(target, Some("cc-1"))),
        "cover receivables",
    );
}

#[test]
fn pilot_era_codes_need_a_regulators_exception() {
    let mut w = World::new();
    let reason = assert_rejected(&w.one("bank-shanghai", overdue(PILOT)), "check character");
    assert!(reason.contains("admitted by a regulator"), "{reason}");
    let exception = Payload::UsccException(UsccException {
        code: PILOT.into(),
        name: "福州某科技有限公司".into(),
        reason: "营业执照原件已核验，赋码早于 GB 32100-2015".into(),
    });
    assert_rejected(
        &w.one("bank-shanghai", exception.clone()),
        "needs the regulator role",
    );
    assert_applied(&w.one("regulator", exception.clone()));
    assert_rejected(&w.one("regulator-2", exception), "already admitted");
    assert_applied(&w.one("bank-shanghai", overdue(PILOT)));
}

/// One random receivable operation.
#[derive(Debug, Clone)]
enum Op {
    Finance(usize, u64, u8),
    Release(usize, u8),
    Split(usize, Vec<u64>),
    Settle(usize, u64),
    Transfer(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..8, 1u64..1_200, 0u8..3).prop_map(|(i, a, b)| Op::Finance(i, a, b)),
        (0usize..8, 0u8..3).prop_map(|(i, b)| Op::Release(i, b)),
        (0usize..8, proptest::collection::vec(1u64..600, 1..3)).prop_map(|(i, v)| Op::Split(i, v)),
        (0usize..8, 1u64..700).prop_map(|(i, a)| Op::Settle(i, a)),
        (0usize..8).prop_map(Op::Transfer),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the order of operations, no receivable is financed beyond
    /// what is owed on it, and the family never has more financed than the
    /// debtor still owes.
    #[test]
    fn financing_never_exceeds_what_is_owed(ops in proptest::collection::vec(op(), 1..30)) {
        let mut w = world();
        assert_applied(&w.one("scf", register(&w, terms("R", 1_000, &["I1"]))));
        let banks = ["bank-shanghai", "bank-nanjing", "bank-hangzhou"];
        let mut ids = vec!["R".to_string()];
        let mut next = 0;
        for op in ops {
            let pick = |i: usize| ids[i % ids.len()].clone();
            let (who, payload) = match op {
                Op::Finance(i, a, b) => (banks[b as usize], finance(&pick(i), a, FinanceKind::Pledge)),
                Op::Release(i, b) => (banks[b as usize], Payload::ReceivableRelease(ReceivableRelease { receivable_id: pick(i) })),
                Op::Split(i, amounts) => {
                    let parts: Vec<(String, u64)> = amounts.iter().map(|a| { next += 1; (format!("S{next}"), *a) }).collect();
                    let refs: Vec<(&str, &str, u64)> = parts.iter().map(|(p, a)| (p.as_str(), ENT_A, *a)).collect();
                    ("scf", split(&pick(i), &refs))
                }
                Op::Settle(i, a) => ("scf", settle(&pick(i), a)),
                Op::Transfer(i) => ("scf", Payload::ReceivableTransfer(ReceivableTransfer { receivable_id: pick(i), new_holder: ENT_B.into() })),
            };
            if let Payload::ReceivableSplit(s) = &payload {
                let r = w.one(who, payload.clone());
                if r.outcome == Outcome::Applied {
                    ids.extend(s.parts.iter().map(|p| p.part_id.clone()));
                }
            } else {
                w.one(who, payload);
            }
            let today = Date::from_unix_ms(w.time_ms);
            let mut financed = 0;
            let mut settled = 0;
            for id in &ids {
                let r = w.receivable(id);
                prop_assert!(r.financed_fen(today) <= r.balance(), "{id}: {r:?}");
                prop_assert_eq!(r.settled_fen + r.split_fen + r.balance(), r.amount_fen);
                let parts: u64 = r.parts.iter().map(|p| w.receivable(p).amount_fen).sum();
                prop_assert_eq!(parts, r.split_fen);
                financed += r.financed_fen(today);
                settled += r.settled_fen;
            }
            prop_assert!(financed + settled <= 1_000);
        }
    }
}
