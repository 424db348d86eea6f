//! The test vectors of `docs/SPEC.md`, made by the code they describe.
//!
//! `docs/vectors.json` holds, for every payload kind and every other signed
//! structure, the inputs (in the API's JSON form), the canonical bytes, the
//! hash and the signature under a published test key; request signatures
//! (RFC 9421) with fixed times and nonces; transaction proofs that must
//! pass and ones that must fail; and byte strings that must not decode.
//! This test rebuilds all of it and fails on any difference, so the spec
//! cannot drift from the code. After a deliberate change to the wire
//! format, run it with `DELTACHAIN_WRITE_VECTORS=1` to rewrite the file,
//! and say in SPEC.md what changed.

use deltachain_client::verify::verify_proof;
use deltachain_client::TxProof;
use deltachain_protocol::access::{Consent, ConsentRevoke};
use deltachain_protocol::crypto::{self, signing_bytes};
use deltachain_protocol::registry::ReceivableTerms;
use deltachain_protocol::*;
use serde_json::{json, Value};

const CHAIN: &str = "deltachain-vectors";
const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors.json");

/// Published test keys: the secret is 32 bytes of `n`.
fn key(n: u8) -> Keypair {
    Keypair::from_secret([n; 32])
}

fn hexs(b: &[u8]) -> String {
    hex::encode(b)
}

fn date(s: &str) -> Date {
    Date::parse(s).unwrap()
}

const BANK: u8 = 1;
const ENTERPRISE: u8 = 2;
const DEBTOR: u8 = 3;
const REGULATOR: u8 = 4;
const ENT_USCC: &str = "91310000MA1FL8TQ4B";
const DEBTOR_USCC: &str = "91320100MA1MXXQE3P";

