//! The `deltachain` CLI as a user meets it before any node is involved:
//! key files, input checked before anything is sent, and the documented
//! exit codes (0 ok, 1 rejected, 2 usage, 3 unreachable).
//!
//! Having integration tests here also makes `cargo test --workspace` build
//! the `deltachain` binary, which the multi-node tests in `tests/` drive.

use std::path::Path;
use std::process::{Command, Output};

/// A port nothing listens on: connecting is refused at once.
const DEAD_NODE: &str = "http://127.0.0.1:1";
const USCC: &str = "91310000MA1FL0000N";

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deltachain"))
        .args(["--node", DEAD_NODE])
        .args(args)
        .env_remove("DELTACHAIN_NODE")
        .env_remove("DELTACHAIN_KEY")
        .env_remove("DELTACHAIN_CA")
        .env_remove("DELTACHAIN_PURPOSE")
        .output()
        .expect("run deltachain")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A user-facing failure is one line starting `error:`, never a panic.
fn assert_clean_error(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(err.starts_with("error: "), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
    assert!(!err.contains("RUST_BACKTRACE"), "stderr: {err}");
}

fn credit(key: &Path, enterprise: &str, date: &str) -> Output {
    run(&[
        "submit",
        "--key",
        key.to_str().unwrap(),
        "credit",
        "--enterprise",
        enterprise,
        "--kind",
        "loan",
        "--reference",
        "SH-LOAN-2026-0001",
        "--amount",
        "1500000.50",
        "--date",
        date,
    ])
}

#[test]
fn keygen_writes_a_private_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("bank.key");
    let out = run(&["--json", "keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "stderr: {}", stderr(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let public = shown["public_key"].as_str().unwrap();
    assert_eq!(public.len(), 64);
    assert!(public.bytes().all(|b| b.is_ascii_hexdigit()));

    let loaded = deltachain_client::load_key(&key).unwrap();
    assert_eq!(hex::encode(loaded.public().0), public);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    }

    // A second keygen must not overwrite a member's identity.
    let before = std::fs::read(&key).unwrap();
    let again = run(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(code(&again), 2);
    assert_clean_error(&again, "cannot create key file");
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("bank.key");
    assert_eq!(code(&run(&["keygen", "--out", key.to_str().unwrap()])), 0);

    // Exit 2, not 3: the node (unreachable here) was never contacted.
    let out = credit(&key, "91310000MA1FL0000X", "2026-03-01");
    assert_eq!(code(&out), 2);
    assert_clean_error(&out, "GB 32100-2015 gives 'N'");

    let out = credit(&key, USCC, "2026-02-30");
    assert_eq!(code(&out), 2);
    assert_clean_error(&out, "--date");

    let missing = dir.path().join("missing.key");
    let out = credit(&missing, USCC, "2026-03-01");
    assert_eq!(code(&out), 2);
    assert_clean_error(&out, "cannot read key file");

    let garbage = dir.path().join("garbage.key");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let out = credit(&garbage, USCC, "2026-03-01");
    assert_eq!(code(&out), 2);
    assert_clean_error(&out, "64 hex characters");

    let out = run(&["tx", "00ff"]);
    assert_eq!(code(&out), 2);
    assert_clean_error(&out, "64 lowercase hex");

    let out = run(&["query", "ip", "ZL201710601862.9"]);
    assert_eq!(code(&out), 2);
    assert_clean_error(&out, "check digit");

    let out = run(&["no-such-command"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn an_unreachable_node_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("bank.key");
    assert_eq!(code(&run(&["keygen", "--out", key.to_str().unwrap()])), 0);

    for out in [
        run(&["status"]),
        run(&["query", "enterprise", USCC, "--purpose", "loan_approval"]),
        credit(&key, USCC, "2026-03-01"),
    ] {
        assert_eq!(code(&out), 3, "stderr: {}", stderr(&out));
        assert_clean_error(&out, "cannot reach the node at http://127.0.0.1:1");
    }
}

/// An enterprise can sign a consent on a machine that reaches no node; the
/// file is a signed consent the ledger will check.
#[test]
fn a_consent_is_signed_offline() {
    let dir = tempfile::tempdir().unwrap();
    let ent = dir.path().join(format!("enterprise-{USCC}.key"));
    let bank = dir.path().join("bank.key");
    assert_eq!(code(&run(&["keygen", "--out", ent.to_str().unwrap()])), 0);
    let out = run(&["--json", "keygen", "--out", bank.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let grantee = v["public_key"].as_str().unwrap().to_string();
    let file = dir.path().join("consent.json");
    let args = |until: &str| {
        vec![
            "consent".to_string(),
            "sign".into(),
            "--enterprise-key".into(),
            ent.to_str().unwrap().into(),
            "--grantee".into(),
            grantee.clone(),
            "--scope".into(),
            "credit".into(),
            "--purpose".into(),
            "loan_approval".into(),
            "--not-before".into(),
            "2026-12-01".into(),
            "--until".into(),
            until.into(),
            "--chain-id".into(),
            "deltachain-test".into(),
            "--out".into(),
            file.to_str().unwrap().into(),
        ]
    };
    fn refs(a: &[String]) -> Vec<&str> {
        a.iter().map(|s| s.as_str()).collect()
    }
    let too_long = args("2028-01-01");
    let out = run(&refs(&too_long));
    assert_eq!(code(&out), 2);
    assert_clean_error(&out, "at most 366 days");
    let ok = args("2027-06-30");
    let out = run(&refs(&ok));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let signed: deltachain_protocol::SignedConsent =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(signed.consent.enterprise, USCC);
    let key = deltachain_client::load_key(&ent).unwrap();
    signed.verify(&key.public()).unwrap();
    // It refuses to overwrite.
    let out = run(&refs(&ok));
    assert_eq!(code(&out), 2);
    assert_clean_error(&out, "cannot create");
}
