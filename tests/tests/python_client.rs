//! The Python client (`client/python`, written from docs/SPEC.md) against
//! a live dev node: its vector tests, then submit, signed reads, consent,
//! receivables and proof verification; then every answer checked against
//! the node's /v1/openapi.json. CI installs python3's `cryptography` and
//! `jsonschema`; without them this test fails and says so.

use std::process::{Command, Stdio};

use deltachain_tests::*;

fn python(args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../client/python");
    let child = Command::new("python3")
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (CI installs it)");
    let out = finish(child, CLI_LIMIT);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_python_client_passes_the_vectors_and_works_against_a_live_node() {
    let (ok, out) = python(&["-c", "import cryptography"], &[]);
    assert!(
        ok,
        "the Python client needs the `cryptography` package: python3 -m pip install cryptography\n{out}"
    );
    let (ok, out) = python(&["-m", "unittest", "-v", "tests/test_vectors.py"], &[]);
    assert!(ok, "{out}");

    let dev = Dev::start();
    let home = dev.dir.path().join("home");
    let (ok, out) = python(
        &["-m", "unittest", "-v", "tests/test_live.py"],
        &[
            ("DELTACHAIN_NODE", &dev.url),
            ("DELTACHAIN_HOME", home.to_str().unwrap()),
        ],
    );
    assert!(ok, "{out}");
    assert!(!out.contains("skipped"), "{out}");

    // Every answer, to every kind of caller and input, matches the node's
    // own /v1/openapi.json (JSON Schema 2020-12, with `jsonschema`).
    let (ok, out) = python(&["-c", "import jsonschema"], &[]);
    assert!(
        ok,
        "the OpenAPI conformance test needs the `jsonschema` package: python3 -m pip install jsonschema\n{out}"
    );
    let (ok, out) = python(
        &["-m", "unittest", "-v", "tests/test_openapi.py"],
        &[
            ("DELTACHAIN_NODE", &dev.url),
            ("DELTACHAIN_HOME", home.to_str().unwrap()),
        ],
    );
    assert!(ok, "{out}");
    assert!(!out.contains("skipped"), "{out}");
}
