//! The node: wires storage, ledger, consensus, mempool, network and API
//! together in one event loop.
//!
//! The loop owns the consensus machine and carries out its outputs in order:
//! a WAL record is flushed to sled before the message it describes is
//! published; a decided block is committed (one atomic batch and a flush)
//! before anything else happens. Proposals are validated by executing them
//! on an overlay of the committed state. When peers are ahead the loop
//! fetches blocks by sync, verifying every commit certificate and
//! re-executing every block, then hands consensus the new height.
//!
//! Failures of the disk stop the node (it must not run on state it could
//! not save); misbehaving peers are logged and ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use deltachain_protocol::{
    codec, Block, Genesis, Hash, Height, Keypair, Outcome, Receipt, MAX_BLOCK_BYTES,
};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};

use crate::config::NodeConfig;
use crate::consensus::{self, Consensus, Input, Output, Step, WalEntry};
use crate::executor::{self, Executed, ValidateError};
use crate::mempool::{self, AdmitError, Mempool};
use crate::metrics::Metrics;
use crate::network::{self, Command, MessageAcceptance, SyncResponse, Topic};
use crate::signstate::SignState;
use crate::storage::Store;

#[cfg(feature = "byzantine-test")]
mod misbehave;
mod sync;

/// Consensus status, for the API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Last committed height.
    pub height: Height,
    /// Its hash.
    pub latest_block_hash: Hash,
    /// Its time.
    pub latest_block_time_ms: u64,
    /// Consensus round at the next height.
    pub round: u32,
    /// Consensus step.
    pub step: String,
    /// True while catching up by block sync.
    pub syncing: bool,
}

/// A committed block as pushed to `/v1/events` subscribers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommittedEvent {
    /// Height.
    pub height: Height,
    /// Block hash.
    pub hash: Hash,
    /// Block time.
    pub time_ms: u64,
    /// Receipts in block order.
    pub receipts: Vec<Receipt>,
    /// The sender of each transaction, so that each subscriber is shown
    /// only its own receipts (not part of the JSON).
    #[serde(skip)]
    pub senders: Vec<deltachain_protocol::PublicKey>,
}

/// State shared by the event loop and the API.
pub struct Shared {
    /// Genesis.
    pub genesis: Genesis,
    /// Its hash.
    pub genesis_hash: Hash,
    /// Node name.
    pub name: String,
    /// Our key's public half.
    pub public_key: deltachain_protocol::PublicKey,
    /// Database.
    pub store: Store,
    /// Pending transactions.
    pub mempool: Mutex<Mempool>,
    /// Per-client budgets of bad signatures, for the API.
    pub client_limits: crate::api::limits::ClientLimits,
    /// Consensus status.
    pub status: RwLock<Status>,
    /// Committed blocks, as JSON lines, for SSE subscribers (bounded; slow
    /// subscribers skip ahead).
    pub events: broadcast::Sender<Arc<CommittedEvent>>,
    /// Counters.
    pub metrics: Metrics,
    /// Newly admitted transactions to gossip.
    pub gossip: mpsc::Sender<Vec<u8>>,
    /// Connected peer count.
    pub peers: Box<dyn Fn() -> usize + Send + Sync>,
    /// The query audit trail.
    pub audit: crate::audit::AuditLog,
    /// Nonces of signed API requests seen inside their validity.
    pub replay: crate::api::auth::ReplayCache,
    /// How many heights back state proofs are served (`None`: archive).
    pub proof_window: Option<u64>,
}

impl Shared {
    /// Decodes, checks and admits raw transactions (signature checks batched,
    /// outside the mempool lock). Admitted ones are queued for gossip when
    /// `gossip` is set.
    pub async fn admit(&self, raw: Vec<Vec<u8>>, gossip: bool) -> Vec<Result<Hash, AdmitError>> {
        // Cheapest first: decode and stateless checks, then membership and
        // nonce (a few reads), and only then the signatures of what is left,
        // so a stranger's or a replayed transaction costs no verification
        // and never enters the decompressed-key cache.
        let chain_id = self.genesis.chain_id.clone();
        let store = self.store.clone();
        let generation = self.mempool.lock().expect("mempool lock").generation();
        // Off the async threads: decode, and read each sender's nonce and
        // membership once per batch (a batch holds many transactions of few
        // senders).
        let decoded = {
            let raw = raw.clone();
            tokio::task::spawn_blocking(move || {
                let decoded = mempool::decode(&chain_id, &raw);
                let mut senders = std::collections::BTreeMap::new();
                decoded
                    .into_iter()
                    .map(|c| {
                        let c = c?;
                        codes_admitted(&store, &c.tx.tx.payload)?;
                        let state = match senders.get(&c.tx.tx.sender) {
                            Some(s) => *s,
                            None => {
                                let s = sender_state(&store, &c.tx.tx.sender)?;
                                senders.insert(c.tx.tx.sender, s);
                                s
                            }
                        };
                        Ok((c, state))
                    })
                    .collect::<Vec<Result<_, AdmitError>>>()
            })
            .await
            .unwrap_or_else(|_| Vec::new())
        };
        let (mut checked, states): (Vec<_>, Vec<_>) = {
            let pool = self.mempool.lock().expect("mempool lock");
            decoded
                .into_iter()
                .map(|r| match r {
                    Ok((c, (nonce, standing))) => {
                        match pool.precheck(&c, nonce, standing.may_send(&c.tx.tx.payload)) {
                            Ok(()) => (Ok(c), Some((nonce, standing))),
                            Err(e) => (Err(e), None),
                        }
                    }
                    Err(e) => (Err(e), None),
                })
                .unzip()
        };
        let checked = tokio::task::spawn_blocking(move || {
            mempool::verify_signatures(&mut checked);
            checked
        })
        .await
        .unwrap_or_else(|_| Vec::new());
        let mut results = Vec::with_capacity(checked.len());
        let mut admitted = Vec::new();
        {
            let mut pool = self.mempool.lock().expect("mempool lock");
            // A block committed meanwhile may have used nonces: read again.
            let stale = pool.generation() != generation;
            for ((c, state), bytes) in checked.into_iter().zip(states).zip(raw) {
                let r = c.and_then(|c| {
                    let (nonce, standing) = match state {
                        Some(s) if !stale => s,
                        _ => sender_state(&self.store, &c.tx.tx.sender)?,
                    };
                    let may_send = standing.may_send(&c.tx.tx.payload);
                    pool.admit(c, nonce, may_send)
                });
                if r.is_ok() {
                    admitted.push(bytes);
                }
                results.push(r);
            }
        }
        self.metrics.txs_admitted.inc_by(admitted.len() as u64);
        if gossip {
            for bytes in admitted {
                if self.gossip.send(bytes).await.is_err() {
                    break;
                }
            }
        }
        results
    }

