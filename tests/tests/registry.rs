//! The full enterprise picture against real nodes and the real CLI: the
//! supply-chain story (confirm, split, factor, a refused second financing),
//! public records and the report; a pilot-era code admitted by a regulator
//! and then accepted on every node of a testnet; an objection answered
//! late, listed as overdue by block time.

use std::time::Duration;

use deltachain_tests::*;
use serde_json::Value;

/// The battery maker (supplier, creditor) and the core enterprise (debtor);
/// both hold keys in the demo genesis.
const SUPPLIER: &str = "91350100M000100Y43";
const CORE: &str = "91110108551385082Q";
const SUB: &str = "91110000802100433B";
/// Real pilot-era codes from Fujian: well formed, wrong check character.
const PILOT: &str = "91350100M0001TGQXM";
const PILOT_2: &str = "91350211M0000XUF46";

fn json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn applied(code: i32, v: &Value) {
    assert_eq!((code, v["outcome"].as_str()), (0, Some("applied")), "{v}");
}

#[test]
fn supply_chain_story_public_records_and_the_report() {
    let dev = Dev::start();
    let core_key = dev.enterprise_key(CORE);
    let supplier_key = dev.enterprise_key(SUPPLIER);
    let register = |id: &str, invoices: &str| {
        dev.submit(
            "scf-platform",
            &[
                "receivable-register",
                "--id",
                id,
                "--creditor",
                SUPPLIER,
                "--debtor",
                CORE,
                "--amount",
                "3,000,000",
                "--issued",
                "2026-10-08",
                "--due",
                "2027-04-08",
                "--invoice",
                invoices,
                "--contract",
                "电芯采购-2026-17",
                "--debtor-key",
                core_key.to_str().unwrap(),
            ],
        )
    };
    let (code, v) = register("AR-1", "31000001,31000002");
    applied(code, &v);
    // An invoice backs one live receivable only.
    let (code, v) = register("AR-2", "31000002");
    assert_eq!(code, 1, "{v}");
    assert!(
        v.to_string().contains("already backs live receivable AR-1"),
        "{v}"
    );

    // The supplier splits with its own key.
    let (code, out, err) = dev.cli(&[
        "--json",
        "--key",
        supplier_key.to_str().unwrap(),
        "submit",
        "--wait",
        "receivable-split",
        "--id",
        "AR-1",
        "--part",
        &format!("AR-1-A:{SUB}:1,200,000"),
        "--part",
        &format!("AR-1-B:{SUPPLIER}:1,800,000"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, v) = dev.submit(
        "bank-hangzhou",
        &[
            "receivable-finance",
            "--id",
            "AR-1-B",
            "--kind",
            "factoring",
            "--amount",
            "1,700,000",
            "--contract",
            "HZ-FT-1",
            "--until",
            "2027-04-08",
        ],
    );
    applied(code, &v);
    let (code, v) = dev.submit(
        "bank-hefei",
        &[
            "receivable-finance",
            "--id",
            "AR-1-B",
            "--kind",
            "pledge",
            "--amount",
            "100",
            "--contract",
            "HF-PL-1",
            "--until",
            "2027-03-31",
        ],
    );
    assert_eq!(code, 1);
    let reason = v.to_string();
    assert!(
        reason.contains("already financed: factoring to bank-hangzhou for 1,700,000.00 CNY"),
        "{reason}"
    );

    // The debtor reads the part it owes; a bank without consent may not.
    let (code, out, err) = dev.cli(&[
        "--json",
        "--key",
        core_key.to_str().unwrap(),
        "query",
        "receivable",
        "AR-1-B",
        "--purpose",
        "self_inquiry",
    ]);
    assert_eq!(code, 0, "{err}");
    let r = json(&out);
    assert_eq!(r["financed_fen"], 170_000_000);
    assert_eq!(r["unfinanced_fen"], 10_000_000);
    assert_eq!(r["financing"]["financier"]["name"], "bank-hangzhou");
    assert_eq!(r["history"].as_array().unwrap().len(), 2);
    let (code, _, err) = dev.cli_as(
        "bank-nanjing",
        &[
            "query",
            "receivable",
            "AR-1-B",
            "--purpose",
            "loan_approval",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("consent_required"), "{err}");
    // The financier reads it as its own.
    let (code, _, err) = dev.cli_as(
        "bank-hangzhou",
        &[
            "query",
            "receivable",
            "AR-1-B",
            "--purpose",
            "post_loan_management",
        ],
    );
    assert_eq!(code, 0, "{err}");

    // Public records, typed per category; the wrong provider is refused.
    let (code, v) = dev.submit(
        "tax-shanghai",
        &[
            "public-record",
            "--enterprise",
            SUPPLIER,
            "--category",
            "tax_grade",
            "--period",
            "2025-12",
            "--grade",
            "b",
            "--source",
            "沪税信-2025-17",
        ],
    );
    applied(code, &v);
    let (code, v) = dev.submit(
        "tax-shanghai",
        &[
            "public-record",
            "--enterprise",
            SUPPLIER,
            "--category",
            "court_judgment",
            "--period",
            "2026-10",
            "--case-number",
            "(2026)皖0104民初1234号",
            "--source",
            "x",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        v.to_string().contains("may not write court_judgment"),
        "{v}"
    );
    let (code, _, err) = dev.cli_as(
        "court-hefei",
        &[
            "submit",
            "public-record",
            "--enterprise",
            SUPPLIER,
            "--category",
            "court_judgment",
            "--period",
            "2026-10",
            "--case-number",
            "2026-1234",
            "--source",
            "x",
        ],
    );
    assert_eq!(code, 2, "a malformed case number is a usage error: {err}");
    assert!(err.contains("court case number"), "{err}");
    let (code, v) = dev.submit(
        "court-hefei",
        &[
            "public-record",
            "--enterprise",
            SUPPLIER,
            "--category",
            "court_judgment",
            "--period",
            "2026-10",
            "--case-number",
            "(2026)皖0104民初1234号",
            "--amount",
            "380,000",
            "--source",
            "合肥蜀山法院-1",
        ],
    );
    applied(code, &v);
    let (code, v) = dev.submit(
        "bank-hefei",
        &[
            "credit",
            "--enterprise",
            SUPPLIER,
            "--kind",
            "loan",
            "--reference",
            "HF-LN-1",
            "--amount",
            "4,500,000",
            "--date",
            "2025-07-15",
        ],
    );
    applied(code, &v);

    // The regulator's report has every section, stable under --json.
    let (code, out, err) = dev.cli_as(
        "regulator",
        &["--json", "report", SUPPLIER, "--purpose", "supervision"],
    );
    assert_eq!(code, 0, "{err}");
    let report = json(&out);
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    for k in [
        "identity",
        "credit",
        "public_records",
        "ip",
        "receivables",
        "objections",
        "queries",
    ] {
        assert!(keys.contains(&k), "{k} missing: {keys:?}");
    }
    assert_eq!(report["credit"]["loans_outstanding"][0]["city"], "合肥");
    assert_eq!(
        report["credit"]["loans_outstanding"][0]["outstanding_fen"],
        450_000_000
    );
    assert_eq!(report["public_records"]["total"], 2);
    assert_eq!(
        report["public_records"]["by_category"]["court_judgment"][0]["data"]["court_judgment"]
            ["case_number"],
        "（2026）皖0104民初1234号"
    );
    assert_eq!(
        report["receivables"]["totals"]["as_holder"]["financed_fen"],
        170_000_000
    );
    // In a terminal: amounts grouped, Chinese aligned.
    let (code, text, _) = dev.cli_as(
        "regulator",
        &["report", SUPPLIER, "--purpose", "supervision"],
    );
    assert_eq!(code, 0);
    for want in ["4,500,000.00", "合肥", "grade=B", "bank-hangzhou"] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    // A bank without consent gets nothing; the refusal is audited like any read.
    let (code, _, err) = dev.cli_as(
        "bank-nanjing",
        &["report", SUPPLIER, "--purpose", "loan_approval"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("consent_required"), "{err}");
}

#[test]
fn pilot_era_codes_and_overdue_objections_on_a_testnet() {
    let net = Net::generate_with(3, 0, 400, &["--objection-answer-secs", "3"]);
    let nodes: Vec<NodeProc> = (0..3).map(|i| net.start(i)).collect();
    let urls: Vec<String> = (0..3).map(|i| net.url(i)).collect();
    wait_for("blocks", Duration::from_secs(60), || {
        urls.iter().all(|u| height(u).is_some_and(|h| h >= 2))
    });
    let key = |m: &str| net.member_key(m).to_str().unwrap().to_string();
    let submit = |node: usize, member: &str, args: &[&str]| {
        let k = key(member);
        let mut all = vec![
            "--node",
            &urls[node],
            "--json",
            "--key",
            &k,
            "submit",
            "--wait",
        ];
        all.extend_from_slice(args);
        cli(&all)
    };
    let loan = |code: &str| {
        vec![
            "credit".to_string(),
            "--enterprise".into(),
            code.into(),
            "--kind".into(),
            "loan".into(),
            "--reference".into(),
            format!("LN-{code}"),
            "--amount".into(),
            "2,000,000".into(),
            "--date".into(),
            "2026-11-02".into(),
        ]
    };
    let loan_args = loan(PILOT);
    let loan_args: Vec<&str> = loan_args.iter().map(String::as_str).collect();
    // Refused before signing, saying how to get it admitted.
    let (code, _, err) = submit(0, "bank-shanghai", &loan_args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("GB 32100-2015 gives '1'"), "{err}");
    assert!(err.contains("can be admitted by a regulator"), "{err}");
    let (code, _, err) = cli(&[
        "--node",
        &urls[1],
        "--key",
        &key("regulator"),
        "query",
        "enterprise",
        PILOT,
        "--purpose",
        "supervision",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("invalid_uscc") && err.contains("GB 32100-2015"),
        "{err}"
    );
    // A structurally wrong code is refused by the CLI itself.
    let (code, _, err) = submit(
        0,
        "bank-shanghai",
        &[
            "credit",
            "--enterprise",
            "91350100M0001TGQXI",
            "--kind",
            "loan",
            "--reference",
            "x",
            "--amount",
            "1",
            "--date",
            "2026-11-02",
        ],
    );
    assert_eq!(code, 2, "{err}");
    // Only a regulator admits.
    let exception = [
        "uscc-exception",
        "--code",
        PILOT,
        "--name",
        "福州某电子科技有限公司",
        "--reason",
        "营业执照原件已核验",
    ];
    let (code, out, _) = submit(1, "bank-shanghai", &exception);
    assert_eq!(code, 1);
    assert!(out.contains("needs the regulator role"), "{out}");
    let (code, out, err) = submit(1, "regulator", &exception);
    assert_eq!(code, 0, "{out}{err}");
    let admitted_at = json(&out)["height"].as_u64().unwrap();
    // Accepted through another node once committed.
    let (code, out, err) = submit(2, "bank-shanghai", &loan_args);
    assert_eq!(code, 0, "{out}{err}");
    let loan_at = json(&out)["height"].as_u64().unwrap();
    assert!(loan_at > admitted_at);
    for u in &urls {
        wait_for("the loan on every node", Duration::from_secs(30), || {
            height(u).is_some_and(|h| h >= loan_at)
        });
        let (code, out, err) = cli(&[
            "--node",
            u,
            "--json",
            "--key",
            &key("regulator"),
            "query",
            "enterprise",
            PILOT,
            "--purpose",
            "supervision",
        ]);
        assert_eq!(code, 0, "{u}: {err}");
        assert_eq!(json(&out)["total_credit_records"], 1, "{u}");
    }
    // The second real code is still refused: exceptions are per code.
    let loan2 = loan(PILOT_2);
    let loan2: Vec<&str> = loan2.iter().map(String::as_str).collect();
    let (code, _, err) = submit(0, "bank-shanghai", &loan2);
    assert_eq!(code, 2, "{err}");

    // An objection the reporter answers after the deadline.
    let (code, out, err) = submit(0, "bank-shanghai", &{
        let mut l = loan_args.clone();
        l[6] = "LN-late";
        l[2] = SUPPLIER;
        l
    });
    assert_eq!(code, 0, "{out}{err}");
    let record = json(&out)["tx_hash"].as_str().unwrap().to_string();
    let ent_key = net
        .dir
        .path()
        .join(format!("members/enterprise-{SUPPLIER}.key"));
    let (code, out, err) = cli(&[
        "--node",
        &urls[1],
        "--json",
        "--key",
        ent_key.to_str().unwrap(),
        "submit",
        "--wait",
        "objection",
        "--tx",
        &record,
        "--reason",
        "该笔贷款合同编号有误",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let objection = json(&out)["tx_hash"].as_str().unwrap().to_string();
    // Not yet overdue; then three seconds of block time pass.
    let overdue = |node: usize| {
        let (code, out, err) = cli(&[
            "--node",
            &urls[node],
            "--json",
            "--key",
            &key("regulator"),
            "query",
            "objections",
            "--overdue",
        ]);
        assert_eq!(code, 0, "{err}");
        json(&out)["objections"].as_array().unwrap().clone()
    };
    assert!(overdue(2).is_empty());
    wait_for(
        "the deadline to pass in block time",
        Duration::from_secs(30),
        || overdue(2).len() == 1,
    );
    let listed = overdue(0);
    assert_eq!(listed[0]["objection_id"], objection.as_str());
    assert_eq!(listed[0]["status"], "overdue");
    assert_eq!(listed[0]["reporter"]["name"], "bank-shanghai");
    // A bank may not list across enterprises.
    let (code, _, err) = cli(&[
        "--node",
        &urls[0],
        "--key",
        &key("bank-nanjing"),
        "query",
        "objections",
        "--overdue",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("forbidden"), "{err}");
    // The answer, late, corrects the record.
    let (code, out, err) = submit(
        2,
        "bank-shanghai",
        &[
            "objection-resolve",
            "--objection",
            &objection,
            "--outcome",
            "corrected",
            "--explanation",
            "合同编号更正为 LN-2026-088",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(overdue(1).is_empty());
    let (code, out, _) = cli(&[
        "--node",
        &urls[1],
        "--json",
        "--key",
        ent_key.to_str().unwrap(),
        "query",
        "objections",
        "--enterprise",
        SUPPLIER,
    ]);
    assert_eq!(code, 0);
    let mine = json(&out)["objections"][0].clone();
    assert_eq!(mine["answer"]["late"], true, "{mine}");
    assert_eq!(mine["answer"]["outcome"], "corrected");
    drop(nodes);
}
