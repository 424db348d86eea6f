//! Helpers for multi-node tests over real `deltachain-node` processes.
//!
//! A [`Net`] generates a testnet in a temporary directory with
//! `deltachain-node testnet`, starts nodes as child processes on free
//! loopback ports, and kills every process and removes the directory when
//! dropped, whatever the test's outcome.

#![forbid(unsafe_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod netns;

/// Path of a workspace binary (built by `cargo test --workspace`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace` (or `cargo build --workspace`) so the binaries are built",
        path.display()
    );
    path
}

static NEXT_BASE: AtomicU16 = AtomicU16::new(0);
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Multi-node tests take this lock so that only one network runs at a time
/// on a 2-core machine; a panicking test does not poison the others.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn ports_free(base: u16, count: u16) -> bool {
    (0..count).all(|i| {
        TcpListener::bind(("127.0.0.1", base + i)).is_ok()
            && TcpListener::bind(("127.0.0.1", base + 100 + i)).is_ok()
    })
}

/// A base port P such that P..P+count and P+100..P+100+count are free.
pub fn free_base(count: u16) -> u16 {
    let pid = std::process::id() as u16;
    loop {
        let slot = NEXT_BASE.fetch_add(1, Ordering::Relaxed);
        let base = 20_000 + ((pid.wrapping_mul(7) % 100) + slot * 3) % 150 * 200;
        if ports_free(base, count) {
            return base;
        }
    }
}

/// One running node process.
pub struct NodeProc {
    /// Home directory.
    pub home: PathBuf,
    /// API URL.
    pub url: String,
    child: Option<Child>,
}

impl NodeProc {
    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns how long the node took to exit.
    pub fn terminate(&mut self) -> Duration {
        let start = Instant::now();
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return start.elapsed();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        start.elapsed()
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `deltachain-node run --home home`, logging to `home/node.log`.
pub fn start_node(home: &Path, url: String) -> NodeProc {
    start_node_with_env(home, url, &[])
}

/// [`start_node`] with extra environment variables.
pub fn start_node_with_env(home: &Path, url: String, env: &[(&str, &str)]) -> NodeProc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.join("node.log"))
        .expect("log file");
    let child = Command::new(bin("deltachain-node"))
        .args(["run", "--home"])
        .arg(home)
        .env("RUST_LOG", "info,libp2p_gossipsub=error")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start deltachain-node");
    NodeProc {
        home: home.to_path_buf(),
        url,
        child: Some(child),
    }
}

/// A generated testnet.
pub struct Net {
    /// Temporary directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// Base port.
    pub base: u16,
    /// Validator count.
    pub validators: usize,
    /// Home names in port order (validators, then full nodes).
    pub names: Vec<String>,
}

impl Net {
    /// Generates `n` validators and `full` full nodes with a short idle block interval.
    pub fn generate(n: usize, full: usize, block_interval_ms: u64) -> Net {
        Net::generate_with(n, full, block_interval_ms, &[])
    }

    /// [`Net::generate`] with extra `deltachain-node testnet` arguments.
    pub fn generate_with(n: usize, full: usize, block_interval_ms: u64, extra: &[&str]) -> Net {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = free_base((n + full) as u16);
        let out = Command::new(bin("deltachain-node"))
            .args([
                "testnet",
                "--nodes",
                &n.to_string(),
                "--full-nodes",
                &full.to_string(),
                "--base-port",
                &base.to_string(),
            ])
            .args(extra)
            .args([
                "--block-interval-ms",
                &block_interval_ms.to_string(),
                "--out",
            ])
            .arg(dir.path())
            .output()
            .expect("run testnet");
        assert!(
            out.status.success(),
            "testnet failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cities = ["shanghai", "nanjing", "hangzhou", "hefei", "jiaxing"];
        let mut names: Vec<String> = (0..n)
            .map(|i| {
                cities
                    .get(i)
                    .map(|c| c.to_string())
                    .unwrap_or(format!("node{}", i + 1))
            })
            .collect();
        names.extend((0..full).map(|j| format!("full{}", j + 1)));
        Net {
            dir,
            base,
            validators: n,
            names,
        }
    }

    /// Home of node `i`.
    pub fn home(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.names[i])
    }

    /// API URL of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.base as usize + i)
    }

    /// Starts node `i`.
    pub fn start(&self, i: usize) -> NodeProc {
        start_node(&self.home(i), self.url(i))
    }

    /// A member key file.
    pub fn member_key(&self, name: &str) -> PathBuf {
        self.dir.path().join("members").join(format!("{name}.key"))
    }

    /// Genesis file.
    pub fn genesis(&self) -> PathBuf {
        self.dir.path().join("genesis.json")
    }

    /// A member's key.
    pub fn keypair(&self, name: &str) -> deltachain_protocol::Keypair {
        deltachain_client::load_key(&self.member_key(name)).unwrap()
    }
}

