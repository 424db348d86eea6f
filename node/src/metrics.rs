//! `/metrics`: one `prometheus-client` registry for the node's own series,
//! libp2p's swarm, gossipsub, identify and ping metrics, and API request
//! durations. Every metric is an atomic: the event loop, the network task
//! and the API update them without locks; only scraping and registration
//! take the registry's lock.
//!
//! Series names are those of the hand-written exposition this replaced, so
//! existing dashboards and alerts keep working.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds (seconds) of the commit latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Upper bounds (seconds) of the API request duration buckets.
pub const REQUEST_BUCKETS: [f64; 10] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// Labels of an API request: the route's template (never the raw path, so
/// the number of series stays bounded) and the status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `GET /v1/enterprises/{uscc}`, or `unmatched`.
    pub route: String,
    /// HTTP status code.
    pub status: u16,
}

/// Labels of a consensus timeout.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TimeoutLabels {
    /// `propose`, `prevote` or `precommit`.
    pub step: &'static str,
}

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS)
}

/// Node metrics.
pub struct Metrics {
    /// Committed height.
    pub height: Gauge,
    /// Current consensus round.
    pub round: Gauge,
    /// Blocks committed since start.
    pub blocks: Counter,
    /// Transactions committed since start.
    pub txs_committed: Counter,
    /// Receipts that were rejections.
    pub txs_rejected: Counter,
    /// Transactions admitted to the mempool since start.
    pub txs_admitted: Counter,
    /// Equivocations seen.
    pub equivocations: Counter,
    /// Blocks committed through sync.
    pub synced_blocks: Counter,
    /// Consensus timeouts that fired, by step.
    pub timeouts: Family<TimeoutLabels, Counter>,
    /// API request durations by route and status.
    pub requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    commit_latency: Histogram,
    mempool_txs: Gauge,
    mempool_bytes: Gauge,
    peers: Gauge,
    syncing: Gauge,
    audit_waiting: Gauge,
    storage_bytes: Gauge,
    registry: Mutex<Registry>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// What is read at scrape time rather than kept up to date.
pub struct Snapshot {
    /// Pending transactions.
    pub mempool_txs: usize,
    /// Their bytes.
    pub mempool_bytes: usize,
    /// Connected peers.
    pub peers: usize,
    /// Catching up by block sync.
    pub syncing: bool,
    /// Audit entries not yet on chain.
    pub audit_waiting: usize,
    /// The database's size on disk.
    pub storage_bytes: u64,
}

impl Metrics {
    /// Registers every series.
    pub fn new() -> Metrics {
        let m = Metrics {
            height: Gauge::default(),
            round: Gauge::default(),
            blocks: Counter::default(),
            txs_committed: Counter::default(),
            txs_rejected: Counter::default(),
            txs_admitted: Counter::default(),
            equivocations: Counter::default(),
            synced_blocks: Counter::default(),
            timeouts: Family::default(),
            requests: Family::new_with_constructor(request_histogram),
            commit_latency: Histogram::new(LATENCY_BUCKETS),
            mempool_txs: Gauge::default(),
            mempool_bytes: Gauge::default(),
            peers: Gauge::default(),
            syncing: Gauge::default(),
            audit_waiting: Gauge::default(),
            storage_bytes: Gauge::default(),
            registry: Mutex::new(Registry::default()),
        };
        {
            let mut r = m.registry.lock().expect("metrics registry");
            // Counters get their `_total` suffix from the library.
            r.register(
                "deltachain_height",
                "Last committed block height",
                m.height.clone(),
            );
            r.register(
                "deltachain_round",
                "Current consensus round",
                m.round.clone(),
            );
            r.register(
                "deltachain_blocks_committed",
                "Blocks committed since start",
                m.blocks.clone(),
            );
            r.register(
                "deltachain_txs_committed",
                "Transactions committed since start",
                m.txs_committed.clone(),
            );
            r.register(
                "deltachain_txs_rejected",
                "Committed transactions whose receipt is rejected",
                m.txs_rejected.clone(),
            );
            r.register(
                "deltachain_txs_admitted",
                "Transactions admitted to the mempool",
                m.txs_admitted.clone(),
            );
            r.register(
                "deltachain_equivocations",
                "Equivocations detected",
                m.equivocations.clone(),
            );
            r.register(
                "deltachain_synced_blocks",
                "Blocks committed through block sync",
                m.synced_blocks.clone(),
            );
            r.register(
                "deltachain_consensus_timeouts",
                "Consensus timeouts that fired, by step",
                m.timeouts.clone(),
            );
            r.register(
                "deltachain_api_request_duration_seconds",
                "API request durations by route and status code",
                m.requests.clone(),
            );
            r.register(
                "deltachain_commit_latency_seconds",
                "Time from mempool admission to commit",
                m.commit_latency.clone(),
            );
            r.register(
                "deltachain_mempool_txs",
                "Pending transactions",
                m.mempool_txs.clone(),
            );
            r.register(
                "deltachain_mempool_bytes",
                "Pending transaction bytes",
                m.mempool_bytes.clone(),
            );
            r.register("deltachain_peers", "Connected peers", m.peers.clone());
            r.register(
                "deltachain_syncing",
                "1 while catching up by block sync",
                m.syncing.clone(),
            );
            r.register(
                "deltachain_audit_outbox_entries",
                "Audit entries of answered reads not yet seen on chain",
                m.audit_waiting.clone(),
            );
            r.register(
                "deltachain_storage_bytes",
                "Size of the node's database on disk",
                m.storage_bytes.clone(),
            );
        }
        m
    }

