//! The chaos soak: a testnet under steady load from three banks while, at
//! random, validators are SIGKILLed and restarted and (as root, in network
//! namespaces) cut off from their peers. At the end every node has the
//! same blocks and state root at the same height, every transaction a node
//! acknowledged as committed is in the chain exactly once, and each node's
//! stored state passes `deltachain-node audit`.
//!
//! `DELTACHAIN_CHAOS_SECS` sets the length (default 120, what CI runs);
//! `scripts/chaos.sh --minutes N` runs it on release binaries.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deltachain_protocol::*;
use deltachain_tests::netns::{self, Netns};
use deltachain_tests::*;

fn submit(url: &str, tx: &SignedTransaction) -> Option<u16> {
    let body = format!("{{\"tx\": \"{}\"}}", hex::encode(tx.encode()));
    http(url, "POST", "/v1/txs", Some(body.as_bytes())).map(|(s, _)| s)
}

fn committed_at(url: &str, h: &Hash, key: &Keypair) -> Option<(u64, u64)> {
    let v = get_as(url, &format!("/v1/txs/{h}"), key)?;
    (v["status"] == "committed")
        .then(|| (v["height"].as_u64().unwrap(), v["index"].as_u64().unwrap()))
}

/// The validators, on localhost or each in its own network namespace.
enum Cluster {
    Local {
        net: Net,
        nodes: Vec<Option<NodeProc>>,
    },
    // The namespaces (and their processes) go before the network's
    // directory is removed.
    Namespaced {
        ns: Netns,
        net: Net,
    },
}

impl Cluster {
    fn net(&self) -> &Net {
        match self {
            Cluster::Local { net, .. } | Cluster::Namespaced { net, .. } => net,
        }
    }
    fn url(&self, i: usize) -> String {
        match self {
            Cluster::Local { net, .. } => net.url(i),
            Cluster::Namespaced { .. } => netns::api(i),
        }
    }
    fn start(&mut self, i: usize) {
        match self {
            Cluster::Local { net, nodes } => nodes[i] = Some(net.start(i)),
            Cluster::Namespaced { net, ns } => ns.start(i, &net.home(i)),
        }
    }
    fn kill(&mut self, i: usize) {
        match self {
            Cluster::Local { nodes, .. } => {
                if let Some(mut n) = nodes[i].take() {
                    n.kill();
                }
            }
            Cluster::Namespaced { ns, .. } => ns.kill(i),
        }
    }
    /// Cuts `alone` off from the others (namespaces only).
    fn split(&self, alone: &[usize]) -> bool {
        match self {
            Cluster::Namespaced { ns, .. } => {
                ns.split(alone);
                true
            }
            Cluster::Local { .. } => false,
        }
    }
    fn stop_all(&mut self, n: usize) {
        match self {
            Cluster::Local { nodes, .. } => {
                for node in nodes.iter_mut().flatten() {
                    node.terminate();
                }
            }
            Cluster::Namespaced { ns, .. } => {
                for i in 0..n {
                    ns.kill(i);
                }
            }
        }
    }
}