/// A plain HTTP/1.1 request over std, so tests need no HTTP tool on the
/// machine. Returns (status, body).
pub fn http(url: &str, method: &str, path: &str, body: Option<&[u8]>) -> Option<(u16, Vec<u8>)> {
    http_with(url, method, path, body, &[])
}

/// [`http`] with an RFC 9421 signature by `key` (and a signed purpose
/// header, if given), exactly as the client library signs.
pub fn http_signed(
    url: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    key: &deltachain_protocol::Keypair,
    purpose: Option<&str>,
) -> Option<(u16, Vec<u8>)> {
    let (headers, _) = signature_headers(url, method, path, body, key, purpose, 60);
    http_with(url, method, path, body, &headers)
}

/// The headers that sign a request: `signature-input`, `signature`, and
/// the purpose and content digest when present. Also returns the nonce.
pub fn signature_headers(
    url: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    key: &deltachain_protocol::Keypair,
    purpose: Option<&str>,
    validity: i64,
) -> (Vec<(String, String)>, String) {
    use deltachain_protocol::httpsig;
    static N: AtomicU16 = AtomicU16::new(0);
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(p) = purpose {
        headers.push((httpsig::PURPOSE_HEADER.into(), p.into()));
    }
    if let Some(b) = body.filter(|b| !b.is_empty()) {
        headers.push(("content-digest".into(), httpsig::content_digest(b)));
    }
    let (p, q) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let lookup = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let addr = url.trim_start_matches("http://");
    let req = httpsig::Request {
        method,
        authority: addr,
        path: p,
        query: q,
        header: &lookup,
    };
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let nonce = format!(
        "t{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        now
    );
    let sig = httpsig::sign(key, &req, &names, now, validity, &nonce).expect("sign");
    headers.push(("signature-input".into(), sig.signature_input));
    headers.push(("signature".into(), sig.signature));
    (headers, nonce)
}

/// [`http`] with extra request headers.
pub fn http_with(
    url: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(String, String)],
) -> Option<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let body = body.unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    // A node that refuses an oversized body answers and closes before it
    // has read it all; the answer is still there to read.
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, buf[split + 4..].to_vec()))
}

/// A signed GET returning JSON, or None unless the node answers 200.
pub fn get_as(url: &str, path: &str, key: &deltachain_protocol::Keypair) -> Option<Value> {
    let (status, body) = http_signed(url, "GET", path, None, key, None)?;
    if status != 200 {
        return None;
    }
    serde_json::from_slice(&body).ok()
}

/// GET returning JSON, or None if the node does not answer.
pub fn get(url: &str, path: &str) -> Option<Value> {
    let (status, body) = http(url, "GET", path, None)?;
    if status != 200 {
        return None;
    }
    serde_json::from_slice(&body).ok()
}

/// Height of a node, or None if unreachable.
pub fn height(url: &str) -> Option<u64> {
    get(url, "/v1/status").and_then(|v| v["height"].as_u64())
}

/// Block hash at a height.
pub fn block_hash(url: &str, h: u64) -> Option<String> {
    get(url, &format!("/v1/blocks/{h}")).and_then(|v| v["hash"].as_str().map(String::from))
}

/// Waits until `cond` holds, polling; panics with `what` on timeout.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// Asserts every node agrees on block hashes for heights 1..=upto.
pub fn assert_same_chain(urls: &[String], upto: u64) {
    for h in 1..=upto {
        let hashes: Vec<Option<String>> = urls.iter().map(|u| block_hash(u, h)).collect();
        let first = hashes[0]
            .clone()
            .unwrap_or_else(|| panic!("{} lacks block {h}", urls[0]));
        for (u, hash) in urls.iter().zip(&hashes) {
            assert_eq!(hash.as_ref(), Some(&first), "{u} disagrees at height {h}");
        }
    }
}

/// Runs the `deltachain` CLI; returns (exit code, stdout, stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    let child = Command::new(bin("deltachain"))
        .args(args)
        .env_remove("DELTACHAIN_NODE")
        .env_remove("DELTACHAIN_KEY")
        .env_remove("DELTACHAIN_CA")
        .env_remove("DELTACHAIN_PURPOSE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run deltachain");
    let out = finish(child, CLI_LIMIT);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Longest any one CLI call in a test may take: its own waits are shorter,
/// so reaching this is a hang, reported rather than waited on.
pub const CLI_LIMIT: Duration = Duration::from_secs(300);