/// One sample of every payload kind, from the JSON a client would build
/// (signed sub-objects are made with the test keys first).
fn payloads() -> Vec<(&'static str, u8, Payload)> {
    let consent = Consent {
        chain_id: CHAIN.into(),
        enterprise: ENT_USCC.into(),
        grantee: key(BANK).public(),
        scope: access::Scope::Credit,
        purpose: access::Purpose::LoanApproval,
        not_before: date("2026-11-01"),
        until: date("2027-10-31"),
        consent_id: "C-2026-0001".into(),
    }
    .sign(&key(ENTERPRISE));
    let revoke = ConsentRevoke::sign(CHAIN, "C-2026-0001", &key(ENTERPRISE));
    let register = ReceivableTerms {
        receivable_id: "AR-2026-0001".into(),
        creditor: ENT_USCC.into(),
        debtor: DEBTOR_USCC.into(),
        amount_fen: 500_000_000,
        currency: "CNY".into(),
        issued_on: date("2026-10-08"),
        due_on: date("2027-04-08"),
        invoices: vec!["31001234".into(), "31001235".into()],
        contract: "采购合同HT-2026-088".into(),
        collateral_registration: Some("04123456000012345678".into()),
    }
    .confirm(CHAIN, &key(DEBTOR));
    let signed: Vec<(&str, u8, Value)> = vec![
        (
            "credit",
            BANK,
            json!({"credit": {"enterprise": ENT_USCC, "kind": "loan", "reference": "LN-2026-0042",
                "amount_fen": 1_000_000_000u64, "currency": "CNY", "date": "2026-10-01",
                "rating": null, "note": "流动资金贷款"}}),
        ),
        (
            "credit_with_rating",
            BANK,
            json!({"credit": {"enterprise": ENT_USCC, "kind": "rating", "reference": "RT-7",
                "amount_fen": null, "currency": "CNY", "date": "2026-10-02",
                "rating": "AA-", "note": null}}),
        ),
        (
            "credit_correction",
            BANK,
            json!({"credit_correction": {"original_tx": hexs(&[0xab; 32]),
                "reason": "amount mistyped", "withdraw": false}}),
        ),
        (
            "ip_register",
            BANK,
            json!({"ip_register": {"ip_id": "ZL202310123456.6", "kind": "patent",
                "title": "一种电池热管理方法", "owner": ENT_USCC, "registered_on": "2024-03-15"}}),
        ),
        (
            "ip_transfer",
            BANK,
            json!({"ip_transfer": {"ip_id": "ZL202310123456.6", "new_owner": DEBTOR_USCC}}),
        ),
        (
            "ip_pledge",
            BANK,
            json!({"ip_pledge": {"ip_id": "ZL202310123456.6", "amount_fen": 300_000_000u64,
                "contract": "ZY-2026-001", "until": "2027-10-31"}}),
        ),
        (
            "ip_release",
            BANK,
            json!({"ip_release": {"ip_id": "ZL202310123456.6"}}),
        ),
        (
            "add_member",
            REGULATOR,
            json!({"add_member": {"name": "bank-suzhou", "public_key": key(9).public().to_hex(),
                "roles": ["credit_reporter", "lender"], "city": "苏州", "categories": []}}),
        ),
        (
            "add_member_data_provider",
            REGULATOR,
            json!({"add_member": {"name": "tax-jiaxing", "public_key": key(10).public().to_hex(),
                "roles": ["data_provider"], "city": "嘉兴",
                "categories": ["tax_grade", "tax_arrears"]}}),
        ),
        (
            "remove_member",
            REGULATOR,
            json!({"remove_member": {"public_key": key(9).public().to_hex()}}),
        ),
        (
            "set_roles",
            REGULATOR,
            json!({"set_roles": {"public_key": key(9).public().to_hex(),
                "roles": ["reader"], "categories": []}}),
        ),
        (
            "enterprise_key",
            REGULATOR,
            json!({"enterprise_key": {"uscc": ENT_USCC, "public_key": key(ENTERPRISE).public().to_hex()}}),
        ),
        (
            "consent_grant",
            BANK,
            json!({ "consent_grant": serde_json::to_value(&consent).unwrap() }),
        ),
        (
            "consent_revoke",
            ENTERPRISE,
            json!({ "consent_revoke": serde_json::to_value(&revoke).unwrap() }),
        ),
        (
            "audit_batch",
            BANK,
            json!({"audit_batch": {"first_seq": 7, "entries": [{
                "time_ms": 1_790_000_000_000u64, "requester": key(BANK).public().to_hex(),
                "enterprise": ENT_USCC, "route": "enterprise_records", "purpose": "loan_approval",
                "basis": {"consent": {"consent_id": "C-2026-0001"}}, "outcome": "granted",
                "response_hash": hexs(&[0x11; 32])}, {
                "time_ms": 1_790_000_000_500u64, "requester": key(9).public().to_hex(),
                "enterprise": ENT_USCC, "route": "report", "purpose": null,
                "basis": "none", "outcome": {"refused": {"code": "no_consent"}},
                "response_hash": hexs(&[0; 32])}]}}),
        ),
        (
            "receivable_register",
            BANK,
            json!({ "receivable_register": serde_json::to_value(&register).unwrap() }),
        ),
        (
            "receivable_finance",
            BANK,
            json!({"receivable_finance": {"receivable_id": "AR-2026-0001", "kind": "factoring",
                "amount_fen": 170_000_000u64, "contract": "BL-2026-0007", "until": "2027-04-08"}}),
        ),
        (
            "receivable_release",
            BANK,
            json!({"receivable_release": {"receivable_id": "AR-2026-0001"}}),
        ),
        (
            "receivable_split",
            ENTERPRISE,
            json!({"receivable_split": {"receivable_id": "AR-2026-0001", "parts": [
                {"part_id": "AR-2026-0001-A", "holder": DEBTOR_USCC, "amount_fen": 100_000_000u64},
                {"part_id": "AR-2026-0001-B", "holder": ENT_USCC, "amount_fen": 200_000_000u64}]}}),
        ),
        (
            "receivable_transfer",
            ENTERPRISE,
            json!({"receivable_transfer": {"receivable_id": "AR-2026-0001-B", "new_holder": DEBTOR_USCC}}),
        ),
        (
            "receivable_settle",
            BANK,
            json!({"receivable_settle": {"receivable_id": "AR-2026-0001-A", "amount_fen": 40_000_000u64,
                "paid_on": "2027-01-15"}}),
        ),
        (
            "public_record_tax_grade",
            REGULATOR,
            json!({"public_record": {"enterprise": ENT_USCC, "period": "2025-12",
                "data": {"tax_grade": {"grade": "A"}}, "source": "国家税务总局上海市税务局", "note": null}}),
        ),
        (
            "public_record_utilities",
            REGULATOR,
            json!({"public_record": {"enterprise": ENT_USCC, "period": "2026-10",
                "data": {"utilities": {"utility": "electricity", "status": "late", "months": 2}},
                "source": "国网上海", "note": "两个月未缴"}}),
        ),
        (
            "public_record_court_judgment",
            REGULATOR,
            json!({"public_record": {"enterprise": ENT_USCC, "period": "2026-09",
                "data": {"court_judgment": {"case_number": "（2024）沪0115民初12345号", "amount_fen": 12_345_600u64}},
                "source": "上海市浦东新区人民法院", "note": null}}),
        ),
        (
            "objection_record",
            ENTERPRISE,
            json!({"objection": {"target": {"record": hexs(&[0xcd; 32])},
                "reason": "该笔逾期已于 2026-10-03 结清", "consent_id": null}}),
        ),
        (
            "objection_receivable",
            BANK,
            json!({"objection": {"target": {"receivable": "AR-2026-0001"},
                "reason": "invoice 31001235 was cancelled", "consent_id": "C-2026-0001"}}),
        ),
        (
            "objection_resolution",
            BANK,
            json!({"objection_resolution": {"objection": hexs(&[0xef; 32]), "outcome": "corrected",
                "explanation": "已更正", "withdraw": false}}),
        ),
        (
            "uscc_exception",
            REGULATOR,
            json!({"uscc_exception": {"code": "91350100M0001TGQXM", "name": "福州某科技有限公司",
                "reason": "issued before GB 32100-2015 settled; check character differs"}}),
        ),
    ];
    signed
        .into_iter()
        .map(|(name, k, v)| {
            let p: Payload = serde_json::from_value(v.clone())
                .unwrap_or_else(|e| panic!("sample {name} does not parse: {e}\n{v}"));
            (name, k, p)
        })
        .collect()
}

