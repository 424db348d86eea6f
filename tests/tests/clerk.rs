//! What a bank clerk and an outside prober hit, against real nodes: input
//! that crashed or misled the node and the CLI, an API held by idle
//! sockets, retries that must not count a record twice, and outcomes the
//! CLI cannot learn.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deltachain_client::Client;
use deltachain_tests::*;
use serde_json::Value;

const ENT: &str = "91350100M000100Y43";

fn credit_args<'a>(reference: &'a str, amount: &'a str, date: &'a str) -> Vec<&'a str> {
    vec![
        "credit",
        "--enterprise",
        ENT,
        "--kind",
        "loan",
        "--reference",
        reference,
        "--amount",
        amount,
        "--date",
        date,
    ]
}

fn status_of(url: &str, path: &str) -> (u16, Value) {
    let (status, body) = http(url, "GET", path, None).expect("the node answers");
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("{path}: not JSON: {}", String::from_utf8_lossy(&body)));
    (status, v)
}

/// Text that panicked the node or the CLI is refused with a message.
#[test]
fn multibyte_ids_and_long_inputs_get_errors_not_panics() {
    let _serial = serial();
    let dev = Dev::start();
    for path in [
        "/v1/ip/%E0%A0%80",
        "/v1/ip/x%C3%91",
        "/v1/ip/%FF%FE",
        "/v1/enterprises/%E5%90%88%E8%82%A5",
    ] {
        let (status, v) = status_of(&dev.url, path);
        assert_eq!(status, 400, "{path}: {v}");
        assert!(v["error"]["code"].is_string(), "{path}: {v}");
    }
    // A 10 KB id is quoted by a short prefix, not echoed back.
    let long = "a".repeat(10_000);
    for path in [
        format!("/v1/blocks/{long}"),
        format!("/v1/txs/{long}"),
        format!("/v1/ip/{long}"),
    ] {
        let (status, body) = http(&dev.url, "GET", &path, None).unwrap();
        assert_eq!(status, 400);
        assert!(body.len() < 400, "{} bytes: {path:.40}", body.len());
    }
    let (code, _, err) = dev.cli(&["query", "ip", "xÑ"]);
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The node is still there.
    assert!(height(&dev.url).is_some());
}

