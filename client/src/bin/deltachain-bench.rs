//! `deltachain-bench`: a load generator for a running Deltachain network.
//!
//! It registers a set of bench members (signed by the regulator key),
//! pre-signs realistic transactions (credit records for many distinct
//! enterprises with valid USCCs, patent registrations with valid check
//! digits, and pledges of those patents), submits them through the batch API
//! at an open-loop target rate or as fast as the network admits, follows
//! `/v1/events` to see each one committed, and prints one JSON summary as
//! the last line of standard output.
//!
//! `--import` submits credit records only, as fast as possible: the bulk
//! import of historic records a city brings when it joins.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use deltachain_client::Client;
use deltachain_protocol::validate::{patent_check_digit, uscc_check_char};
use deltachain_protocol::*;
use futures::StreamExt;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    name = "deltachain-bench",
    about = "Load generator for a Deltachain network"
)]
struct Args {
    /// Node API URLs, comma-separated; batches go round-robin.
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    nodes: String,
    /// The regulator's key file: registers the bench members and signs
    /// every request (with --query, reads under the purpose `supervision`).
    #[arg(long)]
    regulator_key: Option<std::path::PathBuf>,
    /// Transactions to submit.
    #[arg(long, default_value_t = 20_000)]
    txs: usize,
    /// Target rate in transactions per second (0 = as fast as admitted).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Number of bench member keys (senders).
    #[arg(long, default_value_t = 64)]
    senders: usize,
    /// Transactions per batch request.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Credit records only (bulk import).
    #[arg(long)]
    import: bool,
    /// Most transactions submitted but not yet committed, over all senders
    /// (0: only the per-sender window and the nodes' mempools limit it).
    /// Keeps a bulk import from parking the whole backlog in every mempool.
    #[arg(long, default_value_t = 0)]
    max_in_flight: usize,
    /// Seconds to wait for commits after the last submission.
    #[arg(long, default_value_t = 120)]
    drain_secs: u64,
    /// PID:DATA_DIR of a node to report peak RSS and disk bytes for (repeatable).
    #[arg(long)]
    node_proc: Vec<String>,
    /// Print progress to stderr.
    #[arg(long)]
    progress: bool,
    /// Instead of submitting, run this many enterprise and IP queries
    /// (ids taken from recent blocks) with 8 concurrent clients and report
    /// their latency.
    #[arg(long)]
    query: Option<usize>,
}

/// splitmix64, so runs are repeatable for a seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

const USCC_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

fn uscc(rng: &mut Rng) -> String {
    // Registration authority 9 (industry & commerce), type 1 (enterprise),
    // a real division code, then a random organisation code.
    let divisions = ["310000", "320100", "330100", "340100", "330400"];
    let mut s = format!("91{}", divisions[(rng.next() % 5) as usize]);
    for _ in 0..9 {
        s.push(USCC_CHARS[(rng.next() % 31) as usize] as char);
    }
    let c = uscc_check_char(&s).expect("valid charset");
    s.push(c);
    s
}

fn patent(serial: u64) -> String {
    let digits = format!(
        "2024{}{:07}",
        [1, 2, 3][(serial % 3) as usize],
        serial % 10_000_000
    );
    format!(
        "ZL{digits}.{}",
        patent_check_digit(&digits).expect("digits")
    )
}