/// The number of payload kinds: a new one without a vector fails this
/// test (and the `unknown_payload_variant` decode vector below, whose index
/// it would take).
const KINDS: usize = 23;

fn transactions() -> Vec<Value> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (i, (name, signer, payload)) in payloads().into_iter().enumerate() {
        seen.insert(payload.kind_name());
        let k = key(signer);
        let tx = Transaction {
            chain_id: CHAIN.into(),
            sender: k.public(),
            nonce: 1 + i as u64,
            payload,
        };
        let body = codec::encode(&tx);
        let signing = signing_bytes(Domain::Tx, CHAIN, &body);
        let stx = tx.clone().sign(&k);
        stx.verify_signature().expect("vector transaction verifies");
        if let Err(e) = stx.check_stateless(CHAIN, stx.encode().len()) {
            panic!("vector {name} is not a valid transaction: {e}");
        }
        out.push(json!({
            "name": name,
            "signer_secret": hexs(&[signer; 32]),
            "tx": serde_json::to_value(&tx).unwrap(),
            "tx_bytes": hexs(&body),
            "signing_bytes": hexs(&signing),
            "signature": stx.signature.to_hex(),
            "signed_tx_bytes": hexs(&stx.encode()),
            "tx_hash": stx.hash().to_hex(),
        }));
    }
    assert_eq!(seen.len(), KINDS, "a payload kind has no vector");
    out
}