/// Waits for a child whose stdout and stderr are piped, reading both as it
/// runs (a full pipe would block it). A child still running at `within`
/// is killed and the test fails with what it printed: a hang in a test
/// must end the run, not stall CI.
pub fn finish(mut child: std::process::Child, within: Duration) -> std::process::Output {
    use std::io::Read;
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = std::time::Instant::now() + within;
    let status = loop {
        match child.try_wait().expect("wait for child") {
            Some(status) => break Some(status),
            None if std::time::Instant::now() >= deadline => break None,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let killed = status.is_none();
    if killed {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait for child");
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    assert!(
        !killed,
        "child {} still running after {} s; killed. stdout:\n{}\nstderr:\n{}",
        child.id(),
        within.as_secs(),
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

/// A bank's signed repayment record for a fixed enterprise: the steady
/// load of the fault and chaos tests.
pub fn repayment(
    key: &deltachain_protocol::Keypair,
    chain: &str,
    nonce: u64,
    reference: &str,
) -> deltachain_protocol::SignedTransaction {
    use deltachain_protocol::*;
    Transaction {
        chain_id: chain.into(),
        sender: key.public(),
        nonce,
        payload: Payload::Credit(Credit {
            enterprise: "914403001922038216".into(),
            kind: CreditKind::Repayment,
            reference: reference.into(),
            amount_fen: Some(1_250_000),
            currency: "CNY".into(),
            date: Date::parse("2026-11-20").unwrap(),
            rating: None,
            note: Some("monthly instalment".into()),
        }),
    }
    .sign(key)
}

/// The JSON a CLI run printed, after checking it exited 0 (the failure
/// shows both of its outputs).
pub fn json_success(out: &std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// A single-validator `deltachain-node dev` network with the demo members,
/// killed and removed on drop.
pub struct Dev {
    /// Temporary directory holding the node's home.
    pub dir: tempfile::TempDir,
    /// API URL.
    pub url: String,
    child: std::process::Child,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dev {
    /// Starts the node and waits for its API.
    pub fn start() -> Dev {
        Dev::start_with_env(&[])
    }

    /// Starts the node with extra environment variables.
    pub fn start_with_env(env: &[(&str, &str)]) -> Dev {
        let dir = tempfile::tempdir().unwrap();
        let base = free_base(1);
        let url = format!("http://127.0.0.1:{base}");
        let child = Dev::spawn(dir.path(), base, env);
        wait_for("the dev node's API", Duration::from_secs(30), || {
            height(&url).is_some()
        });
        Dev { dir, url, child }
    }

    fn spawn(dir: &Path, base: u16, env: &[(&str, &str)]) -> std::process::Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("node.log"))
            .unwrap();
        std::process::Command::new(bin("deltachain-node"))
            .args(["dev", "--home"])
            .arg(dir.join("home"))
            .args([
                "--api-port",
                &base.to_string(),
                "--p2p-port",
                &(base + 100).to_string(),
            ])
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// True once the node's process has ended on its own.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// SIGKILLs the node and starts it again on the same home and ports;
    /// returns once its API answers.
    pub fn kill_and_restart(&mut self, down_for: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down_for);
        let base: u16 = self.url.rsplit(':').next().unwrap().parse().unwrap();
        self.child = Dev::spawn(self.dir.path(), base, &[]);
        let url = self.url.clone();
        wait_for(
            "the dev node's API after a restart",
            Duration::from_secs(60),
            || height(&url).is_some(),
        );
    }

    /// A demo member's key file.
    pub fn key(&self, member: &str) -> PathBuf {
        self.dir
            .path()
            .join("home/members")
            .join(format!("{member}.key"))
    }

    /// A demo member's key.
    pub fn keypair(&self, member: &str) -> deltachain_protocol::Keypair {
        deltachain_client::load_key(&self.key(member)).unwrap()
    }

    /// The genesis file.
    pub fn genesis(&self) -> PathBuf {
        self.dir.path().join("home/genesis.json")
    }

    /// A demo enterprise's key file.
    pub fn enterprise_key(&self, uscc: &str) -> PathBuf {
        self.key(&format!("enterprise-{uscc}"))
    }

    /// Runs `deltachain --node URL --key <member's key> <args>`.
    pub fn cli_as(&self, member: &str, args: &[&str]) -> (i32, String, String) {
        let key = self.key(member);
        let mut all = vec!["--key", key.to_str().unwrap()];
        all.extend_from_slice(args);
        self.cli(&all)
    }

    /// Runs `deltachain --node URL <args>`.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["--node", &self.url];
        all.extend_from_slice(args);
        cli(&all)
    }

    /// Submits with `--json --wait` as `member`; returns the exit code and the JSON answer.
    pub fn submit(&self, member: &str, args: &[&str]) -> (i32, Value) {
        let key = self.key(member);
        let mut all = vec!["--json", "submit", "--key", key.to_str().unwrap(), "--wait"];
        all.extend_from_slice(args);
        let (code, out, err) = self.cli(&all);
        let v =
            serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("not JSON: {out} / {err}"));
        (code, v)
    }
}