    /// The registry, for the network to add libp2p's series to.
    pub fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one transaction's admission-to-commit latency.
    pub fn observe_latency(&self, d: Duration) {
        self.commit_latency.observe(d.as_secs_f64());
    }

    /// Records one API request.
    pub fn observe_request(&self, route: &str, status: u16, d: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                status,
            })
            .observe(d.as_secs_f64());
    }

    /// Renders the exposition (OpenMetrics text, which Prometheus reads).
    pub fn render(&self, now: &Snapshot) -> String {
        let set = |g: &Gauge, v: u64| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        set(&self.mempool_txs, now.mempool_txs as u64);
        set(&self.mempool_bytes, now.mempool_bytes as u64);
        set(&self.peers, now.peers as u64);
        set(&self.syncing, now.syncing as u64);
        set(&self.audit_waiting, now.audit_waiting as u64);
        set(&self.storage_bytes, now.storage_bytes);
        let mut out = String::new();
        let r = self.registry();
        if prometheus_client::encoding::text::encode(&mut out, &r).is_err() {
            out = "# the metrics could not be encoded\n# EOF\n".into();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_keep_their_names_and_routes_are_templates() {
        let m = Metrics::new();
        m.height.set(7);
        m.txs_committed.inc_by(3);
        m.timeouts
            .get_or_create(&TimeoutLabels { step: "propose" })
            .inc();
        m.observe_latency(Duration::from_millis(300));
        m.observe_request("GET /v1/ip/{ip_id}", 200, Duration::from_millis(2));
        let text = m.render(&Snapshot {
            mempool_txs: 5,
            mempool_bytes: 900,
            peers: 3,
            syncing: false,
            audit_waiting: 0,
            storage_bytes: 4096,
        });
        for line in [
            "deltachain_height 7",
            "deltachain_txs_committed_total 3",
            "deltachain_mempool_txs 5",
            "deltachain_storage_bytes 4096",
            "deltachain_consensus_timeouts_total{step=\"propose\"} 1",
            "deltachain_commit_latency_seconds_count 1",
            "deltachain_api_request_duration_seconds_count{route=\"GET /v1/ip/{ip_id}\",status=\"200\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