fn ceiling(validators: usize) -> (f64, f64, f64) {
    let keys: Vec<Keypair> = (0..64u8)
        .map(|i| Keypair::from_secret([i + 1; 32]))
        .collect();
    let bodies: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 200]).collect();
    let sigs: Vec<Signature> = keys
        .iter()
        .zip(&bodies)
        .map(|(k, b)| k.sign(Domain::Tx, "bench", b))
        .collect();
    let pubs: Vec<PublicKey> = keys.iter().map(|k| k.public()).collect();
    let start = Instant::now();
    let mut single = 0u64;
    while start.elapsed() < Duration::from_millis(700) {
        for i in 0..64 {
            crypto::verify(&pubs[i], Domain::Tx, "bench", &bodies[i], &sigs[i]).expect("valid");
        }
        single += 64;
    }
    let single_rate = single as f64 / start.elapsed().as_secs_f64();
    let items: Vec<crypto::BatchItem> = (0..64)
        .map(|i| crypto::BatchItem {
            key: &pubs[i],
            domain: Domain::Tx,
            chain_id: "bench",
            body: &bodies[i],
            signature: &sigs[i],
        })
        .collect();
    let start = Instant::now();
    let mut batched = 0u64;
    while start.elapsed() < Duration::from_millis(700) {
        assert!(crypto::verify_batch(&items).iter().all(|r| r.is_ok()));
        batched += 64;
    }
    let batch_rate = batched as f64 / start.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    (
        single_rate,
        batch_rate,
        cores * single_rate.max(batch_rate) / validators.max(1) as f64,
    )
}

fn proc_stats(spec: &str) -> Value {
    let (pid, dir) = spec.split_once(':').unwrap_or((spec, ""));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |field: &str| {
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    fn du(p: &std::path::Path) -> u64 {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => du(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    json!({"pid": pid, "peak_rss_bytes": kb("VmHWM:") * 1024, "rss_bytes": kb("VmRSS:") * 1024, "disk_bytes": du(std::path::Path::new(dir))})
}

#[derive(Default)]
struct Track {
    submitted_at: BTreeMap<Hash, (Instant, usize)>,
    latencies_ms: Vec<f64>,
    commit_times: Vec<Instant>,
    outstanding: Vec<usize>,
    committed: usize,
    rejected: usize,
    blocks: usize,
    block_txs: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    (sorted[i] * 10.0).round() / 10.0
}

async fn follow_events(client: Client, track: Arc<Mutex<Track>>) {
    let resp = match client.events().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot subscribe to {}/v1/events: {e}", client.url());
            return;
        }
    };
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        for v in deltachain_client::sse_events(&mut buf, &chunk) {
            let now = Instant::now();
            let mut t = track.lock().expect("track lock");
            let receipts = v["receipts"].as_array().cloned().unwrap_or_default();
            t.blocks += 1;
            t.block_txs += receipts.len();
            for r in receipts {
                let Some(h) = r["tx_hash"].as_str().and_then(|h| Hash::from_hex(h).ok()) else {
                    continue;
                };
                if let Some((at, sender)) = t.submitted_at.remove(&h) {
                    t.latencies_ms
                        .push(now.duration_since(at).as_secs_f64() * 1000.0);
                    t.commit_times.push(now);
                    t.committed += 1;
                    t.outstanding[sender] = t.outstanding[sender].saturating_sub(1);
                    if r["outcome"] == "rejected" {
                        t.rejected += 1;
                    }
                }
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("error: {e}");
        std::process::exit(match e {
            deltachain_client::ClientError::Unreachable { .. } => 3,
            deltachain_client::ClientError::Input(_) => 2,
            _ => 1,
        });
    }
}

async fn query_bench(client: &Client, n: usize) -> Result<Value, deltachain_client::ClientError> {
    // Collect real ids from the newest blocks.
    let tip = client.status().await?.height;
    let (mut enterprises, mut ips) = (Vec::new(), Vec::new());
    let mut h = tip;
    while h > 0 && (enterprises.len() < 500 || ips.len() < 200) && tip - h < 400 {
        let b = client.block(&h.to_string()).await?;
        for t in b["txs"].as_array().cloned().unwrap_or_default() {
            let p = &t["payload"];
            if let Some(e) = p["credit"]["enterprise"].as_str() {
                enterprises.push(e.to_string());
            }
            if let Some(i) = p["ip_register"]["ip_id"].as_str() {
                ips.push(i.to_string());
            }
        }
        h -= 1;
    }
    enterprises.sort();
    enterprises.dedup();
    let mut out = serde_json::Map::new();
    for (kind, ids) in [("enterprise", enterprises), ("ip", ips)] {
        if ids.is_empty() {
            continue;
        }
        let ids = Arc::new(ids);
        let started = Instant::now();
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let client = client.clone();
                let ids = ids.clone();
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    for i in (w..n).step_by(8) {
                        let id = &ids[i % ids.len()];
                        let t = Instant::now();
                        let r = if kind == "enterprise" {
                            client
                                .enterprise(id, deltachain_protocol::Purpose::Supervision, 0, 20)
                                .await
                        } else {
                            client.ip(id).await
                        };
                        if r.is_ok() {
                            lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                    lat
                })
            })
            .collect();
        let mut lat = Vec::new();
        for w in workers {
            lat.extend(w.await.unwrap_or_default());
        }
        let secs = started.elapsed().as_secs_f64();
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        out.insert(
            kind.to_string(),
            json!({"queries": lat.len(), "distinct_ids": ids.len(), "qps": (lat.len() as f64 / secs).round(),
                "p50_ms": percentile(&lat, 0.5), "p99_ms": percentile(&lat, 0.99), "max_ms": lat.last().copied().unwrap_or(0.0)}),
        );
    }
    out.insert("height".into(), json!(tip));
    Ok(Value::Object(out))
}