/// A small deterministic generator: the run prints its seed, and
/// `DELTACHAIN_CHAOS_SEED` replays the same sequence of faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn chaos_under_load_ends_consistent() {
    let _serial = serial();
    let secs: u64 = std::env::var("DELTACHAIN_CHAOS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let seed: u64 = std::env::var("DELTACHAIN_CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    let mut rng = Rng(seed);

    // Five validators in namespaces when partitions are possible (a 4/1
    // split keeps a quorum), four on localhost otherwise.
    let namespaced = netns::available();
    let n = if namespaced { 5 } else { 4 };
    let net = Net::generate(n, 0, 150);
    let mut cluster = if namespaced {
        netns::move_into_namespaces(&net, n);
        Cluster::Namespaced {
            ns: Netns::setup(n),
            net,
        }
    } else {
        Cluster::Local {
            net,
            nodes: (0..n).map(|_| None).collect(),
        }
    };
    eprintln!(
        "chaos: {secs} s, seed {seed}, {n} validators{}",
        if namespaced {
            " in network namespaces (kills and partitions)"
        } else {
            " on localhost (kills only; partitions need root)"
        }
    );
    for i in 0..n {
        cluster.start(i);
    }
    let urls: Vec<String> = (0..n).map(|i| cluster.url(i)).collect();
    wait_for("the network to start", Duration::from_secs(60), || {
        urls.iter().all(|u| height(u).is_some_and(|h| h >= 2))
    });
    let chain = get(&urls[0], "/v1/status").unwrap()["chain_id"]
        .as_str()
        .unwrap()
        .to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let mut loaders = Vec::new();
    for (b, bank) in ["bank-shanghai", "bank-nanjing", "bank-hefei"]
        .into_iter()
        .enumerate()
    {
        let key = cluster.net().keypair(bank);
        let urls = urls.clone();
        let chain = chain.clone();
        let stop = stop.clone();
        loaders.push(std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            let mut nonce = 1u64;
            let mut pick = b;
            while !stop.load(Ordering::Relaxed) {
                let tx = repayment(&key, &chain, nonce, &format!("R-{b}-{nonce}"));
                let h = tx.hash();
                // Submit, and resubmit the same bytes elsewhere until some
                // node reports it committed.
                let deadline = Instant::now() + Duration::from_secs(90);
                let mut done = None;
                while done.is_none() && Instant::now() < deadline {
                    pick += 1;
                    let url = &urls[pick % urls.len()];
                    submit(url, &tx);
                    let wait_until = Instant::now() + Duration::from_secs(3);
                    while Instant::now() < wait_until {
                        if let Some(at) = committed_at(url, &h, &key) {
                            done = Some(at);
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                match done {
                    Some(_) => {
                        acknowledged.push(h);
                        nonce += 1;
                    }
                    None => {
                        return Err(format!("transaction {h} from bank {b} was never committed"))
                    }
                }
            }
            Ok(acknowledged)
        }));
    }

    let start = Instant::now();
    let (mut kills, mut splits) = (0, 0);
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(1_500 + rng.below(3_000)));
        let victim = rng.below(n as u64) as usize;
        if namespaced && rng.below(3) == 0 {
            // One validator cut off for a while; the others keep a quorum.
            cluster.split(&[victim]);
            splits += 1;
            std::thread::sleep(Duration::from_millis(2_000 + rng.below(6_000)));
            cluster.split(&[]);
        } else {
            cluster.kill(victim);
            kills += 1;
            std::thread::sleep(Duration::from_millis(500 + rng.below(2_500)));
            cluster.start(victim);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged: Vec<Hash> = Vec::new();
    for l in loaders {
        match l.join().expect("loader thread") {
            Ok(a) => acknowledged.extend(a),
            Err(e) => panic!("{e} (seed {seed})"),
        }
    }
    // One fault takes 2–13 s with the pause before it (about 6.5 s on
    // average, more when restarts are slow), so a run of `secs` seconds
    // makes about secs/6.5 of them; the bound only makes sure faults did
    // happen, with room for a seed that draws many long partitions.
    assert!(
        kills + splits >= secs / 12,
        "too few faults: {kills} kills, {splits} splits (seed {seed})"
    );
    assert!(
        acknowledged.len() as u64 > secs / 3,
        "the load made too little progress: {} in {secs} s (seed {seed})",
        acknowledged.len()
    );

    let top = urls.iter().filter_map(|u| height(u)).max().unwrap();
    wait_for(
        "every node to reach the same height",
        Duration::from_secs(90),
        || urls.iter().all(|u| height(u).is_some_and(|h| h >= top)),
    );
    assert_same_chain(&urls, top);
    let roots: BTreeSet<String> = urls
        .iter()
        .map(|u| {
            get(u, &format!("/v1/blocks/{top}")).unwrap()["header"]["state_root"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        roots.len(),
        1,
        "state roots differ at height {top} (seed {seed})"
    );

    // Exactly once: scan the chain (whole blocks: a regulator's read).
    let regulator = cluster.net().keypair("regulator");
    let mut seen = BTreeSet::new();
    for h in 1..=top {
        let b = get_as(&urls[0], &format!("/v1/blocks/{h}"), &regulator).unwrap();
        for t in b["txs"].as_array().unwrap() {
            let hash = t["tx_hash"].as_str().unwrap().to_string();
            assert!(
                seen.insert(hash.clone()),
                "transaction {hash} is in the chain twice"
            );
        }
    }
    for h in &acknowledged {
        assert!(
            seen.contains(&h.to_hex()),
            "acknowledged transaction {h} is not in the chain (seed {seed})"
        );
    }
    eprintln!(
        "chaos: {kills} kills and {splits} partitions in {secs} s; {} acknowledged transactions, all in the chain once; {n} nodes identical up to height {top}",
        acknowledged.len()
    );

    // Each node's stored state tree gives its tip's root, and so does a
    // tree rebuilt from its stored state, after replaying the chain.
    cluster.stop_all(n);
    for i in 0..n {
        let child = std::process::Command::new(bin("deltachain-node"))
            .args(["audit", "--home"])
            .arg(cluster.net().home(i))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = finish(child, Duration::from_secs(600));
        assert!(
            out.status.success(),
            "audit of node {i} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