/// Consents, revocations and receivable confirmations: the objects an
/// enterprise signs outside a transaction.
fn signed_objects() -> Vec<Value> {
    let consent = Consent {
        chain_id: CHAIN.into(),
        enterprise: ENT_USCC.into(),
        grantee: key(BANK).public(),
        scope: access::Scope::All,
        purpose: access::Purpose::PostLoanManagement,
        not_before: date("2026-11-29"),
        until: date("2027-11-28"),
        consent_id: "DH-2026-17".into(),
    };
    let body = codec::encode(&consent);
    let sc = consent.clone().sign(&key(ENTERPRISE));
    let revoke = ConsentRevoke::sign(CHAIN, "DH-2026-17", &key(ENTERPRISE));
    let terms = ReceivableTerms {
        receivable_id: "AR-2026-0002".into(),
        creditor: ENT_USCC.into(),
        debtor: DEBTOR_USCC.into(),
        amount_fen: 1,
        currency: "CNY".into(),
        issued_on: date("2026-11-01"),
        due_on: date("2026-12-31"),
        invoices: vec!["00000001".into()],
        contract: "C".into(),
        collateral_registration: None,
    };
    let tbody = codec::encode(&terms);
    let reg = terms.clone().confirm(CHAIN, &key(DEBTOR));
    vec![
        json!({
            "name": "consent",
            "domain": Domain::Consent.tag(),
            "signer_secret": hexs(&[ENTERPRISE; 32]),
            "object": serde_json::to_value(&consent).unwrap(),
            "bytes": hexs(&body),
            "signing_bytes": hexs(&signing_bytes(Domain::Consent, CHAIN, &body)),
            "signature": sc.signature.to_hex(),
        }),
        json!({
            "name": "consent_revoke",
            "domain": Domain::ConsentRevoke.tag(),
            "signer_secret": hexs(&[ENTERPRISE; 32]),
            "object": {"consent_id": "DH-2026-17"},
            "bytes": hexs(&codec::encode("DH-2026-17")),
            "signing_bytes": hexs(&signing_bytes(Domain::ConsentRevoke, CHAIN, &codec::encode("DH-2026-17"))),
            "signature": revoke.signature.to_hex(),
        }),
        json!({
            "name": "receivable_confirmation",
            "domain": Domain::ReceivableConfirm.tag(),
            "signer_secret": hexs(&[DEBTOR; 32]),
            "object": serde_json::to_value(&terms).unwrap(),
            "bytes": hexs(&tbody),
            "signing_bytes": hexs(&signing_bytes(Domain::ReceivableConfirm, CHAIN, &tbody)),
            "signature": reg.debtor_signature.to_hex(),
        }),
    ]
}

/// Signed reads (RFC 9421) with fixed `created` and nonces.
fn request_signatures() -> Vec<Value> {
    let k = key(BANK);
    let node = key(21).public();
    // name, method, path, query, purpose, body
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "get_enterprise_with_purpose",
            "GET",
            "/v1/enterprises/91310000MA1FL8TQ4B",
            Some("limit=50"),
            Some("loan_approval"),
            None,
        ),
        (
            "get_without_query",
            "GET",
            "/v1/consents/C-2026-0001",
            None,
            None,
            None,
        ),
        (
            "percent_encoded_path",
            "GET",
            "/v1/consents/%E8%B4%B7%E5%90%8E-2026-17",
            None,
            None,
            None,
        ),
        (
            "post_with_body",
            "POST",
            "/v1/txs",
            None,
            None,
            Some("{\"tx\":\"00\"}"),
        ),
    ];
    let mut out = Vec::new();
    for (name, method, path, query, purpose, body) in cases {
        let digest = body.map(|b| httpsig::content_digest(b.as_bytes()));
        let digest2 = digest.clone();
        let lookup = move |h: &str| -> Option<String> {
            match h {
                "deltachain-purpose" => purpose.map(str::to_string),
                "content-digest" => digest2.clone(),
                _ => None,
            }
        };
        let req = httpsig::Request {
            method,
            authority: "127.0.0.1:7000",
            path,
            query,
            header: &lookup,
        };
        let mut headers = Vec::new();
        if purpose.is_some() {
            headers.push("deltachain-purpose");
        }
        if body.is_some() {
            headers.push("content-digest");
        }
        let tag = httpsig::target_tag(CHAIN, Some(&node));
        let created = 1_796_000_000;
        let nonce = format!("nonce-{name}");
        let sig = httpsig::sign_tagged(&k, &req, &headers, created, 60, &nonce, Some(&tag))
            .expect("sign");
        let parsed = httpsig::parse(&sig.signature_input, &sig.signature).expect("parse");
        let base = parsed.params.base(&req).expect("base");
        out.push(json!({
            "name": name,
            "signer_secret": hexs(&[BANK; 32]),
            "method": method,
            "path": path,
            "query": query,
            "headers": {
                "deltachain-purpose": purpose,
                "content-digest": digest,
            },
            "body": body,
            "created": created,
            "expires": created + 60,
            "nonce": nonce,
            "tag": tag,
            "signature_base": String::from_utf8(base).unwrap(),
            "signature_input": sig.signature_input,
            "signature": sig.signature,
        }));
    }
    out
}

