//! The member-facing surface end to end against `deltachain-node dev`: the
//! CLI stories a bank would run, proof verification (and its failure on
//! tampering or a foreign genesis), every class of bad input answered with
//! the right 4xx, the OpenAPI document, events and metrics.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use deltachain_client::{verify, Client};
use deltachain_protocol::*;
use deltachain_tests::*;
use serde_json::Value;

const PATENT: &str = "ZL201710601862.3";
const ENT: &str = "91350100M000100Y43";

fn pledge(contract: &str, until: &str) -> Vec<String> {
    [
        "ip-pledge",
        "--ip-id",
        PATENT,
        "--amount",
        "5000000",
        "--contract",
        contract,
        "--until",
        until,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(|s| s.as_str()).collect()
}

/// Register a patent, pledge it to bank A, refuse bank B's second pledge
/// naming bank A, refuse a release by B, release by A, then B's pledge applies.
#[test]
fn double_pledge_is_refused_and_release_frees_the_patent() {
    let _serial = serial();
    let dev = Dev::start();
    let (code, v) = dev.submit(
        "ipo-hangzhou",
        &[
            "ip-register",
            "--ip-id",
            PATENT,
            "--kind",
            "patent",
            "--title",
            "Solid-state lithium battery separator",
            "--owner",
            ENT,
            "--date",
            "2019-05-10",
        ],
    );
    assert_eq!((code, v["outcome"].as_str()), (0, Some("applied")), "{v}");
    let (code, v) = dev.submit(
        "bank-shanghai",
        &refs(&pledge("PL-SH-2026-0042", "2027-06-30")),
    );
    assert_eq!((code, v["outcome"].as_str()), (0, Some("applied")), "{v}");
    let (code, v) = dev.submit(
        "bank-nanjing",
        &refs(&pledge("PL-NJ-2026-0007", "2028-01-31")),
    );
    assert_eq!(code, 1, "a rejection exits 1: {v}");
    assert_eq!(v["status"], "committed");
    assert_eq!(v["outcome"], "rejected");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains("already pledged to bank-shanghai until 2027-06-30"),
        "{reason}"
    );
    let (code, v) = dev.submit("bank-nanjing", &["ip-release", "--ip-id", PATENT]);
    assert_eq!(code, 1);
    assert!(v["reason"].as_str().unwrap().contains("only the pledgee"));
    let (code, _) = dev.submit("bank-shanghai", &["ip-release", "--ip-id", PATENT]);
    assert_eq!(code, 0);
    let (code, v) = dev.submit(
        "bank-nanjing",
        &refs(&pledge("PL-NJ-2026-0007", "2028-01-31")),
    );
    assert_eq!((code, v["outcome"].as_str()), (0, Some("applied")), "{v}");

    let (code, out, _) = dev.cli_as("bank-hefei", &["--json", "query", "ip", PATENT]);
    assert_eq!(code, 0);
    let ip: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ip["active_pledge"]["pledgee"], "bank-nanjing");
    assert_eq!(ip["owner"], ENT);
    assert_eq!(
        ip["history"].as_array().unwrap().len(),
        4,
        "registered, pledged, released, pledged"
    );
    let (code, out, _) = dev.cli_as("bank-hefei", &["query", "ip", PATENT]);
    assert_eq!(code, 0);
    assert!(
        out.contains("bank-nanjing for 5000000.00 CNY until 2028-01-31"),
        "{out}"
    );
}

