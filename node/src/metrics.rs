//! Counters for `/metrics` (Prometheus text format). Plain atomics: the
//! event loop and the API update them without locks.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the commit latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Node metrics.
#[derive(Default)]
pub struct Metrics {
    /// Committed height.
    pub height: AtomicU64,
    /// Current consensus round.
    pub round: AtomicU64,
    /// Blocks committed since start.
    pub blocks: AtomicU64,
    /// Transactions committed since start.
    pub txs_committed: AtomicU64,
    /// Receipts that were rejections.
    pub txs_rejected: AtomicU64,
    /// Transactions admitted to the mempool since start.
    pub txs_admitted: AtomicU64,
    /// Equivocations seen.
    pub equivocations: AtomicU64,
    /// Blocks committed through sync.
    pub synced_blocks: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// Records one transaction's admission-to-commit latency.
    pub fn observe_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Renders the Prometheus text format.
    pub fn render(
        &self,
        mempool_txs: usize,
        mempool_bytes: usize,
        peers: usize,
        syncing: bool,
        audit_waiting: usize,
    ) -> String {
        let mut s = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            "deltachain_height",
            "Last committed block height.",
            "gauge",
            g(&self.height),
        );
        gauge(
            "deltachain_round",
            "Current consensus round.",
            "gauge",
            g(&self.round),
        );
        gauge(
            "deltachain_blocks_committed_total",
            "Blocks committed since start.",
            "counter",
            g(&self.blocks),
        );
        gauge(
            "deltachain_txs_committed_total",
            "Transactions committed since start.",
            "counter",
            g(&self.txs_committed),
        );
        gauge(
            "deltachain_txs_rejected_total",
            "Committed transactions whose receipt is rejected.",
            "counter",
            g(&self.txs_rejected),
        );
        gauge(
            "deltachain_txs_admitted_total",
            "Transactions admitted to the mempool.",
            "counter",
            g(&self.txs_admitted),
        );
        gauge(
            "deltachain_equivocations_total",
            "Equivocations detected.",
            "counter",
            g(&self.equivocations),
        );
        gauge(
            "deltachain_synced_blocks_total",
            "Blocks committed through block sync.",
            "counter",
            g(&self.synced_blocks),
        );
        gauge(
            "deltachain_mempool_txs",
            "Pending transactions.",
            "gauge",
            mempool_txs as u64,
        );
        gauge(
            "deltachain_mempool_bytes",
            "Pending transaction bytes.",
            "gauge",
            mempool_bytes as u64,
        );
        gauge(
            "deltachain_peers",
            "Connected peers.",
            "gauge",
            peers as u64,
        );
        gauge(
            "deltachain_syncing",
            "1 while catching up by block sync.",
            "gauge",
            syncing as u64,
        );
        gauge(
            "deltachain_audit_outbox_entries",
            "Audit entries of answered reads not yet seen on chain.",
            "gauge",
            audit_waiting as u64,
        );
        let _ = writeln!(
            s,
            "# HELP deltachain_commit_latency_seconds Time from mempool admission to commit."
        );
        let _ = writeln!(s, "# TYPE deltachain_commit_latency_seconds histogram");
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "deltachain_commit_latency_seconds_bucket{{le=\"{b}\"}} {}",
                g(&self.latency_buckets[i])
            );
        }
        let count = g(&self.latency_count);
        let _ = writeln!(
            s,
            "deltachain_commit_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            s,
            "deltachain_commit_latency_seconds_sum {}",
            g(&self.latency_sum_us) as f64 / 1e6
        );
        let _ = writeln!(s, "deltachain_commit_latency_seconds_count {count}");
        s
    }
}