/// A closed pipe (`deltachain ... | head`) ends the CLI quietly.
#[test]
fn a_closed_stdout_ends_the_cli_quietly() {
    let _serial = serial();
    let dev = Dev::start();
    let mut child = Command::new(bin("deltachain"))
        .args(["--node", &dev.url, "status"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = finish(child, CLI_LIMIT);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Amounts, kinds, Chinese references and notes, normalised codes, dates
/// and retries, as a clerk types them.
#[test]
fn a_clerks_input_is_read_as_meant_or_refused_with_a_reason() {
    let _serial = serial();
    let dev = Dev::start();
    let key = dev.key("bank-shanghai");
    let key = key.to_str().unwrap();
    let submit = |args: &[&str]| {
        let mut all = vec!["submit", "--key", key, "--wait"];
        all.extend_from_slice(args);
        dev.cli(&all)
    };
    // Misplaced commas and negative amounts: usage errors, nothing sent.
    for (amount, says) in [
        ("1,00", "misplaced comma"),
        ("12,34,567", "misplaced comma"),
        ("-5", "negative amounts are not allowed"),
    ] {
        let (code, _, err) = submit(&credit_args("LN-1", amount, "2026-01-05"));
        assert_eq!(code, 2, "{amount}: {err}");
        assert!(err.contains(says), "{amount}: {err}");
    }
    let mut bad_kind = credit_args("LN-1", "100", "2026-01-05");
    bad_kind[4] = "lone";
    let (code, _, err) = submit(&bad_kind);
    assert_eq!(code, 2);
    assert!(err.contains("unknown credit kind"), "{err}");
    assert!(err.contains("loan, repayment"), "{err}");
    assert!(!err.contains("CreditKind"), "{err}");

    // `Loan`, a lower-case USCC with separators, a Chinese reference and
    // note, and grouped thousands are all read as meant.
    let note = "合肥高新区科技贷款，首笔放款".repeat(10);
    let (code, out, err) = submit(&[
        "credit",
        "--enterprise",
        "9135 0100-m000 100y43",
        "--kind",
        "Loan",
        "--reference",
        "合肥-贷-001",
        "--amount",
        "1,234,567.80",
        "--date",
        "2026-01-05",
        "--note",
        &note,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // The hash comes first, before the outcome.
    let first = out.lines().next().unwrap();
    assert!(first.starts_with("transaction "), "{out}");
    let hash = first.trim_start_matches("transaction ").to_string();
    assert!(out.contains(&format!("applied: {hash}")), "{out}");

    // A retry of the same record is refused naming the first.
    let (code, out, err) = submit(&[
        "credit",
        "--enterprise",
        ENT,
        "--kind",
        "loan",
        "--reference",
        "合肥-贷-001",
        "--amount",
        "1234567.80",
        "--date",
        "2026-01-05",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("duplicate"), "{out}");
    assert!(out.contains(&hash), "{out}");

    // A loan dated 2099 is refused by the ledger.
    let (code, out, _) = submit(&credit_args("LN-2099", "100", "2099-01-01"));
    assert_eq!(code, 1);
    assert!(out.contains("after the block date"), "{out}");

    // Two more records, then a page that says it is a page.
    for r in ["LN-2", "LN-3"] {
        let (code, out, err) = submit(&credit_args(r, "100", "2026-01-06"));
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, out, err) = dev.cli_as(
        "regulator",
        &[
            "query",
            "enterprise",
            "91350100m000100y43",
            "--limit",
            "1",
            "--purpose",
            "supervision",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("showing 1–1 of 3; --offset/--limit for more"),
        "{out}"
    );
    let (code, out, _) = dev.cli_as(
        "regulator",
        &["query", "enterprise", ENT, "--purpose", "supervision"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("showing all 3"), "{out}");
    assert!(out.contains("合肥-贷-001"), "{out}");

    // Errors under --json are JSON on stderr too.
    let mut json_args = vec!["--json", "submit", "--key", key];
    json_args.extend(credit_args("LN-9", "1,00", "2026-01-05"));
    let (code, out, err) = dev.cli(&json_args);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    let v: Value = serde_json::from_str(err.trim()).expect("stderr is JSON");
    assert_eq!(v["error"]["code"], "usage");
    assert!(v["error"]["message"].as_str().unwrap().contains("comma"));
    let (code, _, err) = dev.cli(&["--json", "query", "enterprise"]);
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(err.trim()).expect("a clap error is JSON too");
    assert_eq!(v["error"]["code"], "usage");

    // An https:// node that is not there is unreachable (exit 3), not a crash.
    let (code, _, err) = cli(&["--node", "https://127.0.0.1:1", "status"]);
    assert_eq!(code, 3, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A patent with a Chinese title keeps the enterprise table aligned.
#[test]
fn chinese_titles_keep_tables_aligned() {
    let _serial = serial();
    let dev = Dev::start();
    let (code, v) = dev.submit(
        "ipo-hangzhou",
        &[
            "ip-register",
            "--ip-id",
            "zl 2017 1060 1862.3",
            "--kind",
            "patent",
            "--title",
            "一种固态锂电池隔膜及其制备方法",
            "--owner",
            ENT,
            "--date",
            "2019-05-10",
        ],
    );
    assert_eq!(code, 0, "{v}");
    let (code, out, err) = dev.cli_as(
        "regulator",
        &["query", "enterprise", ENT, "--purpose", "supervision"],
    );
    assert_eq!(code, 0, "{err}");
    let header = out.lines().find(|l| l.contains("TITLE")).expect(&out);
    let row = out.lines().find(|l| l.contains("固态")).expect(&out);
    let col = |line: &str, marker: &str| {
        let at = line.find(marker).unwrap();
        // Display columns before the marker: CJK characters take two.
        line[..at]
            .chars()
            .map(|c| if c as u32 >= 0x2E80 { 2 } else { 1 })
            .sum::<usize>()
    };
    assert_eq!(col(header, "PLEDGE"), col(row, "none"), "\n{header}\n{row}");
    let (code, out, _) = dev.cli_as("bank-hefei", &["query", "ip", "zl 2017 1060 1862.3"]);
    assert_eq!(code, 0, "{out}");
}

/// The same signed transaction sent twice is answered with its status and
/// applied once.
#[test]
fn a_resubmitted_transaction_is_applied_once() {
    let _serial = serial();
    let dev = Dev::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let key = dev.keypair("bank-shanghai");
    let client = Client::new(&dev.url).unwrap().with_key(key.clone());
    let tx = rt.block_on(async {
        let payload = deltachain_client::records::credit(
            ENT,
            "loan",
            "LN-RETRY-1",
            Some("100"),
            "CNY",
            "2026-01-05",
            None,
            None,
        )
        .unwrap();
        client.sign(&key, payload).await.unwrap()
    });
    let body = format!("{{\"tx\": \"{}\"}}", hex::encode(tx.encode()));
    let (first, v1) = http(&dev.url, "POST", "/v1/txs", Some(body.as_bytes())).unwrap();
    assert_eq!(first, 202);
    let (again, v2) = http(&dev.url, "POST", "/v1/txs", Some(body.as_bytes())).unwrap();
    assert!(again == 202 || again == 200, "{again}");
    let (v1, v2): (Value, Value) = (
        serde_json::from_slice(&v1).unwrap(),
        serde_json::from_slice(&v2).unwrap(),
    );
    assert_eq!(v1["tx_hash"], v2["tx_hash"]);
    rt.block_on(client.wait(&tx.hash(), Duration::from_secs(20)))
        .unwrap();
    let (status, v3) = http(&dev.url, "POST", "/v1/txs", Some(body.as_bytes())).unwrap();
    let v3: Value = serde_json::from_slice(&v3).unwrap();
    assert_eq!(status, 200, "{v3}");
    assert_eq!(v3["status"], "committed");
    assert_eq!(v3["outcome"], "applied");
    let (_, e) = http_signed(
        &dev.url,
        "GET",
        &format!("/v1/enterprises/{ENT}"),
        None,
        &dev.keypair("regulator"),
        Some("supervision"),
    )
    .map(|(s, b)| (s, serde_json::from_slice::<Value>(&b).unwrap()))
    .unwrap();
    assert_eq!(e["total_credit_records"], 1, "{e}");
}

/// 700 idle sockets (more than `api.max_connections`) do not lock other
/// clients out: the quietest are closed to make room.
#[test]
fn idle_sockets_do_not_lock_out_the_api() {
    let _serial = serial();
    let dev = Dev::start();
    let addr = dev.url.trim_start_matches("http://").to_string();
    let mut idle = Vec::new();
    for _ in 0..700 {
        match TcpStream::connect(&addr) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connect {}: {e}", idle.len()),
        }
    }
    // A half-sent request header holds its connection too.
    for s in idle.iter_mut().take(50) {
        s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    let start = Instant::now();
    for _ in 0..5 {
        assert!(
            height(&dev.url).is_some(),
            "status unanswered with {} idle sockets",
            idle.len()
        );
    }
    assert!(start.elapsed() < Duration::from_secs(20));
    drop(idle);
}

/// With no quorum the CLI cannot learn the outcome: it prints the hash
/// first and exits 4 with the command to check later. After a restart that
/// lost the mempool, a waiting CLI submits the same transaction again and
/// sees it applied.
#[test]
fn unknown_outcomes_exit_4_and_restarts_are_ridden_out() {
    let _serial = serial();
    let net = Net::generate(4, 0, 300);
    let mut node0 = net.start(0);
    wait_for("node 0's API", Duration::from_secs(30), || {
        height(&net.url(0)).is_some()
    });
    let key = net.member_key("bank-shanghai");
    let mut args = vec![
        "--node".to_string(),
        net.url(0),
        "submit".into(),
        "--key".into(),
        key.to_str().unwrap().into(),
        "--wait".into(),
        "--timeout".into(),
        "3".into(),
    ];
    args.extend(
        credit_args("LN-NOQUORUM", "100", "2026-01-05")
            .iter()
            .map(|s| s.to_string()),
    );
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let (code, out, err) = cli(&refs);
    assert_eq!(code, 4, "{out}{err}");
    let hash = out
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("transaction ");
    assert_eq!(hash.len(), 64, "{out}");
    assert!(err.contains("outcome unknown"), "{err}");
    assert!(err.contains(&format!("deltachain tx {hash}")), "{err}");

    // Another member waits while node 0 restarts (losing its mempool) and
    // two more validators come up to make a quorum.
    let key = net.member_key("bank-nanjing");
    let mut args = vec![
        "--node".to_string(),
        net.url(0),
        "--json".into(),
        "submit".into(),
        "--key".into(),
        key.to_str().unwrap().into(),
        "--wait".into(),
        "--timeout".into(),
        "90".into(),
    ];
    args.extend(
        credit_args("LN-RESTART", "100", "2026-01-05")
            .iter()
            .map(|s| s.to_string()),
    );
    let waiting = Command::new(bin("deltachain"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        "the transaction to be pending",
        Duration::from_secs(20),
        || {
            get(&net.url(0), "/v1/status")
                .map(|v| v["mempool_txs"].as_u64() == Some(2))
                .unwrap_or(false)
        },
    );
    node0.kill();
    std::thread::sleep(Duration::from_secs(1));
    let _node0 = net.start(0);
    let _node1 = net.start(1);
    let _node2 = net.start(2);
    let out = finish(waiting, CLI_LIMIT);
    let v = json_success(&out);
    assert_eq!(v["outcome"], "applied", "{v}");
}

/// Every path and query parameter in the API description carries its
/// constraints, so a schema-based client generates only requests the node
/// can answer.
#[test]
fn the_openapi_document_constrains_every_parameter() {
    let _serial = serial();
    let dev = Dev::start();
    let (status, doc) = status_of(&dev.url, "/v1/openapi.json");
    assert_eq!(status, 200);
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (_, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let schema = &p["schema"];
                let constrained = match schema["type"].as_str() {
                    Some("string") => schema["pattern"].is_string() && schema["maxLength"].is_u64(),
                    Some("integer") => schema["minimum"].is_u64() && schema["maximum"].is_u64(),
                    Some("boolean") => true,
                    _ => false,
                };
                assert!(constrained, "{path} {}: {schema}", p["name"]);
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "{checked}");
    let tx = &doc["components"]["schemas"]["SubmitTx"]["properties"]["tx"];
    let body = match tx["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
        Some(name) => &doc["components"]["schemas"][name],
        None => tx,
    };
    assert!(
        body["pattern"].is_string() && body["maxLength"].is_u64(),
        "{body}"
    );
}