/// Two banks in two cities report on one enterprise; one corrects and then
/// withdraws its record; the enterprise view shows all of it.
#[test]
fn credit_story_across_two_banks() {
    let _serial = serial();
    let dev = Dev::start();
    let credit = |bank: &str, kind: &str, reference: &str, amount: &str, date: &str| {
        dev.submit(
            bank,
            &[
                "credit",
                "--enterprise",
                ENT,
                "--kind",
                kind,
                "--reference",
                reference,
                "--amount",
                amount,
                "--date",
                date,
            ],
        )
    };
    let (code, loan) = credit(
        "bank-shanghai",
        "loan",
        "SH-LN-2026-001",
        "8000000",
        "2026-01-15",
    );
    assert_eq!(code, 0);
    assert_eq!(
        credit(
            "bank-nanjing",
            "loan",
            "NJ-LN-2025-311",
            "2500000.00",
            "2025-06-01"
        )
        .0,
        0
    );
    assert_eq!(
        credit(
            "bank-nanjing",
            "overdue",
            "NJ-LN-2025-311",
            "120000",
            "2026-09-01"
        )
        .0,
        0
    );
    assert_eq!(
        credit(
            "bank-nanjing",
            "default",
            "NJ-LN-2025-311",
            "2380000",
            "2026-11-01"
        )
        .0,
        0
    );
    let loan_tx = loan["tx_hash"].as_str().unwrap();
    let (code, v) = dev.submit(
        "bank-nanjing",
        &[
            "credit-correction",
            "--tx",
            loan_tx,
            "--reason",
            "wrong bank",
        ],
    );
    assert_eq!(code, 1, "only the reporter may correct: {v}");
    let (code, _) = dev.submit(
        "bank-shanghai",
        &[
            "credit-correction",
            "--tx",
            loan_tx,
            "--reason",
            "amount is 7,500,000 yuan",
        ],
    );
    assert_eq!(code, 0);

    let sup = ["--purpose", "supervision"];
    let (code, out, _) = dev.cli_as(
        "regulator",
        &["--json", "query", "enterprise", ENT, sup[0], sup[1]],
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total_credit_records"], 4);
    let records = v["credit_records"].as_array().unwrap();
    assert_eq!(records[0]["kind"], "default", "newest first");
    assert_eq!(records[0]["reporter"]["name"], "bank-nanjing");
    assert_eq!(records[3]["reporter"]["name"], "bank-shanghai");
    assert_eq!(records[3]["status"], "corrected");
    let (code, out, _) = dev.cli_as("regulator", &["query", "enterprise", ENT, sup[0], sup[1]]);
    assert_eq!(code, 0);
    for needle in [
        "bank-shanghai",
        "bank-nanjing",
        "default",
        "2380000.00",
        "corrected: amount is 7,500,000 yuan",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from:\n{out}");
    }
    let (code, _, err) = dev.cli(&["query", "enterprise", "91350100M000100Y44"]);
    assert_eq!(code, 2, "{err}");
}

/// `verify` trusts a committed transaction and refuses a tampered proof or a
/// genesis with other validators.
#[test]
fn verify_checks_proofs_against_genesis() {
    let _serial = serial();
    let dev = Dev::start();
    let (code, v) = dev.submit(
        "ipo-hangzhou",
        &[
            "ip-register",
            "--ip-id",
            "TM-2024-889901",
            "--kind",
            "trademark",
            "--title",
            "Delta River",
            "--owner",
            ENT,
            "--date",
            "2024-02-02",
        ],
    );
    assert_eq!(code, 0);
    let hash = v["tx_hash"].as_str().unwrap().to_string();
    let genesis = dev.genesis();
    let (code, out, err) = dev.cli_as(
        "ipo-hangzhou",
        &["verify", &hash, "--genesis", genesis.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("VERIFIED") && out.contains("certified by 1 of 1"),
        "{out}"
    );

    // A genesis naming other validators.
    let other = tempfile::tempdir().unwrap();
    let out = Command::new(bin("deltachain-node"))
        .args(["testnet", "--nodes", "1", "--out"])
        .arg(other.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let foreign = other.path().join("genesis.json");
    let (code, _, err) = dev.cli_as(
        "ipo-hangzhou",
        &["verify", &hash, "--genesis", foreign.to_str().unwrap()],
    );
    assert_eq!(code, 1);
    assert!(err.contains("NOT VERIFIED"), "{err}");

    // Tampered proofs, checked with the library.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::new(&dev.url)
        .unwrap()
        .with_key(dev.keypair("ipo-hangzhou"));
    let h = Hash::from_hex(&hash).unwrap();
    let proof = rt.block_on(client.proof(&h)).unwrap();
    let g = Genesis::from_json(&std::fs::read_to_string(&genesis).unwrap()).unwrap();
    verify::verify_proof(&proof, &h, &g).unwrap();
    let mut bad = proof.clone();
    bad.receipt.outcome = Outcome::Rejected;
    bad.receipt.reason = Some("forged".into());
    assert!(
        verify::verify_proof(&bad, &h, &g).is_err(),
        "a forged receipt must fail"
    );
    let mut bad = proof.clone();
    bad.header.state_root = Hash([1; 32]);
    assert!(
        verify::verify_proof(&bad, &h, &g).is_err(),
        "a forged header must fail"
    );
    let mut bad = proof.clone();
    bad.certificate.signatures[0].signature.0[0] ^= 1;
    assert!(
        verify::verify_proof(&bad, &h, &g).is_err(),
        "a forged signature must fail"
    );
    let mut bad = proof.clone();
    bad.tx_proof.tree_size += 1;
    assert!(
        verify::verify_proof(&bad, &h, &g).is_err(),
        "a forged path must fail"
    );
    let mut bad = proof;
    bad.certificate.signatures.clear();
    assert!(
        verify::verify_proof(&bad, &h, &g).is_err(),
        "no quorum must fail"
    );
}

fn post(url: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let (status, body) = http(url, "POST", path, Some(body)).expect("node answers");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn submit_hex(url: &str, tx: &SignedTransaction) -> (u16, Value) {
    post(
        url,
        "/v1/txs",
        format!("{{\"tx\": \"{}\"}}", hex::encode(tx.encode())).as_bytes(),
    )
}

fn assert_error(r: (u16, Value), status: u16, code: &str) {
    assert_eq!(r.0, status, "{}", r.1);
    assert_eq!(r.1["error"]["code"], code, "{}", r.1);
    assert!(
        r.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        r.1
    );
}

fn signed(dev: &Dev, member: &str, chain: &str, nonce: u64, payload: Payload) -> SignedTransaction {
    let key = dev.keypair(member);
    Transaction {
        chain_id: chain.into(),
        sender: key.public(),
        nonce,
        payload,
    }
    .sign(&key)
}

fn loan(enterprise: &str) -> Payload {
    Payload::Credit(Credit {
        enterprise: enterprise.into(),
        kind: CreditKind::Loan,
        reference: "LN-1".into(),
        amount_fen: Some(100),
        currency: "CNY".into(),
        date: Date::parse("2026-01-01").unwrap(),
        rating: None,
        note: None,
    })
}

/// Every kind of bad input gets a 4xx with a code and message; nothing a
/// client sends causes a 5xx.
#[test]
fn bad_input_gets_clear_4xx() {
    let _serial = serial();
    let dev = Dev::start();
    let u = dev.url.as_str();
    let chain = get(u, "/v1/status").unwrap()["chain_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_error(post(u, "/v1/txs", b"not json"), 400, "bad_json");
    assert_error(post(u, "/v1/txs", b"{\"tx\": \"xyz\"}"), 400, "bad_hex");
    assert_error(post(u, "/v1/txs", b"{\"tx\": 5}"), 400, "bad_request");
    assert_error(
        post(u, "/v1/txs", b"{\"tx\": \"00112233\"}"),
        400,
        "undecodable",
    );
    let big = vec![b' '; 9 * 1024 * 1024];
    assert_error(post(u, "/v1/txs", &big), 413, "body_too_large");
    let mut bad_sig = signed(&dev, "bank-shanghai", &chain, 1, loan(ENT));
    bad_sig.signature.0[5] ^= 1;
    assert_error(submit_hex(u, &bad_sig), 400, "bad_signature");
    let stranger = Keypair::from_secret([42; 32]);
    let t = Transaction {
        chain_id: chain.clone(),
        sender: stranger.public(),
        nonce: 1,
        payload: loan(ENT),
    }
    .sign(&stranger);
    assert_error(submit_hex(u, &t), 400, "unknown_sender");
    assert_error(
        submit_hex(
            u,
            &signed(&dev, "bank-shanghai", "other-chain", 1, loan(ENT)),
        ),
        400,
        "wrong_chain",
    );
    assert_error(
        submit_hex(
            u,
            &signed(&dev, "bank-shanghai", &chain, 1, loan("91350100M000100Y44")),
        ),
        400,
        "uscc_not_admitted",
    );
    assert_error(
        submit_hex(
            u,
            &signed(&dev, "bank-shanghai", &chain, 1, loan("91350100M000I00Y43")),
        ),
        400,
        "invalid_transaction",
    );
    // A field error whose text mentions a chain or a signature is still a
    // field error: codes come from the kind of error, not its wording.
    let mut chain_ref = loan(ENT);
    if let Payload::Credit(c) = &mut chain_ref {
        c.reference = "supply chain signature".into();
    }
    let r = submit_hex(u, &signed(&dev, "bank-shanghai", &chain, 1, chain_ref));
    assert_error(r, 400, "invalid_transaction");
    let bad_patent = Payload::IpRegister(IpRegister {
        ip_id: "ZL201710601862.4".into(),
        kind: IpKind::Patent,
        title: "t".into(),
        owner: ENT.into(),
        registered_on: Date::parse("2020-01-01").unwrap(),
    });
    let r = submit_hex(u, &signed(&dev, "ipo-hangzhou", &chain, 1, bad_patent));
    assert_error(r.clone(), 400, "invalid_transaction");
    assert!(r.1["error"]["message"].as_str().unwrap().contains("ip_id"));
    // Stale nonce: commit nonce 1, then send another nonce 1.
    let first = signed(&dev, "bank-hefei", &chain, 1, loan(ENT));
    assert_eq!(submit_hex(u, &first).0, 202);
    let h = first.hash();
    wait_for(
        "the first transaction to commit",
        Duration::from_secs(20),
        || {
            get_as(u, &format!("/v1/txs/{h}"), &dev.keypair("bank-hefei"))
                .is_some_and(|v| v["status"] == "committed")
        },
    );
    let mut again = loan(ENT);
    if let Payload::Credit(c) = &mut again {
        c.reference = "LN-2".into();
    }
    assert_error(
        submit_hex(u, &signed(&dev, "bank-hefei", &chain, 1, again)),
        400,
        "stale_nonce",
    );
    // The same signed bytes again are answered with their status, not
    // applied twice and not reported as an error.
    let (status, v) = submit_hex(u, &first);
    assert_eq!(
        (status, &v["status"]),
        (200, &Value::from("committed")),
        "{v}"
    );
    // Reads.
    let regulator = dev.keypair("regulator");
    let bad_get = |path: &str| {
        let (s, b) = http_signed(u, "GET", path, None, &regulator, Some("supervision")).unwrap();
        (
            s,
            serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null),
        )
    };
    assert_error(
        bad_get("/v1/enterprises/91350100M000100Y44"),
        400,
        "invalid_uscc",
    );
    assert_error(bad_get("/v1/ip/ZL201710601862.4"), 400, "invalid_ip_id");
    assert_error(bad_get("/v1/ip/ZL201710601862.3"), 404, "not_found");
    assert_error(bad_get("/v1/txs/nothex"), 400, "bad_hash");
    assert_error(
        bad_get(&format!("/v1/txs/{}", "ab".repeat(32))),
        404,
        "not_found",
    );
    assert_error(bad_get("/v1/blocks/tall"), 400, "bad_height");
    assert_error(bad_get("/v1/blocks/99999999"), 404, "not_found");
    assert_error(
        bad_get("/v1/enterprises/91350100M000100Y43?limit=x"),
        400,
        "bad_query",
    );
    assert_error(bad_get("/v1/accounts/00"), 400, "bad_key");
    assert_error(bad_get("/v1/no/such/route"), 404, "not_found");
    assert_error(
        post(u, "/v1/txs/batch", b"{\"txs\": 3}"),
        400,
        "bad_request",
    );
    // A batch reports per transaction.
    let good = signed(&dev, "bank-hefei", &chain, 2, loan(ENT));
    let body = format!(
        "{{\"txs\": [\"{}\", \"{}\"]}}",
        hex::encode(good.encode()),
        hex::encode(bad_sig.encode())
    );
    let (status, v) = post(u, "/v1/txs/batch", body.as_bytes());
    assert_eq!(status, 202);
    assert_eq!(v["accepted"], 1);
    assert_eq!(v["results"][1]["error"]["code"], "bad_signature");
    // The node still serves.
    assert!(height(u).is_some());
}

/// The OpenAPI document parses and lists every route; events and metrics
/// are served.
#[test]
fn openapi_events_and_metrics() {
    let _serial = serial();
    let dev = Dev::start();
    let doc = get(&dev.url, "/v1/openapi.json").expect("openapi served");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for route in [
        "/v1/txs",
        "/v1/txs/batch",
        "/v1/txs/{hash}",
        "/v1/txs/{hash}/proof",
        "/v1/blocks/latest",
        "/v1/blocks/{id}",
        "/v1/enterprises/{uscc}",
        "/v1/ip/{ip_id}",
        "/v1/status",
        "/v1/validators",
        "/v1/members",
        "/v1/accounts/{key}",
        "/v1/events",
        "/v1/openapi.json",
        "/metrics",
    ] {
        assert!(paths.contains_key(route), "OpenAPI lacks {route}");
    }
    // Server-sent events: a committed block arrives as `event: block`.
    let addr = dev.url.trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(
        s,
        "GET /v1/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let (code, _) = dev.submit(
        "bank-shanghai",
        &[
            "credit",
            "--enterprise",
            ENT,
            "--kind",
            "rating",
            "--reference",
            "RT-1",
            "--rating",
            "AA-",
            "--date",
            "2026-11-01",
        ],
    );
    assert_eq!(code, 0);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("event: block") {
        let n = s.read(&mut buf).expect("events stream");
        assert!(n > 0, "stream closed");
        got.extend_from_slice(&buf[..n]);
    }
    // Made-up methods do not make new series.
    for m in ["FOO1", "FOO2", "FOO3"] {
        let _ = http(&dev.url, m, "/v1/status", None);
    }
    let (status, body) = http(&dev.url, "GET", "/metrics", None).unwrap();
    assert_eq!(status, 200);
    assert!(!String::from_utf8_lossy(&body).contains("FOO1"));
    let text = String::from_utf8_lossy(&body);
    for m in [
        "deltachain_height",
        "deltachain_mempool_txs",
        "deltachain_peers",
        "deltachain_txs_committed_total",
        "deltachain_commit_latency_seconds_bucket",
        "deltachain_storage_bytes",
        "deltachain_api_request_duration_seconds_count{route=\"GET /v1/openapi.json\",status=\"200\"}",
        "# TYPE libp2p_swarm_new_listen_addr",
        "# TYPE gossipsub_topic_subscription_status",
    ] {
        assert!(text.contains(m), "metrics lack {m}:\n{text}");
    }
    // The Prometheus project's own client parses it (OpenMetrics, strict:
    // types, suffixes, label syntax, the closing `# EOF`).
    let parse = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nfams = list(p(sys.stdin.read()))\nprint(len(fams), sum(len(f.samples) for f in fams))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (CI installs prometheus_client)");
    let mut parse = parse;
    let mut stdin = parse.stdin.take().unwrap();
    stdin.write_all(&body).unwrap();
    drop(stdin);
    let out = finish(parse, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "the exposition does not parse (python3 -m pip install prometheus_client):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = Path::new("unused");
}