    /// Current status.
    pub fn status(&self) -> Status {
        self.status.read().expect("status lock").clone()
    }
}

/// What a sender is on chain, which decides what it may submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Standing {
    member: bool,
    validator: bool,
    enterprise: bool,
}

impl Standing {
    /// Whether a sender of this standing may submit `payload` at all (the
    /// ledger judges the rest): members anything, validators audit
    /// batches, enterprises their consents and revocations, their
    /// objections, and the splits and transfers of receivables they hold.
    fn may_send(&self, payload: &deltachain_protocol::Payload) -> bool {
        use deltachain_protocol::Payload;
        match payload {
            Payload::AuditBatch(_) => self.validator,
            Payload::ConsentGrant(_)
            | Payload::ConsentRevoke(_)
            | Payload::Objection(_)
            | Payload::ReceivableSplit(_)
            | Payload::ReceivableTransfer(_) => self.member || self.enterprise,
            _ => self.member,
        }
    }
}

/// Refuses a transaction naming a code that fails the GB 32100-2015 check
/// unless a regulator admitted it; the ledger would refuse it anyway, and
/// the clerk learns why at once.
fn codes_admitted(store: &Store, payload: &deltachain_protocol::Payload) -> Result<(), AdmitError> {
    for (field, code) in payload.usccs_needing_exception() {
        let admitted = store
            .uscc_exception(code)
            .map_err(|e| AdmitError::Storage(e.to_string()))?
            .is_some();
        if !admitted {
            return Err(AdmitError::UsccNotAdmitted(
                deltachain_protocol::validate::uscc_needs_exception(field, code),
            ));
        }
    }
    Ok(())
}

/// A sender's committed nonce and standing.
fn sender_state(
    store: &Store,
    sender: &deltachain_protocol::PublicKey,
) -> Result<(u64, Standing), AdmitError> {
    let storage = |e: crate::storage::StoreError| AdmitError::Storage(e.to_string());
    let nonce = store.nonce(sender).map_err(storage)?;
    let member = store.member(sender).map_err(storage)?.is_some();
    let validator = store.is_validator(sender).map_err(storage)?;
    let enterprise = !member && store.enterprise_of(sender).map_err(storage)?.is_some();
    Ok((
        nonce,
        Standing {
            member,
            validator,
            enterprise,
        },
    ))
}

/// Everything needed to run a node, resolved from its home directory.
pub struct Setup {
    /// Home directory.
    pub home: PathBuf,
    /// Config.
    pub config: NodeConfig,
    /// Checked config values.
    pub checked: crate::config::Checked,
    /// Genesis.
    pub genesis: Genesis,
    /// Node key.
    pub key: Keypair,
}

