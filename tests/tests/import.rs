//! `deltachain import` against a real node: every row of a file with good,
//! bad and duplicate rows accounted for with its line number and reason;
//! the importer killed halfway and run again; the node killed halfway.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use deltachain_tests::*;
use serde_json::Value;

const ENT: &str = "91350100M000100Y43";

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

/// `n` good loan rows for `uscc` with references `prefix-i`.
fn loans(uscc: &str, prefix: &str, n: usize) -> String {
    let mut s = String::from("enterprise,kind,reference,amount,date,note\n");
    for i in 0..n {
        s.push_str(&format!(
            "{uscc},loan,{prefix}-{i},\"1,000.50\",2026-10-01,第{i}笔\n"
        ));
    }
    s
}

fn import(dev: &Dev, file: &std::path::Path) -> (i32, Value, String) {
    let (code, out, err) = dev.cli_as(
        "bank-nanjing",
        &["--json", "import", "--file", file.to_str().unwrap()],
    );
    let v = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    (code, v, err)
}

fn total_records(dev: &Dev, uscc: &str) -> u64 {
    let (code, out, err) = dev.cli_as(
        "regulator",
        &[
            "--json",
            "query",
            "enterprise",
            uscc,
            "--purpose",
            "supervision",
            "--limit",
            "1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<Value>(out.trim()).unwrap()["total_credit_records"]
        .as_u64()
        .unwrap()
}

#[test]
fn every_row_is_accounted_for_and_a_rerun_sends_nothing_twice() {
    let dev = Dev::start();
    let dir = tempfile::tempdir().unwrap();
    let mut csv = loans(ENT, "NJ-A", 40).into_bytes();
    // Each kind of bad row, on lines 42..48, and a duplicate of line 2.
    csv.extend_from_slice(
        "91350100M000I00Y43,loan,NJ-B-1,100,2026-10-01,bad code\n\
         91350100M000100Y43,loan,NJ-B-2,\"1,00\",2026-10-01,bad amount\n\
         91350100M000100Y43,loan,NJ-B-3,100,2026-13-01,bad date\n\
         91350100M000100Y43,lend,NJ-B-4,100,2026-10-01,unknown kind\n\
         91350100M000100Y43,loan,NJ-B-5,100\n"
            .as_bytes(),
    );
    csv.extend_from_slice(b"91350100M000100Y43,loan,NJ-B-6,100,2026-10-01,\xe4\xb8\n");
    csv.extend_from_slice(
        "91350100M000100Y43,loan,NJ-A-0,\"1,000.50\",2026-10-01,again\n".as_bytes(),
    );
    let file = write(dir.path(), "nanjing-2026-10.csv", &csv);
    let (code, v, err) = import(&dev, &file);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["rows"], 47, "{v}");
    assert_eq!(v["applied"], 40, "{v}");
    assert_eq!(v["refused"], 6, "{v}");
    assert_eq!(v["rejected"], 1, "{v}");
    let rejects =
        std::fs::read_to_string(dir.path().join("nanjing-2026-10.csv.rejects.csv")).unwrap();
    let lines: Vec<&str> = rejects.lines().collect();
    assert!(lines[0].starts_with("line,reason,enterprise"), "{rejects}");
    for (line, want) in [
        ("42", "position 13"),
        ("43", "misplaced comma"),
        ("44", "2026-13-01"),
        ("45", "unknown credit kind"),
        ("46", "4 columns, the header 6"),
        ("47", "not valid UTF-8"),
        ("48", "duplicate"),
    ] {
        let row = lines
            .iter()
            .find(|l| l.starts_with(&format!("{line},")))
            .unwrap_or_else(|| panic!("line {line} missing in\n{rejects}"));
        assert!(row.contains(want), "line {line}: {row}");
    }
    assert_eq!(total_records(&dev, ENT), 40);

    // The same file again: everything is known, nothing is sent.
    let (code, v, err) = import(&dev, &file);
    assert_eq!(code, 0, "{v} {err}");
    assert_eq!(v["from_earlier_run"], 41, "{v}");
    assert_eq!(
        (v["applied"].clone(), v["rejected"].clone()),
        (40.into(), 1.into())
    );
    assert_eq!(total_records(&dev, ENT), 40);

    // A changed file under the same state is refused, not mixed up.
    let mut changed = csv.clone();
    changed.extend_from_slice(b"91350100M000100Y43,loan,NJ-C-1,1,2026-10-01,\n");
    std::fs::write(&file, &changed).unwrap();
    let (code, _, err) = import(&dev, &file);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("interrupted import of another file"), "{err}");
}

#[test]
fn an_import_killed_halfway_or_a_node_killed_halfway_still_ends_complete() {
    let mut dev = Dev::start();
    let dir = tempfile::tempdir().unwrap();
    const ROWS: usize = 6_000;
    let file = write(dir.path(), "big.csv", loans(ENT, "HF", ROWS).as_bytes());
    let key = dev.key("bank-hefei");
    let spawn = || {
        Command::new(bin("deltachain"))
            .args([
                "--node",
                &dev.url,
                "--json",
                "--key",
                key.to_str().unwrap(),
                "import",
            ])
            .args([
                "--file",
                file.to_str().unwrap(),
                "--batch",
                "200",
                "--max-in-flight",
                "1000",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Kill the importer once part of the file is committed.
    let mut child = spawn();
    let log = dir.path().join("big.csv.import/receipts.log");
    wait_for(
        "part of the import to commit",
        Duration::from_secs(120),
        || std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() >= 500),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let part = total_records(&dev, ENT);
    assert!(part > 0 && part < ROWS as u64, "{part}");

    // Run again, and kill the node while it runs: the importer waits for
    // it and resubmits what its mempool lost.
    let child = spawn();
    wait_for(
        "more of the import to commit",
        Duration::from_secs(120),
        || total_records(&dev, ENT) > part + 500,
    );
    dev.kill_and_restart(Duration::from_secs(2));
    let out = finish(child, CLI_LIMIT);
    let v = json_success(&out);
    assert_eq!(v["rows"], ROWS as u64, "{v}");
    assert_eq!(v["applied"], ROWS as u64, "{v}");
    // Exactly once each: not even a duplicate was attempted.
    assert_eq!(v["rejected"], 0, "{v}");
    assert_eq!(total_records(&dev, ENT), ROWS as u64);
}

/// A network whose API answers but which commits nothing (two of four
/// validators down) does not keep the importer waiting forever: after
/// `--wait-node` seconds without a commit it stops, exit 4 (outcome
/// unknown), and a run once the network is back completes the file.
#[test]
fn an_import_to_a_network_that_commits_nothing_stops_and_resumes_later() {
    let _serial = serial();
    let net = Net::generate(4, 0, 200);
    let _up: Vec<NodeProc> = (0..2).map(|i| net.start(i)).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "stalled.csv", loans(ENT, "ST", 30).as_bytes());
    let key = net.member_key("bank-hefei");
    let url = net.url(0);
    let run = || {
        let child = Command::new(bin("deltachain"))
            .args(["--node", &url, "--json", "--key", key.to_str().unwrap()])
            .args([
                "import",
                "--file",
                file.to_str().unwrap(),
                "--wait-node",
                "5",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        finish(child, CLI_LIMIT)
    };
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("nothing was committed"), "{err}");

    let _rest: Vec<NodeProc> = (2..4).map(|i| net.start(i)).collect();
    let out = run();
    let v = json_success(&out);
    assert_eq!(v["applied"], 30, "{v}");
    assert_eq!(v["rejected"], 0, "{v}");
}