/// A block of three transactions on a four-validator chain, with the
/// proof of its second transaction; then the same proof spoiled in each
/// way a client must catch.
fn tx_proofs() -> (Value, Vec<Value>) {
    let validators: Vec<Keypair> = (11..15).map(key).collect();
    let genesis_json = json!({
        "chain_id": CHAIN,
        "genesis_time": "2026-11-01T00:00:00.000Z",
        "validators": validators.iter().enumerate().map(|(i, v)| json!({
            "name": format!("v{i}"), "city": "上海", "public_key": v.public().to_hex(),
            "p2p_addr": format!("/ip4/127.0.0.1/tcp/{}", 26_000 + i)})).collect::<Vec<_>>(),
        "members": [{"name": "bank", "public_key": key(BANK).public().to_hex(),
            "roles": ["credit_reporter", "lender"], "city": "上海", "categories": []}],
        "enterprises": [],
        "params": serde_json::to_value(ConsensusParams::default()).unwrap(),
    });
    let genesis = Genesis::from_json(&genesis_json.to_string()).expect("vector genesis");
    let txs: Vec<SignedTransaction> = payloads()
        .into_iter()
        .take(3)
        .enumerate()
        .map(|(i, (_, _, p))| {
            Transaction {
                chain_id: CHAIN.into(),
                sender: key(BANK).public(),
                nonce: 1 + i as u64,
                payload: p,
            }
            .sign(&key(BANK))
        })
        .collect();
    let hashes: Vec<Hash> = txs.iter().map(|t| t.hash()).collect();
    let receipts: Vec<Receipt> = hashes
        .iter()
        .enumerate()
        .map(|(i, h)| Receipt {
            tx_hash: *h,
            outcome: if i == 1 {
                Outcome::Rejected
            } else {
                Outcome::Applied
            },
            reason: (i == 1).then(|| "a credit record needs an amount".to_string()),
        })
        .collect();
    let rhashes: Vec<Hash> = receipts.iter().map(|r| r.hash()).collect();
    let header = BlockHeader {
        chain_id: CHAIN.into(),
        height: 42,
        time_ms: 1_796_000_000_000,
        prev_hash: Hash([0x42; 32]),
        tx_root: merkle::root(&hashes),
        results_root: merkle::root(&rhashes),
        state_root: Hash([0x5a; 32]),
        last_commit_hash: Hash([0x1c; 32]),
        validators_hash: genesis.validators_hash(),
        proposer: validators[2].public(),
        tx_count: 3,
    };
    let block_hash = header.hash();
    let cert = |signers: &[usize]| CommitCertificate {
        height: 42,
        round: 1,
        block_hash,
        signatures: signers
            .iter()
            .map(|&i| CommitSig {
                validator: i as u16,
                signature: Vote {
                    height: 42,
                    round: 1,
                    kind: VoteKind::Precommit,
                    block: Some(block_hash),
                    validator: i as u16,
                }
                .sign(&validators[i], CHAIN)
                .signature,
            })
            .collect(),
    };
    let index = 1;
    let good = json!({
        "tx_hash": hashes[index].to_hex(),
        "height": 42,
        "index": index,
        "tx": hexs(&txs[index].encode()),
        "receipt": serde_json::to_value(&receipts[index]).unwrap(),
        "tx_proof": serde_json::to_value(merkle::prove(&hashes, index).unwrap()).unwrap(),
        "receipt_proof": serde_json::to_value(merkle::prove(&rhashes, index).unwrap()).unwrap(),
        "header": serde_json::to_value(&header).unwrap(),
        "block_hash": block_hash.to_hex(),
        "certificate": serde_json::to_value(cert(&[0, 2, 3])).unwrap(),
    });
    let spoil = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    let flip = |s: &Value| -> Value {
        let s = s.as_str().unwrap();
        let mut b = hex::decode(s).unwrap();
        b[0] ^= 1;
        Value::String(hex::encode(b))
    };
    let cases: Vec<(&str, Value)> = vec![
        ("valid", good.clone()),
        (
            "tx_path_sibling_changed",
            spoil(&|v| v["tx_proof"]["path"][0] = flip(&v["tx_proof"]["path"][0])),
        ),
        (
            "receipt_outcome_changed",
            spoil(&|v| {
                v["receipt"]["outcome"] = "applied".into();
                v["receipt"]["reason"] = Value::Null;
            }),
        ),
        ("tx_bytes_changed", spoil(&|v| v["tx"] = flip(&v["tx"]))),
        (
            "header_state_root_changed",
            spoil(&|v| v["header"]["state_root"] = flip(&v["header"]["state_root"])),
        ),
        (
            "only_two_of_four_signatures",
            spoil(&|v| v["certificate"] = serde_json::to_value(cert(&[0, 3])).unwrap()),
        ),
        (
            "signature_of_another_validator",
            spoil(&|v| {
                v["certificate"]["signatures"][1]["validator"] = 1.into();
            }),
        ),
        (
            "signatures_out_of_order",
            spoil(&|v| v["certificate"] = serde_json::to_value(cert(&[3, 0, 2])).unwrap()),
        ),
        (
            "another_chain",
            spoil(&|v| v["header"]["chain_id"] = "deltachain-other".into()),
        ),
        ("index_disagrees", spoil(&|v| v["index"] = 0.into())),
    ];
    let mut out = Vec::new();
    for (name, proof) in cases {
        let parsed: TxProof = serde_json::from_value(proof.clone()).expect("proof parses");
        let verdict = verify_proof(&parsed, &hashes[index], &genesis);
        out.push(json!({
            "name": name,
            "expected_tx_hash": hashes[index].to_hex(),
            "proof": proof,
            "valid": verdict.is_ok(),
            "why": verdict.err().map(|e| e.to_string()),
        }));
    }
    assert_eq!(out[0]["valid"], true, "{}", out[0]);
    assert!(out[1..].iter().all(|v| v["valid"] == false));
    (genesis_json, out)
}