impl Setup {
    /// Loads and checks config, genesis and key; every error names the
    /// file and the field.
    pub fn load(home: &Path) -> anyhow::Result<Setup> {
        if !home.is_dir() {
            bail!("home directory {} does not exist (create one with `deltachain-node testnet` or `dev`)", home.display());
        }
        let config = NodeConfig::load(home)?;
        let checked = config.check(&home.join("config.toml"))?;
        let genesis_path = home.join(&config.genesis_file);
        let text = std::fs::read_to_string(&genesis_path)
            .with_context(|| format!("cannot read genesis file {}", genesis_path.display()))?;
        let genesis =
            Genesis::from_json(&text).with_context(|| format!("{}", genesis_path.display()))?;
        let key = crate::config::read_key(&home.join(&config.key_file)).map_err(|e| anyhow!(e))?;
        Ok(Setup {
            home: home.to_path_buf(),
            config,
            checked,
            genesis,
            key,
        })
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A consensus message as gossiped: the sequence number makes every
/// re-broadcast a distinct gossip message (gossipsub drops repeated bytes).
#[derive(Serialize, Deserialize)]
pub struct Envelope {
    /// Distinct per broadcast.
    pub seq: u64,
    /// The message.
    pub msg: consensus::Message,
}

/// Largest transaction batch gossiped at once.
const MAX_GOSSIP_BATCH_TXS: usize = 512;
const MAX_GOSSIP_BATCH_BYTES: usize = 512 * 1024;

/// Decodes a consensus gossip message exactly as the event loop does (the
/// fuzz targets call this too, so they test what peers reach).
pub fn decode_consensus_gossip(data: &[u8]) -> Result<Envelope, codec::DecodeError> {
    codec::decode::<Envelope>(data, MAX_BLOCK_BYTES, "consensus message")
}

/// Decodes a gossiped transaction batch: the batch's bytes and count are
/// bounded before any transaction in it is looked at.
pub fn decode_tx_gossip(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    codec::decode::<Vec<Vec<u8>>>(data, MAX_GOSSIP_BATCH_BYTES * 2, "transaction batch")
        .ok()
        .filter(|batch| batch.len() <= MAX_GOSSIP_BATCH_TXS * 2)
}

/// Internal events from tasks the loop spawned.
enum Internal {
    PeerTip(PeerId, Height),
    SyncBlocks(PeerId, Result<SyncResponse, String>),
    GossipTxs {
        id: network::MessageId,
        source: PeerId,
        acceptance: MessageAcceptance,
    },
}

/// Most tree entries one pruning step deletes: small enough that a step
/// never holds up a commit for long.
const PRUNE_CHUNK: usize = 4096;

/// Deletes state-tree versions older than the proof window, in bounded
/// chunks, off the commit path.
async fn prune_state_tree(store: Store, window: u64, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        let keep_from = store.tip().height.saturating_sub(window);
        if keep_from == 0 {
            continue;
        }
        loop {
            let s = store.clone();
            match tokio::task::spawn_blocking(move || s.prune_tree(keep_from, PRUNE_CHUNK)).await {
                Ok(Ok(0)) => break,
                Ok(Ok(_)) => tokio::task::yield_now().await,
                Ok(Err(e)) => {
                    warn!(error = %e, "pruning the state tree failed; retrying in a second");
                    break;
                }
                Err(_) => return,
            }
        }
    }
}

/// Runs a node until SIGINT/SIGTERM or a fatal error.
pub async fn run(setup: Setup) -> anyhow::Result<()> {
    let Setup {
        home,
        config,
        checked,
        genesis,
        key,
    } = setup;
    let data_dir = home.join(&config.data_dir);
    let store = Store::open_with_cache(&data_dir, &genesis, config.storage.cache_mb << 20)?;
    let tip = store.tip();
    info!(name = %config.name, height = tip.height, hash = %tip.hash, chain = %genesis.chain_id, "opened store");

    let validators = genesis.validator_keys();
    let mut dial = Vec::new();
    let mut allowed = checked.full_nodes.clone();
    for v in &genesis.validators {
        let peer = network::peer_id_of(&v.public_key)
            .map_err(|e| anyhow!("genesis validator {}: {e}", v.name))?;
        allowed.push(peer);
        if v.public_key != key.public() {
            let addr = v
                .p2p_addr
                .parse()
                .with_context(|| format!("genesis validator {} has a bad p2p_addr", v.name))?;
            dial.push((peer, addr));
        }
    }
    for (peer, addr) in &checked.peers {
        allowed.push(*peer);
        dial.push((*peer, addr.clone()));
    }
    let metrics = Metrics::new();
    let (net, net_events, net_task) = network::spawn(
        network::Config {
            secret: key.secret(),
            chain_id: genesis.chain_id.clone(),
            genesis_hash: genesis.hash(),
            listen: checked.p2p_listen.clone(),
            dial,
            allowed,
            max_message_bytes: genesis.params.max_block_bytes as usize + 1024 * 1024,
        },
        &mut metrics.registry(),
    )?;
    info!(peer_id = %net.local_peer_id, "network started");

    let (gossip_tx, gossip_rx) = mpsc::channel(65_536);
    let (events, _) = broadcast::channel(256);
    let is_validator = genesis
        .validators
        .iter()
        .any(|v| v.public_key == key.public());
    let audit = if is_validator {
        crate::audit::start(&data_dir, store.audit_next(&key.public())?).map_err(|e| anyhow!(e))?
    } else {
        crate::audit::AuditLog::disabled()
    };
    let net_for_peers = net.clone();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shutdown_rx_for_pruner = shutdown_rx.clone();
    let shared = Arc::new(Shared {
        genesis_hash: genesis.hash(),
        name: config.name.clone(),
        public_key: key.public(),
        store: store.clone(),
        client_limits: Default::default(),
        mempool: Mutex::new(Mempool::new(
            config.mempool.max_txs,
            config.mempool.max_bytes,
        )),
        status: RwLock::new(Status {
            height: tip.height,
            latest_block_hash: tip.hash,
            latest_block_time_ms: tip.time_ms,
            ..Status::default()
        }),
        events,
        metrics,
        gossip: gossip_tx,
        peers: Box::new(move || net_for_peers.peer_count()),
        genesis: genesis.clone(),
        audit,
        replay: Default::default(),
        proof_window: config.storage.proof_window(),
    });
    if let Some(window) = config.storage.proof_window() {
        tokio::spawn(prune_state_tree(
            store.clone(),
            window,
            shutdown_rx_for_pruner.clone(),
        ));
    }
    shared.metrics.height.set(tip.height as i64);

    let listener = tokio::net::TcpListener::bind(checked.api_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen for the API on {} (field api.listen)",
                checked.api_listen
            )
        })?;
    let mut api_cfg = config.api.clone();
    api_cfg.tls_cert = api_cfg.tls_cert.map(|p| home.join(p));
    api_cfg.tls_key = api_cfg.tls_key.map(|p| home.join(p));
    let scheme = match (&api_cfg.tls_cert, &api_cfg.tls_key) {
        (Some(c), Some(k)) => {
            crate::api::tls_acceptor(c, k).map_err(|e| anyhow!(e))?;
            "https"
        }
        _ => "http",
    };
    info!(addr = %checked.api_listen, scheme, "API listening");
    if let Some(addr) = checked.metrics_listen {
        let l = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen for metrics on {addr} (field api.metrics_listen)")
        })?;
        info!(%addr, "metrics listening");
        tokio::spawn(crate::api::serve_metrics(
            shared.clone(),
            l,
            shutdown_rx.clone(),
        ));
    }
    let api_task = tokio::spawn(crate::api::serve(
        shared.clone(),
        listener,
        api_cfg,
        shutdown_rx.clone(),
    ));

    if is_validator {
        crate::audit::spawn_shipper(
            shared.clone(),
            key.clone(),
            Duration::from_millis(config.audit.ship_interval_ms),
            shutdown_rx.clone(),
        );
    }

    let mut wal = load_wal(&store, tip.height + 1)?;
    let sign_state =
        SignState::load(&home.join(&config.signing_state_file)).map_err(|e| anyhow!(e))?;
    // A crash between the signing state and the WAL: the vote may have
    // left the node, so it goes back into the WAL and is the one re-sent.
    if let Some(v) = sign_state.unlogged_vote(tip.height + 1, &wal) {
        if v.verify(&genesis.chain_id, &key.public()).is_ok() {
            info!(height = v.vote.height, round = v.vote.round, kind = ?v.vote.kind,
                "restored our last vote from the signing state (the WAL lacked it after a crash)");
            let entry = consensus::WalEntry::Vote(v);
            store.wal_append(v.vote.height, &codec::encode(&entry))?;
            wal.push(entry);
        } else {
            warn!(signing_state = %config.signing_state_file.display(),
                "the vote in the signing state is not signed by this node's key; not restoring it");
        }
    }
    let mut machine = Consensus::new(
        consensus::Config {
            chain_id: genesis.chain_id.clone(),
            validators,
            params: genesis.params.clone(),
            mutation: consensus::Mutation::None,
        },
        key.clone(),
        tip.height + 1,
        wal,
    );
    machine.set_sign_floor(sign_state.last());
    if let Some(floor) = sign_state.last() {
        if floor.height > tip.height + 1 {
            warn!(signed = floor.height, tip = tip.height,
                "this validator signed at a height above our tip (was its data directory replaced?); it will not sign again until consensus passes that point");
        }
    }
    if let (Some(block), Some(cert)) = (store.block(tip.height)?, store.cert(tip.height)?) {
        machine.set_last_decision(block, cert);
    }
    let (internal_tx, internal_rx) = mpsc::channel(1024);
    let mut node = Loop {
        shared: shared.clone(),
        machine,
        net: net.clone(),
        timers: BTreeMap::new(),
        timer_seq: 0,
        executed: BTreeMap::new(),
        // Distinct across restarts, so a restarted node never republishes
        // bytes its peers' gossip caches still hold.
        envelope_seq: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
        gossip_buf: Vec::new(),
        gossip_bytes: 0,
        build_pending: None,
        sync_target: 0,
        sync_in_flight: false,
        peer_tips: BTreeMap::new(),
        bad_peers: BTreeMap::new(),
        sync_turn: 0,
        sign_state,
        #[cfg(feature = "byzantine-test")]
        misbehave: misbehave::Attack::from_env().map(|a| {
            let me = genesis
                .validators
                .iter()
                .position(|v| v.public_key == key.public())
                .unwrap_or(0) as u16;
            misbehave::Misbehave::new(
                a,
                key.clone(),
                &genesis.chain_id,
                me,
                genesis.validators.len(),
            )
        }),
        gossip_admission: spawn_gossip_admission(shared.clone(), internal_tx.clone()),
        connected: Vec::new(),
        internal_tx,
        last_commit_at: Instant::now(),
        sync_serving: Arc::new(tokio::sync::Semaphore::new(SYNC_SERVERS)),
    };
    let result = node.run(net_events, gossip_rx, internal_rx).await;
    let _ = shutdown_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), api_task).await;
    net_task.abort();
    store.flush()?;
    info!("stopped");
    result
}

