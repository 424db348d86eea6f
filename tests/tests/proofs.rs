//! Answers about the present, checked against the validators' signatures
//! with the real CLI: an IP right's pledge (and its absence), an
//! enterprise's complete record list, a member, past heights, and a lying
//! node that the client catches.

use deltachain_tests::*;
use serde_json::Value;

const PATENT: &str = "ZL201710601862.3";
const ENT: &str = "91350100M000100Y43";

fn register(dev: &Dev) -> u64 {
    let (code, v) = dev.submit(
        "ipo-hangzhou",
        &[
            "ip-register",
            "--ip-id",
            PATENT,
            "--kind",
            "patent",
            "--title",
            "固态锂电池隔膜",
            "--owner",
            ENT,
            "--date",
            "2019-05-10",
        ],
    );
    assert_eq!((code, v["outcome"].as_str()), (0, Some("applied")), "{v}");
    v["height"].as_u64().unwrap()
}

fn pledge(dev: &Dev) -> u64 {
    let (code, v) = dev.submit(
        "bank-shanghai",
        &[
            "ip-pledge",
            "--ip-id",
            PATENT,
            "--amount",
            "5000000",
            "--contract",
            "PL-SH-2026-0042",
            "--until",
            "2030-06-30",
        ],
    );
    assert_eq!((code, v["outcome"].as_str()), (0, Some("applied")), "{v}");
    v["height"].as_u64().unwrap()
}

/// `deltachain verify enterprise ENT` as `who`, for `purpose`.
fn verify_enterprise(dev: &Dev, who: &str, purpose: &str) -> (i32, String, String) {
    let genesis = dev.genesis();
    dev.cli_as(
        who,
        &[
            "verify",
            "enterprise",
            ENT,
            "--genesis",
            genesis.to_str().unwrap(),
            "--purpose",
            purpose,
        ],
    )
}

fn credit(dev: &Dev, bank: &str, reference: &str) -> Value {
    let (code, v) = dev.submit(
        bank,
        &[
            "credit",
            "--enterprise",
            ENT,
            "--kind",
            "loan",
            "--reference",
            reference,
            "--amount",
            "8000000",
            "--date",
            "2026-01-15",
        ],
    );
    assert_eq!((code, v["outcome"].as_str()), (0, Some("applied")), "{v}");
    v
}

/// `verify ip` proves "no active pledge", then the pledge, a past height,
/// and the absence of an unregistered right; bad heights are refused.
#[test]
fn verify_ip_proves_pledges_absence_and_the_past() {
    let _serial = serial();
    let dev = Dev::start();
    let genesis = dev.genesis();
    let g = genesis.to_str().unwrap();
    let registered = register(&dev);

    let (code, out, err) = dev.cli_as("bank-hefei", &["verify", "ip", PATENT, "--genesis", g]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verified at height"), "{out}");
    assert!(
        out.contains(&format!("owner {ENT}, no active pledge")),
        "{out}"
    );
    assert!(out.contains("固态锂电池隔膜"), "{out}");

    let pledged = pledge(&dev);
    let (code, out, err) = dev.cli_as("bank-hefei", &["verify", "ip", PATENT, "--genesis", g]);
    assert_eq!(code, 0, "{out}{err}");
    let shanghai = dev.keypair("bank-shanghai").public().to_hex();
    assert!(
        out.contains(&format!("pledged to bank-shanghai ({shanghai})")),
        "{out}"
    );
    assert!(out.contains("until 2030-06-30"), "{out}");

    // The past: before the pledge the right was free.
    let before = (pledged - 1).max(registered).to_string();
    let (code, out, err) = dev.cli_as(
        "bank-hefei",
        &["verify", "ip", PATENT, "--genesis", g, "--height", &before],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("verified at height {before}:")),
        "{out}"
    );
    assert!(out.contains("no active pledge"), "{out}");

    // Absence is proven too.
    let (code, out, err) = dev.cli_as(
        "bank-hefei",
        &["--json", "verify", "ip", "SR-2026-000123", "--genesis", g],
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["registered"], false, "{v}");

    // Heights the node cannot prove are clear errors, not answers.
    let key = dev.keypair("bank-hefei");
    for (path, code) in [
        (format!("/v1/ip/{PATENT}?proof=true&height=0"), 400),
        (format!("/v1/ip/{PATENT}?proof=true&height=99999999"), 400),
        (format!("/v1/ip/{PATENT}?height=1"), 400),
        (format!("/v1/ip/{PATENT}?proof=maybe"), 400),
    ] {
        let (status, body) = http_signed(&dev.url, "GET", &path, None, &key, None).unwrap();
        assert_eq!(status, code, "{path}: {}", String::from_utf8_lossy(&body));
    }
    // Unsigned, a proof is refused like the read itself.
    let (status, _) = http(
        &dev.url,
        "GET",
        &format!("/v1/ip/{PATENT}?proof=true"),
        None,
    )
    .unwrap();
    assert_eq!(status, 401);
}

