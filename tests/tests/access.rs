//! Who may read what, against real nodes: signed requests and every way
//! one is refused, consents on chain from the CLI, the query audit trail
//! across nodes and through a crash, what unsigned routes leak (nothing),
//! and HTTPS.

use std::io::{Read, Write};
use std::time::Duration;

use deltachain_protocol::httpsig;
use deltachain_protocol::{Date, Keypair};
use deltachain_tests::*;
use serde_json::Value;

const ENT: &str = "91350100M000100Y43";
const OTHER: &str = "91110108551385082Q";

fn body_json(r: Option<(u16, Vec<u8>)>) -> (u16, Value) {
    let (s, b) = r.expect("the node answers");
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// Headers for a request signed at `created` (Unix seconds) for `validity`.
fn signed_at(
    url: &str,
    path: &str,
    key: &Keypair,
    created: i64,
    validity: i64,
    nonce: &str,
) -> Vec<(String, String)> {
    signed_tagged(url, path, key, created, validity, nonce, None)
}

/// [`signed_at`] with a `tag` parameter.
fn signed_tagged(
    url: &str,
    path: &str,
    key: &Keypair,
    created: i64,
    validity: i64,
    nonce: &str,
    tag: Option<&str>,
) -> Vec<(String, String)> {
    let none = |_: &str| None;
    let (p, q) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let req = httpsig::Request {
        method: "GET",
        authority: url.trim_start_matches("http://"),
        path: p,
        query: q,
        header: &none,
    };
    let s = httpsig::sign_tagged(key, &req, &[], created, validity, nonce, tag).unwrap();
    vec![
        ("signature-input".into(), s.signature_input),
        ("signature".into(), s.signature),
    ]
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn days_from_today(days: i64) -> String {
    Date::from_unix_ms(((now() + days * 86_400) * 1000) as u64).to_string()
}

/// Every 401 of RFC 9421 verification, over the wire.
#[test]
fn unsigned_forged_replayed_and_stale_requests_get_401_with_a_reason() {
    let _serial = serial();
    let dev = Dev::start();
    let u = &dev.url;
    let bank = dev.keypair("bank-shanghai");

    for path in [
        format!("/v1/enterprises/{ENT}"),
        "/v1/members".to_string(),
        format!("/v1/accounts/{}", bank.public()),
        format!("/v1/txs/{}", "ab".repeat(32)),
        "/v1/ip/TM-1".to_string(),
    ] {
        let (s, v) = body_json(http(u, "GET", &path, None));
        assert_eq!((s, code(&v)), (401, "signature_required"), "{path}: {v}");
    }
    // Public routes answer without a signature.
    for path in [
        "/v1/status",
        "/v1/validators",
        "/v1/openapi.json",
        "/metrics",
    ] {
        assert_eq!(http(u, "GET", path, None).unwrap().0, 200, "{path}");
    }

    let good = |path: &str, nonce: &str| signed_at(u, path, &bank, now(), 60, nonce);
    let (s, _) = body_json(http_with(
        u,
        "GET",
        "/v1/members",
        None,
        &good("/v1/members", "n1"),
    ));
    assert_eq!(s, 200);
    // Replayed: the same headers again.
    let h = good("/v1/members", "n2");
    assert_eq!(http_with(u, "GET", "/v1/members", None, &h).unwrap().0, 200);
    let (s, v) = body_json(http_with(u, "GET", "/v1/members", None, &h));
    assert_eq!((s, code(&v)), (401, "replayed_nonce"), "{v}");
    // Tampered query and path.
    let h = good("/v1/members", "n3");
    let (s, v) = body_json(http_with(u, "GET", "/v1/members?limit=1", None, &h));
    assert_eq!((s, code(&v)), (401, "bad_signature"), "{v}");
    let h = good(&format!("/v1/accounts/{}", bank.public()), "n4");
    let other = dev.keypair("bank-nanjing").public();
    let (s, v) = body_json(http_with(
        u,
        "GET",
        &format!("/v1/accounts/{other}"),
        None,
        &h,
    ));
    assert_eq!((s, code(&v)), (401, "bad_signature"), "{v}");
    // A key the chain does not know.
    let stranger = Keypair::from_secret([77; 32]);
    let h = signed_at(u, "/v1/members", &stranger, now(), 60, "n5");
    let (s, v) = body_json(http_with(u, "GET", "/v1/members", None, &h));
    assert_eq!((s, code(&v)), (401, "unknown_key"), "{v}");
    // Expired, too long, off the clock.
    let h = signed_at(u, "/v1/members", &bank, now() - 200, 100, "n6");
    let (s, v) = body_json(http_with(u, "GET", "/v1/members", None, &h));
    assert_eq!((s, code(&v)), (401, "signature_expired"), "{v}");
    let h = signed_at(u, "/v1/members", &bank, now(), 301, "n7");
    let (s, v) = body_json(http_with(u, "GET", "/v1/members", None, &h));
    assert_eq!((s, code(&v)), (401, "signature_validity_too_long"), "{v}");
    let h = signed_at(u, "/v1/members", &bank, now() + 120, 60, "n8");
    let (s, v) = body_json(http_with(u, "GET", "/v1/members", None, &h));
    assert_eq!((s, code(&v)), (401, "clock_skew"), "{v}");
    // A signature tagged for another network, or another node, is refused;
    // one tagged for this network is taken.
    for tag in ["deltachain/other-chain", "deltachain/deltachain-dev/00"] {
        let h = signed_tagged(u, "/v1/members", &bank, now(), 60, tag, Some(tag));
        let (s, v) = body_json(http_with(u, "GET", "/v1/members", None, &h));
        assert_eq!((s, code(&v)), (401, "wrong_target"), "{tag}: {v}");
    }
    let tag = httpsig::target_tag("deltachain-dev", None);
    let h = signed_tagged(u, "/v1/members", &bank, now(), 60, "n10", Some(&tag));
    assert_eq!(http_with(u, "GET", "/v1/members", None, &h).unwrap().0, 200);
    let (s, v) = body_json(http_with(u, "GET", "/v1/members", None, &h));
    assert_eq!((s, code(&v)), (401, "replayed_nonce"), "{v}");
    // Garbage headers.
    let h = vec![
        (
            "signature-input".to_string(),
            "sig1=(\"@method\"".to_string(),
        ),
        ("signature".to_string(), "sig1=:AA==:".to_string()),
    ];
    let (s, v) = body_json(http_with(u, "GET", "/v1/members", None, &h));
    assert_eq!((s, code(&v)), (401, "malformed_signature"), "{v}");
    // A purpose header the signature does not cover.
    let mut h = good(&format!("/v1/enterprises/{ENT}"), "n9");
    h.push((httpsig::PURPOSE_HEADER.into(), "supervision".into()));
    let (s, v) = body_json(http_with(
        u,
        "GET",
        &format!("/v1/enterprises/{ENT}"),
        None,
        &h,
    ));
    assert_eq!((s, code(&v)), (401, "component_not_covered"), "{v}");
    assert!(height(u).is_some());
}

/// The clerk's story from the issue: without consent refused; the
/// enterprise signs one; the bank submits it and reads; the enterprise
/// revokes; refused again. The enterprise and the regulator see every
/// read in the query log; nobody else does.
#[test]
fn consent_sign_grant_query_revoke_and_the_query_log() {
    let _serial = serial();
    let dev = Dev::start();
    let ent_key = dev.enterprise_key(ENT);
    let ent_key = ent_key.to_str().unwrap();
    let (code_, v) = dev.submit(
        "bank-nanjing",
        &[
            "credit",
            "--enterprise",
            ENT,
            "--kind",
            "loan",
            "--reference",
            "NJ-贷-1",
            "--amount",
            "1,000,000",
            "--date",
            "2026-10-01",
            "--note",
            "保密备注 SECRET-NOTE",
        ],
    );
    assert_eq!(code_, 0, "{v}");
    let query = ["query", "enterprise", ENT, "--purpose", "loan_approval"];

    // No consent: refused, with how to get one, and nothing about the records.
    let (c, out, err) = dev.cli_as("bank-shanghai", &query);
    assert_eq!(c, 1, "{out}{err}");
    assert!(
        err.contains("consent_required") && err.contains("consent sign"),
        "{err}"
    );
    assert!(!err.contains("NJ-贷-1") && !out.contains("NJ-贷-1"));
    // The refusal for an enterprise with no records reads the same.
    let (_, _, err_other) = dev.cli_as(
        "bank-shanghai",
        &["query", "enterprise", OTHER, "--purpose", "loan_approval"],
    );
    assert_eq!(err.replace(ENT, "X"), err_other.replace(OTHER, "X"));
    // A registrar's key may not read credit records at all.
    let (c, _, err) = dev.cli_as("ipo-hangzhou", &query);
    assert_eq!(c, 1);
    assert!(err.contains("forbidden"), "{err}");

    // The enterprise signs a consent offline-style and hands over the file.
    let file = dev.dir.path().join("consent.json");
    let until = days_from_today(30);
    let (c, out, err) = dev.cli(&[
        "--json",
        "consent",
        "sign",
        "--enterprise-key",
        ent_key,
        "--grantee",
        "bank-shanghai",
        "--scope",
        "credit",
        "--purpose",
        "loan_approval",
        "--until",
        &until,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{out}{err}");
    let signed: Value = serde_json::from_str(out.trim()).unwrap();
    let consent_id = signed["consent_id"].as_str().unwrap().to_string();
    assert_eq!(signed["enterprise"], ENT);
    let (c, v) = dev.submit(
        "bank-shanghai",
        &["consent-grant", "--file", file.to_str().unwrap()],
    );
    assert_eq!((c, v["outcome"].as_str()), (0, Some("applied")), "{v}");
    // The same file again is refused by the ledger (one consent, one id).
    let (c, v) = dev.submit(
        "bank-hefei",
        &["consent-grant", "--file", file.to_str().unwrap()],
    );
    assert_eq!(c, 1, "{v}");

    let (c, out, err) = dev.cli_as("bank-shanghai", &query);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("NJ-贷-1"), "{out}");
    // Another purpose is not covered.
    let (c, _, err) = dev.cli_as(
        "bank-shanghai",
        &["query", "enterprise", ENT, "--purpose", "guarantee_review"],
    );
    assert_eq!(c, 1);
    assert!(err.contains("consent_required"), "{err}");
    // Another bank is not covered either.
    let (c, _, _) = dev.cli_as("bank-hefei", &query);
    assert_eq!(c, 1);
    // A consent that is not in force yet grants nothing.
    let later = dev.dir.path().join("later.json");
    let (c, out, err) = dev.cli(&[
        "consent",
        "sign",
        "--enterprise-key",
        ent_key,
        "--grantee",
        "bank-hefei",
        "--scope",
        "all",
        "--purpose",
        "loan_approval",
        "--not-before",
        &days_from_today(10),
        "--until",
        &days_from_today(40),
        "--out",
        later.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{out}{err}");
    let (c, v) = dev.submit(
        "bank-hefei",
        &["consent-grant", "--file", later.to_str().unwrap()],
    );
    assert_eq!(c, 0, "{v}");
    let (c, _, err) = dev.cli_as("bank-hefei", &query);
    assert_eq!(c, 1);
    assert!(err.contains("consent_required"), "{err}");
    // The consent as the grantee sees it.
    let (c, out, _) = dev.cli_as("bank-shanghai", &["consent", "show", &consent_id]);
    assert_eq!(c, 0);
    assert!(out.contains("ACTIVE"), "{out}");

    // The enterprise revokes it itself (no member needed).
    let (c, out, err) = dev.cli(&[
        "--json",
        "submit",
        "--wait",
        "consent-revoke",
        "--consent-id",
        &consent_id,
        "--enterprise-key",
        ent_key,
    ]);
    assert_eq!(c, 0, "{out}{err}");
    let (c, _, err) = dev.cli_as("bank-shanghai", &query);
    assert_eq!(c, 1);
    assert!(err.contains("consent_required"), "{err}");

    // The enterprise finds every consent it gave, and which are in force.
    let ent_pair = deltachain_client::load_key(&dev.enterprise_key(ENT)).unwrap();
    let list = get_as(
        &dev.url,
        &format!("/v1/enterprises/{ENT}/consents"),
        &ent_pair,
    )
    .unwrap();
    let list = list["consents"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(
        list.iter().all(|c| c["active"] == false),
        "one revoked, one not yet in force: {list:?}"
    );
    let (s, _) = body_json(http_signed(
        &dev.url,
        "GET",
        &format!("/v1/enterprises/{ENT}/consents"),
        None,
        &dev.keypair("bank-hefei"),
        None,
    ));
    assert_eq!(s, 403);

    // Own records need no consent, and show only one's own.
    let (c, out, _) = dev.cli_as(
        "bank-nanjing",
        &["--json", "query", "enterprise", ENT, "--own"],
    );
    assert_eq!(c, 0, "{out}");
    let own: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(own["total_credit_records"], 1);
    let (_, out, _) = dev.cli_as(
        "bank-shanghai",
        &["--json", "query", "enterprise", ENT, "--own"],
    );
    let own: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(own["total_credit_records"], 0);

    // The enterprise reads its own records and its query log.
    let ent_args = |extra: &[&str]| {
        let mut a = vec!["--key", ent_key];
        a.extend_from_slice(extra);
        dev.cli(&a)
    };
    let (c, out, err) = ent_args(&["query", "enterprise", ENT, "--purpose", "self_inquiry"]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("NJ-贷-1"), "{out}");
    let mut log = Value::Null;
    wait_for("the reads on chain", Duration::from_secs(20), || {
        let (c, out, _) = ent_args(&["--json", "query", "queries", ENT]);
        if c != 0 {
            return false;
        }
        log = serde_json::from_str(&out).unwrap();
        // One node ships in order: once the last read (the enterprise's
        // own) is on chain, every earlier one is.
        log["queries"]
            .as_array()
            .is_some_and(|q| q.iter().any(|e| e["purpose"] == "self_inquiry"))
    });
    let entries = log["queries"].as_array().unwrap();
    let has = |pred: &dyn Fn(&Value) -> bool| entries.iter().any(pred);
    assert!(has(&|q| q["requester_name"] == "bank-shanghai"
        && q["basis"]["consent"]["consent_id"] == consent_id.as_str()
        && q["outcome"] == "granted"
        && q["purpose"] == "loan_approval"));
    assert!(has(&|q| q["requester_name"] == "bank-shanghai"
        && q["outcome"]["refused"]["code"] == "consent_required"));
    assert!(has(
        &|q| q["requester_name"] == "bank-nanjing" && q["route"] == "own_records"
    ));
    assert!(entries
        .iter()
        .all(|q| q["serving_node_name"] == "validator dev"));
    // The table form.
    let (c, out, _) = ent_args(&["query", "queries", ENT]);
    assert_eq!(c, 0);
    assert!(
        out.contains("consent_required") && out.contains("bank-shanghai"),
        "{out}"
    );
    // Not for other banks; for the regulator, also by requester.
    let (c, _, err) = dev.cli_as("bank-hefei", &["query", "queries", ENT]);
    assert_eq!(c, 1);
    assert!(err.contains("forbidden"), "{err}");
    let shanghai = dev.keypair("bank-shanghai").public().to_hex();
    let (c, out, _) = dev.cli_as(
        "regulator",
        &["--json", "query", "queries", "--requester", &shanghai],
    );
    assert_eq!(c, 0);
    let by: Value = serde_json::from_str(&out).unwrap();
    assert!(by["queries"].as_array().unwrap().len() >= 3, "{by}");
}

/// What an unsigned or ordinary caller sees of blocks and events: headers
/// and its own receipts, never a record's content.
#[test]
fn blocks_and_events_leak_no_record_content() {
    let _serial = serial();
    let dev = Dev::start();
    let addr = dev.url.trim_start_matches("http://").to_string();
    // An unsigned subscriber, and one signed by another bank.
    let mut anon = std::net::TcpStream::connect(&addr).unwrap();
    anon.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(anon, "GET /v1/events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let other = dev.keypair("bank-hefei");
    let (headers, _) = signature_headers(&dev.url, "GET", "/v1/events", None, &other, None, 60);
    let mut signed = std::net::TcpStream::connect(&addr).unwrap();
    signed
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut req = format!("GET /v1/events HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    signed.write_all(req.as_bytes()).unwrap();

    let (c, v) = dev.submit(
        "bank-shanghai",
        &[
            "credit",
            "--enterprise",
            ENT,
            "--kind",
            "loan",
            "--reference",
            "SECRET-REF",
            "--amount",
            "5",
            "--date",
            "2026-10-01",
            "--note",
            "SECRET-NOTE",
        ],
    );
    assert_eq!(c, 0, "{v}");
    let height = v["height"].as_u64().unwrap();
    for s in [&mut anon, &mut signed] {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains(&format!("\"height\":{height}")) {
            let n = s.read(&mut buf).expect("events stream");
            assert!(n > 0, "stream closed");
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(!text.contains("SECRET"), "{text}");
        assert!(!text.contains("tx_hash"), "no receipt of others: {text}");
    }
    let tx = v["tx_hash"].as_str().unwrap();
    for path in [format!("/v1/blocks/{height}"), "/v1/blocks/latest".into()] {
        let (s, b) = http(&dev.url, "GET", &path, None).unwrap();
        assert_eq!(s, 200);
        let text = String::from_utf8_lossy(&b);
        assert!(!text.contains("SECRET") && !text.contains(tx), "{text}");
        assert!(
            text.contains("redacted") && text.contains("state_root"),
            "{text}"
        );
        // Another bank sees the header only, too.
        let v = get_as(&dev.url, &path, &other).unwrap();
        assert!(v.get("txs").is_none(), "{v}");
    }
    // Another bank cannot read the transaction; the sender and the
    // regulator can.
    let (s, v) = body_json(http_signed(
        &dev.url,
        "GET",
        &format!("/v1/txs/{tx}"),
        None,
        &other,
        None,
    ));
    assert_eq!((s, code(&v)), (403, "not_your_transaction"), "{v}");
    assert!(get_as(
        &dev.url,
        &format!("/v1/txs/{tx}"),
        &dev.keypair("bank-shanghai")
    )
    .is_some());
    // Even a regulator's whole block names the enterprise but not the
    // record: the content is read through the audited enterprise route.
    let full = get_as(
        &dev.url,
        &format!("/v1/blocks/{height}"),
        &dev.keypair("regulator"),
    )
    .unwrap();
    let text = full.to_string();
    assert!(text.contains(ENT) && text.contains("redacted"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
    // The reporter sees its own record in full.
    let own = get_as(
        &dev.url,
        &format!("/v1/txs/{tx}"),
        &dev.keypair("bank-shanghai"),
    )
    .unwrap();
    assert!(own.to_string().contains("SECRET-NOTE"), "{own}");
    // A validator's operator proves the transaction is committed without
    // seeing what it holds.
    let node_key = deltachain_client::load_key(&dev.dir.path().join("home/node.key")).unwrap();
    let proof = get_as(&dev.url, &format!("/v1/txs/{tx}/proof"), &node_key).unwrap();
    assert!(proof["tx"].is_null(), "{proof}");
    let seen = get_as(&dev.url, &format!("/v1/txs/{tx}"), &node_key).unwrap();
    assert!(!seen.to_string().contains("SECRET"), "{seen}");
    // A regulator reading that one transaction sees it, and the read is in
    // the enterprise's query log.
    let regulator = dev.keypair("regulator");
    let r = get_as(&dev.url, &format!("/v1/txs/{tx}"), &regulator).unwrap();
    assert!(r.to_string().contains("SECRET-NOTE"), "{r}");
    wait_for(
        "the regulator's read in the query log",
        Duration::from_secs(20),
        || {
            get_as(
                &dev.url,
                &format!("/v1/enterprises/{ENT}/queries"),
                &regulator,
            )
            .is_some_and(|v| {
                v["queries"]
                    .as_array()
                    .is_some_and(|q| q.iter().any(|e| e["route"] == "transaction"))
            })
        },
    );
}

/// Four validators: a read served by one node is in the query log on
/// another within seconds; a node killed right after answering sends its
/// entry after restart.
#[test]
fn the_query_trail_reaches_every_city_and_survives_kill_9() {
    let _serial = serial();
    let net = Net::generate(4, 0, 500);
    // Node 1 first ships only every 30 s, so that what it answers before
    // it is killed can reach the chain only from its outbox after restart.
    let set_interval = |ms: u64| {
        let path = net.home(1).join("config.toml");
        let cfg = std::fs::read_to_string(&path).unwrap();
        let cfg = cfg
            .lines()
            .map(|l| {
                if l.starts_with("ship_interval_ms") {
                    format!("ship_interval_ms = {ms}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(cfg.contains(&format!("ship_interval_ms = {ms}")), "{cfg}");
        std::fs::write(&path, cfg).unwrap();
    };
    set_interval(30_000);
    let mut nodes: Vec<NodeProc> = (0..4).map(|i| net.start(i)).collect();
    for i in 0..4 {
        wait_for("validators to commit", Duration::from_secs(60), || {
            height(&net.url(i)).is_some_and(|h| h >= 1)
        });
    }
    let regulator = net.keypair("regulator");
    let read = |i: usize, key: &Keypair, path: &str, purpose: Option<&str>| {
        body_json(http_signed(&net.url(i), "GET", path, None, key, purpose))
    };
    let log_has = |on: usize, pred: &dyn Fn(&Value) -> bool| {
        let (s, v) = read(
            on,
            &regulator,
            &format!("/v1/enterprises/{ENT}/queries"),
            None,
        );
        s == 200 && v["queries"].as_array().is_some_and(|q| q.iter().any(pred))
    };

    let (s, v) = read(
        0,
        &regulator,
        &format!("/v1/enterprises/{ENT}"),
        Some("supervision"),
    );
    assert_eq!(s, 200, "{v}");
    wait_for("node 0's entry on node 2", Duration::from_secs(15), || {
        log_has(2, &|q| {
            q["serving_node_name"] == "validator shanghai" && q["purpose"] == "supervision"
        })
    });

    // Answered by node 1, which dies at once; its entry is on disk.
    let bank = net.keypair("bank-nanjing");
    let (s, v) = read(1, &bank, &format!("/v1/enterprises/{ENT}?own=true"), None);
    assert_eq!(s, 200, "{v}");
    nodes[1].kill();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !log_has(0, &|q| q["route"] == "own_records"),
        "the entry cannot be on chain before its node is back"
    );
    set_interval(500);
    nodes[1] = net.start(1);
    wait_for(
        "node 1's entry after its restart",
        Duration::from_secs(40),
        || {
            log_has(3, &|q| {
                q["route"] == "own_records" && q["serving_node_name"] == "validator nanjing"
            })
        },
    );
}

/// With `[api] tls_cert`/`tls_key` the API speaks HTTPS only; the CLI
/// trusts the consortium's CA with `--ca` and signs as usual.
#[test]
fn https_with_a_private_ca() {
    let _serial = serial();
    let net = Net::generate(1, 0, 500);
    let home = net.home(0);
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(home.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(home.join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
    let cfg = std::fs::read_to_string(home.join("config.toml")).unwrap();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = cfg.replace(
        "[api]\n",
        &format!("[api]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n"),
    );
    std::fs::write(home.join("config.toml"), cfg).unwrap();
    let node = net.start(0);
    let https = net.url(0).replace("http://", "https://");
    let ca = home.join("cert.pem");
    let ca = ca.to_str().unwrap();
    wait_for("the HTTPS API", Duration::from_secs(30), || {
        cli(&["--node", &https, "--ca", ca, "status"]).0 == 0
    });
    // Without the CA the certificate is not trusted.
    let (c, _, err) = cli(&["--node", &https, "status"]);
    assert_eq!(c, 3, "{err}");
    // Plain HTTP to the TLS port gets no answer.
    assert!(height(&net.url(0)).is_none());
    // Metrics on their own plain-HTTP address, and only there.
    let metrics_url = format!("http://127.0.0.1:{metrics_port}");
    let (s, body) = http(&metrics_url, "GET", "/metrics", None).unwrap();
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&body).contains("deltachain_height"));
    assert_eq!(
        http(&metrics_url, "GET", "/v1/status", None).unwrap().0,
        404
    );
    // Signed reads work over TLS.
    let key = net.member_key("regulator");
    let (c, out, err) = cli(&[
        "--node",
        &https,
        "--ca",
        ca,
        "--key",
        key.to_str().unwrap(),
        "query",
        "enterprise",
        ENT,
        "--purpose",
        "supervision",
    ]);
    assert_eq!(c, 0, "{out}{err}");
    // A bad certificate file stops the node at startup, naming the field.
    drop(node);
    std::fs::write(home.join("cert.pem"), "not a certificate").unwrap();
    let node = std::process::Command::new(bin("deltachain-node"))
        .args(["run", "--home"])
        .arg(&home)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(node, Duration::from_secs(60));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tls_cert"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