fn load_wal(store: &Store, height: Height) -> anyhow::Result<Vec<WalEntry>> {
    store
        .wal_records(height)?
        .into_iter()
        .map(|r| {
            codec::decode::<WalEntry>(&r, MAX_BLOCK_BYTES, "WAL record")
                .map_err(|e| anyhow!("consensus WAL is corrupt: {e}"))
        })
        .collect()
}

struct Loop {
    shared: Arc<Shared>,
    machine: Consensus,
    net: network::Handle,
    timers: BTreeMap<(Instant, u64), consensus::Timeout>,
    timer_seq: u64,
    executed: BTreeMap<Hash, Executed>,
    envelope_seq: u64,
    gossip_buf: Vec<Vec<u8>>,
    gossip_bytes: usize,
    build_pending: Option<(Height, u32, Instant)>,
    sync_target: Height,
    sync_in_flight: bool,
    peer_tips: BTreeMap<PeerId, Height>,
    bad_peers: BTreeMap<PeerId, Instant>,
    sync_turn: usize,
    sign_state: SignState,
    #[cfg(feature = "byzantine-test")]
    misbehave: Option<misbehave::Misbehave>,
    /// The queue of transaction batches from gossip waiting for admission.
    gossip_admission: GossipAdmission,
    connected: Vec<PeerId>,
    internal_tx: mpsc::Sender<Internal>,
    last_commit_at: Instant,
    /// Permits for answering peers' sync requests off the event loop.
    sync_serving: Arc<tokio::sync::Semaphore>,
}

