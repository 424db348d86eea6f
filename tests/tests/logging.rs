//! `--log-format json`: every line a node writes is one JSON object a log
//! shipper can take as it is.

use std::time::Duration;

use deltachain_tests::*;

#[test]
fn json_logs_are_one_object_a_line() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let base = free_base(1);
    let log = std::fs::File::create(dir.path().join("node.log")).unwrap();
    let mut child = std::process::Command::new(bin("deltachain-node"))
        .args(["--log-format", "json", "dev", "--home"])
        .arg(dir.path().join("home"))
        .args([
            "--api-port",
            &base.to_string(),
            "--p2p-port",
            &(base + 100).to_string(),
        ])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{base}");
    wait_for(
        "the node to commit a block",
        Duration::from_secs(30),
        || height(&url).is_some_and(|h| h >= 1),
    );
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(dir.path().join("node.log")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{text}");
    let mut committed = false;
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
        committed |= v["message"] == "committed block" && v["height"].is_u64();
    }
    assert!(
        committed,
        "a committed block with its height as a field:\n{text}"
    );
}