/// `verify enterprise` checks that the records shown are all of them,
/// corrections included; `verify member` proves membership and its absence.
#[test]
fn verify_enterprise_records_and_members() {
    let _serial = serial();
    let dev = Dev::start();
    let genesis = dev.genesis();
    let g = genesis.to_str().unwrap();
    let first = credit(&dev, "bank-shanghai", "SH-LN-2026-001");
    credit(&dev, "bank-nanjing", "NJ-LN-2025-311");
    let (code, v) = dev.submit(
        "bank-shanghai",
        &[
            "credit-correction",
            "--tx",
            first["tx_hash"].as_str().unwrap(),
            "--reason",
            "金额应为 7,500,000 元",
        ],
    );
    assert_eq!(code, 0, "{v}");
    credit(&dev, "bank-hefei", "HF-LN-2026-77");

    let (code, out, err) = verify_enterprise(&dev, "regulator", "supervision");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("has exactly 3 credit record(s), complete and unaltered"),
        "{out}"
    );
    assert!(out.contains("corrected"), "{out}");

    // The proven read is a read: it needs consent and lands in the query log.
    let (code, _, err) = verify_enterprise(&dev, "bank-hefei", "loan_approval");
    assert_ne!(code, 0);
    assert!(err.contains("consent"), "{err}");

    let shanghai = dev.keypair("bank-shanghai").public().to_hex();
    let (code, out, err) = dev.cli_as(
        "bank-hefei",
        &["verify", "member", &shanghai, "--genesis", g],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is member bank-shanghai with roles"), "{out}");
    let stranger = deltachain_protocol::Keypair::from_secret([77; 32])
        .public()
        .to_hex();
    let (code, out, err) = dev.cli_as(
        "bank-hefei",
        &["verify", "member", &stranger, "--genesis", g],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is not a member"), "{out}");

    // Another network's genesis trusts nothing here.
    let other = tempfile::tempdir().unwrap();
    let mut foreign: Value =
        serde_json::from_str(&std::fs::read_to_string(&genesis).unwrap()).unwrap();
    foreign["chain_id"] = Value::String("another-chain".into());
    let path = other.path().join("genesis.json");
    std::fs::write(&path, foreign.to_string()).unwrap();
    let (code, out, err) = dev.cli_as(
        "bank-hefei",
        &[
            "verify",
            "member",
            &shanghai,
            "--genesis",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("NOT VERIFIED"), "{err}");
}

/// A node that hides a pledge or drops a default record still has to show
/// genuine proofs, and `verify` catches the lie, naming it.
#[test]
fn a_node_that_hides_a_pledge_or_drops_a_record_is_caught() {
    let _serial = serial();
    let dev = Dev::start_with_env(&[("DELTACHAIN_TEST_LIE", "hide-pledge,drop-credit")]);
    let genesis = dev.genesis();
    let g = genesis.to_str().unwrap();
    register(&dev);
    pledge(&dev);
    credit(&dev, "bank-shanghai", "SH-LN-2026-001");
    credit(&dev, "bank-nanjing", "NJ-DEF-2026-002");

    let (code, out, err) = dev.cli_as("bank-hefei", &["verify", "ip", PATENT, "--genesis", g]);
    assert_eq!(code, 1, "the hidden pledge went unnoticed: {out}");
    assert!(err.contains("NOT VERIFIED"), "{err}");
    assert!(err.contains("value"), "{err}");

    let (code, out, err) = verify_enterprise(&dev, "regulator", "supervision");
    assert_eq!(code, 1, "the dropped record went unnoticed: {out}");
    assert!(
        err.contains("the chain holds 2 credit records") && err.contains("showed 1"),
        "{err}"
    );
}