/// Sync requests answered at once. Reading and assembling up to 32 MiB of
/// blocks must not stall consensus, so it runs on blocking threads; this
/// bounds how many (further requests wait for a permit).
const SYNC_SERVERS: usize = 2;

/// How long a pending transaction waits before it is gossiped again.
const REGOSSIP_AFTER: Duration = Duration::from_secs(10);

/// Transaction batches from gossip admitted at once.
const GOSSIP_ADMITTERS: usize = 4;
/// Bytes of gossiped transaction batches waiting for admission: beyond
/// this a batch is dropped unjudged (its sender gossips it again). A burst
/// of bulk uploads fills tens of megabytes; dropping those would strand
/// transactions on the node that took them from the API.
const GOSSIP_ADMISSION_BYTES: usize = 128 << 20;
/// Batches waiting for admission, whatever their size.
const GOSSIP_ADMISSION_QUEUE: usize = 4096;

/// The queue in front of gossip admission, bounded by count and bytes.
#[derive(Clone)]
struct GossipAdmission {
    queue: mpsc::Sender<(Vec<Vec<u8>>, network::MessageId, PeerId)>,
    bytes: Arc<std::sync::atomic::AtomicUsize>,
}

impl GossipAdmission {
    /// Queues a batch; false if the queue is full (by count or bytes).
    fn offer(&self, batch: Vec<Vec<u8>>, id: network::MessageId, source: PeerId) -> bool {
        let size: usize = batch.iter().map(|t| t.len()).sum();
        let before = self.bytes.fetch_add(size, Ordering::Relaxed);
        if before + size > GOSSIP_ADMISSION_BYTES
            || self.queue.try_send((batch, id, source)).is_err()
        {
            self.bytes.fetch_sub(size, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// Starts the admission of gossiped transaction batches: a bounded queue,
/// at most [`GOSSIP_ADMITTERS`] batches at once, and a verdict for each
/// batch back to the event loop (reject if any transaction was invalid).
fn spawn_gossip_admission(
    shared: Arc<Shared>,
    internal: mpsc::Sender<Internal>,
) -> GossipAdmission {
    let (tx, mut rx) =
        mpsc::channel::<(Vec<Vec<u8>>, network::MessageId, PeerId)>(GOSSIP_ADMISSION_QUEUE);
    let bytes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let queued = bytes.clone();
    let permits = Arc::new(tokio::sync::Semaphore::new(GOSSIP_ADMITTERS));
    tokio::spawn(async move {
        while let Some((batch, id, source)) = rx.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            queued.fetch_sub(batch.iter().map(|t| t.len()).sum(), Ordering::Relaxed);
            let shared = shared.clone();
            let internal = internal.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let results = shared.admit(batch, false).await;
                let bad = results
                    .iter()
                    .any(|r| matches!(r, Err(AdmitError::Invalid { .. })));
                let acceptance = if bad {
                    MessageAcceptance::Reject
                } else {
                    MessageAcceptance::Accept
                };
                let _ = internal
                    .send(Internal::GossipTxs {
                        id,
                        source,
                        acceptance,
                    })
                    .await;
            });
        }
    });
    GossipAdmission { queue: tx, bytes }
}

/// How long a height may stay uncommitted while a peer reports it committed
/// before we fetch it by sync instead of waiting for consensus messages.
const STALL: Duration = Duration::from_secs(10);

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

impl Loop {
    async fn run(
        &mut self,
        mut net_events: mpsc::Receiver<network::Event>,
        mut gossip_rx: mpsc::Receiver<Vec<u8>>,
        mut internal_rx: mpsc::Receiver<Internal>,
    ) -> anyhow::Result<()> {
        let outs = self.machine.start();
        self.carry_out(outs).await?;
        let mut rebroadcast = tokio::time::interval(Duration::from_millis(1000));
        let mut fast = tokio::time::interval(Duration::from_millis(20));
        let mut poll = tokio::time::interval(Duration::from_millis(2000));
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            let next_timer = self
                .timers
                .keys()
                .next()
                .map(|(t, _)| *t)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                _ = &mut shutdown => {
                    info!("shutting down");
                    return Ok(());
                }
                _ = tokio::time::sleep_until(next_timer.into()) => {
                    let now = Instant::now();
                    let due: Vec<(Instant, u64)> = self.timers.range(..=(now, u64::MAX)).map(|(k, _)| *k).collect();
                    for k in due {
                        if let Some(t) = self.timers.remove(&k) {
                            // Only timeouts of the current round count:
                            // a stale timer changes nothing.
                            if t.height == self.machine.height() && t.round == self.machine.round() {
                                let step = match t.kind {
                                    consensus::TimeoutKind::Propose => "propose",
                                    consensus::TimeoutKind::Prevote => "prevote",
                                    consensus::TimeoutKind::Precommit => "precommit",
                                    consensus::TimeoutKind::Commit => "commit",
                                };
                                self.shared
                                    .metrics
                                    .timeouts
                                    .get_or_create(&crate::metrics::TimeoutLabels { step })
                                    .inc();
                            }
                            let outs = self.machine.step(Input::Timeout(t));
                            self.carry_out(outs).await?;
                        }
                    }
                }
                ev = net_events.recv() => match ev {
                    Some(ev) => self.on_network(ev).await?,
                    None => bail!("network task stopped"),
                },
                Some(bytes) = gossip_rx.recv() => {
                    self.gossip_bytes += bytes.len();
                    self.gossip_buf.push(bytes);
                    if self.gossip_buf.len() >= MAX_GOSSIP_BATCH_TXS || self.gossip_bytes >= MAX_GOSSIP_BATCH_BYTES {
                        self.flush_gossip().await;
                    }
                }
                Some(ev) = internal_rx.recv() => self.on_internal(ev).await?,
                _ = fast.tick() => {
                    self.flush_gossip().await;
                    self.maybe_build().await?;
                }
                _ = rebroadcast.tick() => {
                    let outs = self.machine.step(Input::Rebroadcast);
                    self.carry_out(outs).await?;
                }
                _ = poll.tick() => {
                    self.poll_peers();
                    self.tend_mempool().await;
                }
            }
        }
    }

    /// Tells gossipsub what a message was worth: forward, drop, or drop
    /// and penalise the peer that relayed it.
    async fn report(&self, id: network::MessageId, source: PeerId, acceptance: MessageAcceptance) {
        self.net
            .send(Command::Report {
                id,
                source,
                acceptance,
            })
            .await;
    }

    /// Publishes a consensus message.
    async fn publish(&mut self, msg: consensus::Message) {
        self.envelope_seq += 1;
        let data = codec::encode(&Envelope {
            seq: self.envelope_seq,
            msg,
        });
        self.net
            .send(Command::Publish {
                topic: Topic::Consensus,
                data,
            })
            .await;
    }

    /// Our clock, in milliseconds since the Unix epoch.
    fn clock_ms(&self) -> u64 {
        #[cfg(feature = "byzantine-test")]
        if let Some(m) = &self.misbehave {
            return now_ms().saturating_add_signed(m.clock_offset_ms());
        }
        now_ms()
    }

    /// True if this node lies about its tip (byzantine tests only).
    fn lying_sync(&self) -> bool {
        #[cfg(feature = "byzantine-test")]
        if let Some(m) = &self.misbehave {
            return m.attack == misbehave::Attack::LyingSync;
        }
        false
    }

    /// Drops expired transactions and gossips again those pending long
    /// enough that a peer may have missed them.
    async fn tend_mempool(&mut self) {
        let again = {
            let mut pool = self.shared.mempool.lock().expect("mempool lock");
            let expired = pool.expire(mempool::TX_TTL);
            if expired > 0 {
                info!(
                    expired,
                    "dropped transactions pending longer than {:?}",
                    mempool::TX_TTL
                );
            }
            pool.regossip(REGOSSIP_AFTER, MAX_GOSSIP_BATCH_TXS)
        };
        for bytes in again {
            self.gossip_bytes += bytes.len();
            self.gossip_buf.push(bytes);
        }
        self.flush_gossip().await;
    }

    async fn flush_gossip(&mut self) {
        if self.gossip_buf.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.gossip_buf);
        self.gossip_bytes = 0;
        self.net
            .send(Command::Publish {
                topic: Topic::Txs,
                data: codec::encode(&batch),
            })
            .await;
    }

    fn update_status(&self) {
        let tip = self.shared.store.tip();
        let mut s = self.shared.status.write().expect("status lock");
        s.height = tip.height;
        s.latest_block_hash = tip.hash;
        s.latest_block_time_ms = tip.time_ms;
        s.round = self.machine.round();
        s.step = match self.machine.current_step() {
            Step::Propose => "propose",
            Step::Prevote => "prevote",
            Step::Precommit => "precommit",
            Step::Commit => "commit",
        }
        .into();
        s.syncing = self.sync_target > tip.height;
        self.shared
            .metrics
            .round
            .set(i64::from(self.machine.round()));
    }

    /// Carries out consensus outputs in order, feeding back the inputs they
    /// produce (validation results, built proposals).
    async fn carry_out(&mut self, outs: Vec<Output>) -> anyhow::Result<()> {
        let mut queue: std::collections::VecDeque<Output> = outs.into();
        let mut steps = 0usize;
        while let Some(o) = queue.pop_front() {
            steps += 1;
            if steps > 100_000 {
                bail!("consensus produced outputs without end (bug)");
            }
            let more = match o {
                Output::Persist(entry) => {
                    // The signing floor first: it survives a deleted data
                    // directory, the WAL does not.
                    self.sign_state.record(&entry).context(
                        "cannot write the signing state; stopping rather than risk double-signing",
                    )?;
                    #[cfg(feature = "byzantine-test")]
                    if matches!(entry, consensus::WalEntry::Vote(_))
                        && misbehave::crash_before_wal()
                    {
                        std::process::abort();
                    }
                    // Durable before the broadcast that follows it.
                    self.shared
                        .store
                        .wal_append(entry.height(), &codec::encode(&entry))
                        .context("cannot write the consensus WAL; stopping rather than risk double-signing")?;
                    Vec::new()
                }
                Output::Broadcast(msg) => {
                    #[cfg(feature = "byzantine-test")]
                    let extra = self
                        .misbehave
                        .as_mut()
                        .map(|m| m.beside(&msg))
                        .unwrap_or_default();
                    self.publish(msg).await;
                    #[cfg(feature = "byzantine-test")]
                    for m in extra {
                        self.publish(m).await;
                    }
                    Vec::new()
                }
                Output::Schedule(t) => {
                    self.timer_seq += 1;
                    self.timers.insert(
                        (
                            Instant::now() + Duration::from_millis(t.duration_ms),
                            self.timer_seq,
                        ),
                        t,
                    );
                    Vec::new()
                }
                Output::BuildProposal { height, round } => {
                    let wait = if round == 0 {
                        self.shared.genesis.params.max_block_interval_ms
                    } else {
                        0
                    };
                    self.build_pending =
                        Some((height, round, Instant::now() + Duration::from_millis(wait)));
                    self.build_if_ready()?
                }
                Output::Validate { height, block } => self.validate(height, block)?,
                Output::Decide { block, cert } => {
                    self.commit_decided(block, cert)?;
                    Vec::new()
                }
                Output::Evidence(ev) => {
                    self.shared.metrics.equivocations.inc();
                    warn!(
                        validator = ev.first.vote.validator,
                        height = ev.first.vote.height,
                        round = ev.first.vote.round,
                        kind = ?ev.first.vote.kind,
                        first = ?ev.first.vote.block,
                        first_sig = %ev.first.signature,
                        second = ?ev.second.vote.block,
                        second_sig = %ev.second.signature,
                        "EQUIVOCATION: validator signed two different votes"
                    );
                    Vec::new()
                }
                Output::SyncNeeded { committed } => {
                    if committed > self.sync_target {
                        info!(
                            ours = self.shared.store.tip().height,
                            network = committed,
                            "peers are ahead; syncing blocks"
                        );
                        self.sync_target = committed;
                    }
                    self.start_sync();
                    Vec::new()
                }
            };
            for input in more {
                queue.extend(self.machine.step(input));
            }
        }
        self.update_status();
        Ok(())
    }

    fn build_if_ready(&mut self) -> anyhow::Result<Vec<Input>> {
        let Some((height, round, deadline)) = self.build_pending else {
            return Ok(Vec::new());
        };
        if height != self.machine.height() || round != self.machine.round() {
            self.build_pending = None;
            return Ok(Vec::new());
        }
        let candidates = {
            let pool = self.shared.mempool.lock().expect("mempool lock");
            // Only transactions that can go in now count: a pool holding
            // nothing but nonce gaps must not make empty blocks at full speed.
            if !pool.has_ready() && Instant::now() < deadline {
                return Ok(Vec::new());
            }
            pool.candidates(self.shared.genesis.params.max_block_txs as usize)
        };
        self.build_pending = None;
        let store = &self.shared.store;
        let tip = store.tip();
        if tip.height + 1 != height {
            return Ok(Vec::new());
        }
        let last_commit = if tip.height == 0 {
            None
        } else {
            store.cert(tip.height)?
        };
        let executed = match executor::build_block(
            store,
            &self.shared.genesis,
            &tip,
            last_commit,
            self.shared.public_key,
            self.clock_ms(),
            candidates,
        ) {
            Ok(e) => e,
            Err(ValidateError::Store(e)) => return Err(e.into()),
            Err(ValidateError::Invalid(e)) => bail!("could not build a block: {e}"),
        };
        debug!(
            height,
            round,
            txs = executed.block.txs.len(),
            "built proposal"
        );
        let block = executed.block.clone();
        self.executed.insert(block.hash(), executed);
        Ok(vec![Input::ProposalBuilt {
            height,
            round,
            block,
        }])
    }

    async fn maybe_build(&mut self) -> anyhow::Result<()> {
        if self.build_pending.is_some() {
            let inputs = self.build_if_ready()?;
            for input in inputs {
                let outs = self.machine.step(input);
                self.carry_out(outs).await?;
            }
        }
        Ok(())
    }

    fn validate(&mut self, height: Height, block: Block) -> anyhow::Result<Vec<Input>> {
        let hash = block.hash();
        let store = &self.shared.store;
        let tip = store.tip();
        if tip.height + 1 != height {
            return Ok(Vec::new());
        }
        // Validity is what every honest node agrees on; timeliness (our
        // clock) only decides whether we prevote a fresh proposal.
        let now = self.clock_ms();
        let timely = executor::timely(block.header.time_ms, now);
        if !timely {
            warn!(height, block = %hash.short(), time_ms = block.header.time_ms, now_ms = now,
                "proposed block's time is far from our clock; not prevoting it as a fresh proposal");
        }
        let valid = match executor::validate_block(
            store,
            &self.shared.genesis,
            &tip,
            &block,
            None,
            // Transactions in our mempool had their signatures checked on admission.
            &|h| {
                self.shared
                    .mempool
                    .lock()
                    .expect("mempool lock")
                    .contains(h)
            },
        ) {
            Ok(executed) => {
                if self.executed.len() >= consensus::MAX_BLOCKS_PER_HEIGHT {
                    self.executed.clear();
                }
                self.executed.insert(hash, executed);
                true
            }
            Err(ValidateError::Invalid(reason)) => {
                warn!(height, block = %hash.short(), %reason, "proposed block is invalid; prevoting nil");
                false
            }
            Err(ValidateError::Store(e)) => return Err(e.into()),
        };
        Ok(vec![Input::Validated {
            height,
            hash,
            valid,
            timely,
        }])
    }

    fn commit_decided(
        &mut self,
        block: Block,
        cert: deltachain_protocol::CommitCertificate,
    ) -> anyhow::Result<()> {
        let store = self.shared.store.clone();
        let tip = store.tip();
        let height = block.header.height;
        let hash = block.hash();
        if height <= tip.height {
            // Already committed through sync; it must be the same block.
            if store.block(height)?.map(|b| b.hash()) != Some(hash) {
                bail!("consensus decided block {hash} at height {height}, but the store holds another: the chain has forked");
            }
            return Ok(());
        }
        let executed = match self.executed.remove(&hash) {
            Some(e) => e,
            None => {
                executor::validate_block(&store, &self.shared.genesis, &tip, &block, None, &|_| {
                    false
                })
                .map_err(|e| {
                    anyhow!("decided block {hash} at height {height} does not validate here: {e}")
                })?
            }
        };
        self.commit(executed, &cert, false)
    }

    fn commit(
        &mut self,
        executed: Executed,
        cert: &deltachain_protocol::CommitCertificate,
        synced: bool,
    ) -> anyhow::Result<()> {
        let store = &self.shared.store;
        let block = &executed.block;
        let height = block.header.height;
        store
            .commit_block(block, cert, &executed.outcome)
            .context("cannot commit the block to disk; stopping")?;
        store.wal_prune_below(height + 1)?;
        self.executed.clear();
        self.last_commit_at = Instant::now();
        let committed: Vec<(Hash, deltachain_protocol::PublicKey, u64)> = block
            .txs
            .iter()
            .zip(&executed.tx_hashes)
            .map(|(t, h)| (*h, t.tx.sender, t.tx.nonce))
            .collect();
        let waited = self
            .shared
            .mempool
            .lock()
            .expect("mempool lock")
            .remove_committed(&committed);
        let m = &self.shared.metrics;
        for w in waited {
            m.observe_latency(w);
        }
        let rejected = executed
            .outcome
            .receipts
            .iter()
            .filter(|r| r.outcome == Outcome::Rejected)
            .count();
        m.height.set(height as i64);
        m.blocks.inc();
        m.txs_committed.inc_by(block.txs.len() as u64);
        m.txs_rejected.inc_by(rejected as u64);
        if synced {
            m.synced_blocks.inc();
        }
        let event = CommittedEvent {
            height,
            hash: block.hash(),
            time_ms: block.header.time_ms,
            receipts: executed.outcome.receipts,
            senders: block.txs.iter().map(|t| t.tx.sender).collect(),
        };
        let event = Arc::new(event);
        let _ = self.shared.events.send(event.clone());
        info!(height, hash = %event.hash.short(), txs = block.txs.len(), rejected, round = cert.round, synced, "committed block");
        Ok(())
    }

    async fn on_network(&mut self, ev: network::Event) -> anyhow::Result<()> {
        match ev {
            network::Event::Gossip {
                topic: Topic::Consensus,
                data,
                id,
                source,
            } => {
                match decode_consensus_gossip(&data) {
                    Ok(env) => {
                        #[cfg(feature = "byzantine-test")]
                        if let Some(m) = self.misbehave.as_mut() {
                            for extra in m.on_received(&env.msg) {
                                self.publish(extra).await;
                            }
                        }
                        // Forwarded only once consensus has verified it; a
                        // forgery is rejected, which also counts against
                        // the peer that relayed it.
                        let (verdict, outs) = self.machine.on_gossip(env.msg);
                        let acceptance = match verdict {
                            consensus::Verdict::Accept => MessageAcceptance::Accept,
                            consensus::Verdict::Ignore => MessageAcceptance::Ignore,
                            consensus::Verdict::Reject => MessageAcceptance::Reject,
                        };
                        self.report(id, source, acceptance).await;
                        self.carry_out(outs).await?;
                    }
                    Err(e) => {
                        self.report(id, source, MessageAcceptance::Reject).await;
                        debug!(peer = %source, error = %e, "peer sent an undecodable consensus message")
                    }
                }
            }
            network::Event::Gossip {
                topic: Topic::Txs,
                data,
                id,
                source,
            } => {
                match decode_tx_gossip(&data) {
                    Some(batch) => {
                        // A bounded queue in front of a bounded number of
                        // admitters: a batch that finds the queue full is
                        // dropped unjudged (its sender gossips it again),
                        // never queued without bound.
                        if !self.gossip_admission.offer(batch, id.clone(), source) {
                            self.report(id, source, MessageAcceptance::Ignore).await;
                        }
                    }
                    _ => {
                        warn!(peer = %source, "peer sent an invalid transaction batch");
                        self.report(id, source, MessageAcceptance::Reject).await;
                    }
                }
            }
            network::Event::SyncRequest {
                peer,
                request,
                channel,
            } => {
                let store = self.shared.store.clone();
                let net = self.net.clone();
                let permits = self.sync_serving.clone();
                let lie = self.lying_sync();
                tokio::spawn(async move {
                    let Ok(_permit) = permits.acquire_owned().await else {
                        return;
                    };
                    let response = tokio::task::spawn_blocking(move || {
                        sync::serve_sync(&store, &request, lie)
                    })
                    .await
                    .unwrap_or_else(|e| SyncResponse::Error(format!("could not read blocks: {e}")));
                    if let SyncResponse::Error(e) = &response {
                        debug!(%peer, error = %e, "sync request refused");
                    }
                    net.send(Command::Respond { channel, response }).await;
                });
            }
            network::Event::Connected(peer) => {
                if !self.connected.contains(&peer) {
                    self.connected.push(peer);
                }
                self.request_tip(peer);
            }
            network::Event::Disconnected(peer) => {
                self.connected.retain(|p| *p != peer);
                self.peer_tips.remove(&peer);
            }
        }
        Ok(())
    }
}

impl Loop {
    async fn on_internal(&mut self, ev: Internal) -> anyhow::Result<()> {
        match ev {
            Internal::GossipTxs {
                id,
                source,
                acceptance,
            } => {
                self.report(id, source, acceptance).await;
            }
            Internal::PeerTip(peer, height) => self.on_peer_tip(peer, height),
            Internal::SyncBlocks(peer, result) => self.on_sync_blocks(peer, result).await?,
        }
        Ok(())
    }
}