async fn run(args: Args) -> Result<(), deltachain_client::ClientError> {
    let urls: Vec<String> = args
        .nodes
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let regulator_key = args.regulator_key.as_deref().ok_or_else(|| {
        deltachain_client::ClientError::Input(
            "--regulator-key is required: it registers the bench members and signs every request"
                .into(),
        )
    })?;
    let regulator = deltachain_client::load_key(regulator_key)?;
    let clients: Vec<Client> = urls
        .iter()
        .map(|u| Client::new(u).map(|c| c.with_key(regulator.clone())))
        .collect::<Result<_, _>>()?;
    if let Some(n) = args.query {
        println!("{}", query_bench(&clients[0], n).await?);
        return Ok(());
    }
    let status = clients[0].status().await?;
    let validators = clients[0].validators().await?["validators"]
        .as_array()
        .map(|a| a.len())
        .unwrap_or(1);
    let (single, batch, verify_ceiling) = ceiling(validators);
    eprintln!("verify rates on this machine: {single:.0}/s single, {batch:.0}/s batch of 64; ceiling {verify_ceiling:.0} tx/s for {validators} validators");

    // Bench members, seeded from the run's start so repeated runs get fresh keys.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut rng = Rng(seed);
    let senders: Vec<Keypair> = (0..args.senders)
        .map(|_| {
            let mut s = [0u8; 32];
            for c in s.chunks_mut(8) {
                c.copy_from_slice(&rng.next().to_le_bytes());
            }
            Keypair::from_secret(s)
        })
        .collect();
    let reg_nonce = clients[0].account(&regulator.public()).await?.next_nonce;
    let adds: Vec<SignedTransaction> = senders
        .iter()
        .enumerate()
        .map(|(i, k)| {
            Transaction {
                chain_id: status.chain_id.clone(),
                sender: regulator.public(),
                nonce: reg_nonce + i as u64,
                payload: Payload::AddMember(AddMember {
                    name: format!("bench-{}-{i}", seed % 1_000_000),
                    public_key: k.public(),
                    roles: Roles::from_list(&[
                        Role::CreditReporter,
                        Role::Lender,
                        Role::IpRegistrar,
                    ]),
                    city: String::new(),
                    categories: deltachain_protocol::Categories::NONE,
                }),
            }
            .sign(&regulator)
        })
        .collect();
    for chunk in adds.chunks(500) {
        for r in clients[0].submit_batch(chunk).await? {
            r?;
        }
    }
    // Every node must have committed the registrations before it is sent
    // the members' transactions, or a node one block behind refuses them.
    let last_add = adds.last().expect("senders").hash();
    for client in &clients {
        client.wait(&last_add, Duration::from_secs(60)).await?;
    }
    eprintln!("registered {} bench members", senders.len());

    // Pre-sign: per-sender queues in nonce order.
    let start_sign = Instant::now();
    let enterprises: Vec<String> = (0..2000).map(|_| uscc(&mut rng)).collect();
    let mut queues: Vec<VecDeque<SignedTransaction>> = vec![VecDeque::new(); senders.len()];
    let mut nonces = vec![1u64; senders.len()];
    let mut patents: Vec<Vec<String>> = vec![Vec::new(); senders.len()];
    let kinds = [
        CreditKind::Loan,
        CreditKind::Repayment,
        CreditKind::Overdue,
        CreditKind::Guarantee,
    ];
    for n in 0..args.txs {
        let s = n % senders.len();
        let roll = rng.next() % 10;
        let payload = if args.import || roll < 8 || (roll == 9 && patents[s].is_empty()) {
            let kind = kinds[(rng.next() % 4) as usize];
            Payload::Credit(Credit {
                enterprise: enterprises[(rng.next() % enterprises.len() as u64) as usize].clone(),
                kind,
                reference: format!("LN-{}-{n}", seed % 100_000),
                amount_fen: Some(10_000 + rng.next() % 1_000_000_000),
                currency: "CNY".into(),
                date: Date::new(
                    2020 + (rng.next() % 6) as u32,
                    1 + (rng.next() % 12) as u32,
                    1 + (rng.next() % 28) as u32,
                )
                .expect("date"),
                rating: None,
                note: None,
            })
        } else if roll == 8 {
            let id = patent(seed.wrapping_add(n as u64));
            patents[s].push(id.clone());
            Payload::IpRegister(IpRegister {
                ip_id: id,
                kind: IpKind::Patent,
                title: "Battery management method".into(),
                owner: enterprises[(rng.next() % enterprises.len() as u64) as usize].clone(),
                registered_on: Date::new(2024, 5, 20).expect("date"),
            })
        } else {
            let id = patents[s].pop().expect("non-empty");
            Payload::IpPledge(IpPledge {
                ip_id: id,
                amount_fen: 100_000_000,
                contract: format!("PL-{n}"),
                until: Date::new(2030, 12, 31).expect("date"),
            })
        };
        let tx = Transaction {
            chain_id: status.chain_id.clone(),
            sender: senders[s].public(),
            nonce: nonces[s],
            payload,
        }
        .sign(&senders[s]);
        nonces[s] += 1;
        queues[s].push_back(tx);
    }
    eprintln!(
        "signed {} transactions in {:.1} s",
        args.txs,
        start_sign.elapsed().as_secs_f64()
    );

    let track = Arc::new(Mutex::new(Track {
        outstanding: vec![0; senders.len()],
        ..Track::default()
    }));
    for c in &clients {
        tokio::spawn(follow_events(c.clone(), track.clone()));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Submit: open loop at --rate, else as fast as the nodes admit; each
    // sender keeps at most WINDOW uncommitted transactions (the mempool
    // admits nonces at most MAX_NONCE_GAP ahead of the committed one).
    const WINDOW: usize = 900;
    let started = Instant::now();
    let mut submitted = 0usize;
    let mut failed = 0usize;
    let mut next_node = 0usize;
    let mut cursor = 0usize;
    while queues.iter().any(|q| !q.is_empty()) {
        if args.rate > 0 {
            let due = Duration::from_secs_f64(submitted as f64 / args.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let mut batch = Vec::with_capacity(args.batch);
        let mut owners = Vec::with_capacity(args.batch);
        {
            let t = track.lock().expect("track lock");
            let limit = if args.rate > 0 {
                args.batch.min((args.rate as usize / 10).max(1))
            } else {
                args.batch
            };
            let in_flight = t.submitted_at.len();
            let limit = if args.max_in_flight > 0 {
                limit.min(args.max_in_flight.saturating_sub(in_flight))
            } else {
                limit
            };
            let mut idle = 0;
            while batch.len() < limit && idle < senders.len() {
                let s = cursor % senders.len();
                cursor += 1;
                if t.outstanding[s] + owners.iter().filter(|o| **o == s).count() >= WINDOW
                    || queues[s].is_empty()
                {
                    idle += 1;
                    continue;
                }
                idle = 0;
                batch.push(queues[s].pop_front().expect("non-empty"));
                owners.push(s);
            }
        }
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let client = &clients[next_node % clients.len()];
        next_node += 1;
        let now = Instant::now();
        let results = match client.submit_batch(&batch).await {
            Ok(r) => r,
            Err(e) if e.is_unreachable() => return Err(e),
            Err(e) => {
                eprintln!("batch refused: {e}; retrying");
                for (tx, s) in batch.into_iter().zip(owners).rev() {
                    queues[s].push_front(tx);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut retry = Vec::new();
        {
            let mut t = track.lock().expect("track lock");
            for ((tx, s), r) in batch.into_iter().zip(owners).zip(results) {
                match r {
                    Ok(h) => {
                        t.submitted_at.insert(h, (now, s));
                        t.outstanding[s] += 1;
                        submitted += 1;
                    }
                    Err(deltachain_client::ClientError::Api { code, .. })
                        if code == "mempool_full" || code == "nonce_too_far" =>
                    {
                        retry.push((tx, s))
                    }
                    Err(e) => {
                        failed += 1;
                        if failed <= 5 {
                            eprintln!("transaction refused: {e}");
                        }
                    }
                }
            }
        }
        if !retry.is_empty() {
            for (tx, s) in retry.into_iter().rev() {
                queues[s].push_front(tx);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if args.progress && submitted % 10_000 < args.batch {
            let t = track.lock().expect("track lock");
            eprintln!(
                "{:>6.1} s: submitted {submitted}, committed {}",
                started.elapsed().as_secs_f64(),
                t.committed
            );
        }
    }
    let submit_secs = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(args.drain_secs);
    loop {
        let pending = track.lock().expect("track lock").submitted_at.len();
        if pending == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = track.lock().expect("track lock");
    let mut lat = t.latencies_ms.clone();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    // Steady window: between the 10th and 90th percentile commit times.
    let mut times = t.commit_times.clone();
    times.sort();
    let committed_tps = if times.len() >= 10 {
        let a = times[times.len() / 10];
        let b = times[times.len() * 9 / 10];
        let secs = b.duration_since(a).as_secs_f64();
        if secs > 0.0 {
            (times.len() * 8 / 10) as f64 / secs
        } else {
            0.0
        }
    } else {
        0.0
    };
    let total_secs = started.elapsed().as_secs_f64();
    let summary = json!({
        "mode": if args.import { "import" } else { "mixed" },
        "validators": validators,
        "target_rate": args.rate,
        "submitted": submitted,
        "failed": failed,
        "committed": t.committed,
        "rejected": t.rejected,
        "uncommitted": t.submitted_at.len(),
        "submit_secs": (submit_secs * 10.0).round() / 10.0,
        "total_secs": (total_secs * 10.0).round() / 10.0,
        "committed_tps": committed_tps.round(),
        "overall_tps": (t.committed as f64 / total_secs).round(),
        "latency_p50_ms": percentile(&lat, 0.50),
        "latency_p90_ms": percentile(&lat, 0.90),
        "latency_p99_ms": percentile(&lat, 0.99),
        "latency_max_ms": lat.last().copied().unwrap_or(0.0),
        "blocks": t.blocks / urls.len().max(1),
        "avg_block_txs": if t.blocks > 0 { (t.block_txs as f64 / t.blocks as f64 * 10.0).round() / 10.0 } else { 0.0 },
        "verify_single_per_core": single.round(),
        "verify_batch64_per_core": batch.round(),
        "verify_ceiling_tps": verify_ceiling.round(),
        "fraction_of_ceiling": if verify_ceiling > 0.0 { (committed_tps / verify_ceiling * 1000.0).round() / 1000.0 } else { 0.0 },
        "nodes": args.node_proc.iter().map(|p| proc_stats(p)).collect::<Vec<_>>(),
    });
    println!("{summary}");
    Ok(())
}