/// Byte strings a decoder must refuse, each with why.
fn decode_failures() -> Vec<Value> {
    let stx = Transaction {
        chain_id: CHAIN.into(),
        sender: key(BANK).public(),
        nonce: 1,
        payload: Payload::IpRelease(IpRelease {
            ip_id: "ZL1".into(),
        }),
    }
    .sign(&key(BANK));
    let good = stx.encode();
    let chain_len = CHAIN.len();
    // Offsets: chain id length u64, chain id, sender 32, nonce u64, payload
    // variant u32, ip_id length u64, ip_id, signature 64.
    let variant_at = 8 + chain_len + 32 + 8;
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    let mut b = good.clone();
    b.push(0);
    cases.push(("trailing_byte", b, "trailing bytes"));
    cases.push((
        "truncated",
        good[..good.len() - 1].to_vec(),
        "ends before a value is complete",
    ));
    let mut b = good.clone();
    b[variant_at..variant_at + 4].copy_from_slice(&(KINDS as u32).to_le_bytes());
    cases.push((
        "unknown_payload_variant",
        b,
        "enum variant index out of range",
    ));
    let mut b = good.clone();
    b[0..8].copy_from_slice(&u64::MAX.to_le_bytes());
    cases.push((
        "length_prefix_beyond_input",
        b,
        "length prefix larger than the input",
    ));
    let mut b = good.clone();
    b[8] = 0xff;
    cases.push(("chain_id_not_utf8", b, "string is not UTF-8"));
    let mut cases: Vec<Value> = cases
        .into_iter()
        .map(|(name, bytes, why)| {
            assert!(SignedTransaction::decode(&bytes).is_err(), "{name} decodes");
            json!({"type": "signed_transaction", "name": name, "bytes": hexs(&bytes), "why": why})
        })
        .collect();
    // An Option tag of 2 and a bool of 2, in a credit correction.
    let corr = Transaction {
        chain_id: CHAIN.into(),
        sender: key(BANK).public(),
        nonce: 1,
        payload: Payload::CreditCorrection(CreditCorrection {
            original_tx: Hash([1; 32]),
            reason: "r".into(),
            withdraw: true,
        }),
    }
    .sign(&key(BANK))
    .encode();
    let bool_at = corr.len() - 64 - 1;
    assert_eq!(corr[bool_at], 1);
    let mut b = corr.clone();
    b[bool_at] = 2;
    assert!(SignedTransaction::decode(&b).is_err());
    cases.push(
        json!({"type": "signed_transaction", "name": "bool_of_2", "bytes": hexs(&b),
        "why": "a bool is 0 or 1"}),
    );
    let vote = Vote {
        height: 1,
        round: 0,
        kind: VoteKind::Prevote,
        block: None,
        validator: 0,
    };
    let mut b = codec::encode(&vote);
    let opt_at = 8 + 4 + 4;
    assert_eq!(b[opt_at], 0);
    b[opt_at] = 2;
    assert!(codec::decode::<Vote>(&b, 1024, "vote").is_err());
    cases.push(
        json!({"type": "vote", "name": "option_tag_of_2", "bytes": hexs(&b),
        "why": "an Option tag is 0 or 1"}),
    );
    cases
}

fn build() -> Value {
    let (genesis, proofs) = tx_proofs();
    let domains: Vec<&str> = [
        Domain::Tx,
        Domain::Vote,
        Domain::Proposal,
        Domain::Consent,
        Domain::ConsentRevoke,
        Domain::ReceivableConfirm,
    ]
    .iter()
    .map(|d| d.tag())
    .collect();
    json!({
        "format": "deltachain test vectors",
        "version": 1,
        "spec": "docs/SPEC.md",
        "chain_id": CHAIN,
        "keys": (1u8..=4).map(|n| {
            let k = key(n);
            json!({"secret": hexs(&[n; 32]), "public": k.public().to_hex()})
        }).collect::<Vec<_>>(),
        "domains": domains,
        "transactions": transactions(),
        "signed_objects": signed_objects(),
        "request_signatures": request_signatures(),
        "genesis": genesis,
        "validators_hash": Genesis::from_json(&genesis.to_string()).unwrap().validators_hash().to_hex(),
        "tx_proofs": proofs,
        "decode_failures": decode_failures(),
    })
}

#[test]
fn the_vectors_are_what_the_code_produces() {
    let fresh = build();
    let text = serde_json::to_string_pretty(&fresh).unwrap() + "\n";
    if std::env::var_os("DELTACHAIN_WRITE_VECTORS").is_some() {
        std::fs::write(PATH, &text).unwrap();
        return;
    }
    let kept = std::fs::read_to_string(PATH)
        .unwrap_or_else(|e| panic!("{PATH}: {e}; run with DELTACHAIN_WRITE_VECTORS=1"));
    let kept: Value = serde_json::from_str(&kept).unwrap();
    for (section, want) in fresh.as_object().unwrap() {
        assert_eq!(
            &kept[section], want,
            "section {section:?} of docs/vectors.json differs from what the code produces: the wire format changed. If that is deliberate, rewrite the file with DELTACHAIN_WRITE_VECTORS=1 and update SPEC.md"
        );
    }
}

#[test]
fn every_transaction_vector_decodes_to_its_json() {
    for v in transactions() {
        let bytes = hex::decode(v["signed_tx_bytes"].as_str().unwrap()).unwrap();
        let stx = SignedTransaction::decode(&bytes).unwrap();
        assert_eq!(serde_json::to_value(&stx.tx).unwrap(), v["tx"]);
        assert_eq!(crypto::sha256(&bytes).to_hex(), v["tx_hash"]);
    }
}
