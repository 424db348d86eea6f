//! The libp2p edge of the node.
//!
//! Shaped like rust-libp2p's file-sharing example: [`spawn`] builds the
//! Swarm and returns a cloneable [`Handle`] (commands over a bounded
//! channel), a bounded stream of [`Event`]s, and the task that owns the
//! Swarm. The composed behaviour is:
//!
//! * `allow_block_list` with an allowlist of the genesis validators' PeerIds
//!   and the full nodes named in config: any other peer is refused right
//!   after the Noise handshake, before any protocol sees it;
//! * gossipsub with anonymous authenticity (our messages are signed by their
//!   authors), sha256 content ids and application-level validation: every
//!   message is reported accepted or rejected by the node before it is
//!   forwarded. Topics are scoped by chain id;
//! * request-response for block sync ([`codec`]);
//! * identify, whose protocol version carries the genesis hash: a peer of
//!   another network, or one that does not announce ours, is disconnected
//!   with a message that says which; and ping (`/ipfs/ping/1.0.0`), which
//!   answers other implementations' connection monitors.
//!
//! Configured peers are redialled with exponential backoff (1 s to 30 s).

pub mod codec;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    allow_block_list, gossipsub, identify, identity, noise, ping, request_response, tcp, yamux,
    Multiaddr, PeerId, Swarm,
};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

pub use codec::{SyncRequest, SyncResponse, SyncedBlock};
pub use gossipsub::{MessageAcceptance, MessageId};
pub use request_response::ResponseChannel;

/// Gossip topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Batches of signed transactions.
    Txs,
    /// Proposals, votes and commits.
    Consensus,
}

/// What the node asks the network to do.
#[derive(Debug)]
pub enum Command {
    /// Publish on a topic.
    Publish {
        /// Topic.
        topic: Topic,
        /// Payload.
        data: Vec<u8>,
    },
    /// Report the validation result of a received gossip message.
    Report {
        /// Message id.
        id: MessageId,
        /// Who forwarded it.
        source: PeerId,
        /// Verdict.
        acceptance: MessageAcceptance,
    },
    /// Ask a peer for sync data.
    Request {
        /// Peer.
        peer: PeerId,
        /// Request.
        request: SyncRequest,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<SyncResponse, String>>,
    },
    /// Answer a peer's sync request.
    Respond {
        /// The request's channel.
        channel: ResponseChannel<SyncResponse>,
        /// The answer.
        response: SyncResponse,
    },
}

/// What the network tells the node.
#[derive(Debug)]
pub enum Event {
    /// A gossip message to validate and use.
    Gossip {
        /// Topic.
        topic: Topic,
        /// Payload.
        data: Vec<u8>,
        /// Its id, for [`Command::Report`].
        id: MessageId,
        /// Who forwarded it.
        source: PeerId,
    },
    /// A peer asks for sync data.
    SyncRequest {
        /// Peer.
        peer: PeerId,
        /// Request.
        request: SyncRequest,
        /// Where to answer.
        channel: ResponseChannel<SyncResponse>,
    },
    /// A peer connected.
    Connected(PeerId),
    /// A peer's last connection closed.
    Disconnected(PeerId),
}

/// Network settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The node key's 32-byte secret (the libp2p identity).
    pub secret: [u8; 32],
    /// Chain id (scopes the topics).
    pub chain_id: String,
    /// Genesis hash (checked through identify).
    pub genesis_hash: deltachain_protocol::Hash,
    /// Listen address.
    pub listen: Multiaddr,
    /// Peers to keep connected to.
    pub dial: Vec<(PeerId, Multiaddr)>,
    /// Every peer allowed to connect.
    pub allowed: Vec<PeerId>,
    /// Largest gossip message (a whole block proposal must fit).
    pub max_message_bytes: usize,
}

/// Cloneable handle to the network task.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    peers: Arc<AtomicUsize>,
    /// Our PeerId.
    pub local_peer_id: PeerId,
}

impl Handle {
    /// Sends a command, waiting if the queue is full.
    pub async fn send(&self, command: Command) {
        // The receiver only goes away at shutdown.
        let _ = self.commands.send(command).await;
    }

    /// Sends a command without waiting; false if the queue is full.
    pub fn try_send(&self, command: Command) -> bool {
        self.commands.try_send(command).is_ok()
    }

    /// Number of connected peers.
    pub fn peer_count(&self) -> usize {
        self.peers.load(Ordering::Relaxed)
    }

    /// Asks a peer for sync data and waits for the answer.
    pub async fn request(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Result<SyncResponse, String> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Request {
            peer,
            request,
            reply: tx,
        })
        .await;
        rx.await.map_err(|_| "network task stopped".to_string())?
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<codec::SyncCodec>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// The PeerId of a Deltachain public key.
pub fn peer_id_of(key: &deltachain_protocol::PublicKey) -> Result<PeerId, String> {
    let pk = identity::ed25519::PublicKey::try_from_bytes(&key.0).map_err(|e| e.to_string())?;
    Ok(identity::PublicKey::from(pk).to_peer_id())
}

/// Errors starting the network.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// Building the swarm failed.
    #[error("cannot start libp2p: {0}")]
    Setup(String),
    /// Listening failed (address in use, bad address).
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// Address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
}

/// Builds the swarm, starts listening and returns the handle, the event
/// stream and the network task.
pub fn spawn(
    cfg: Config,
    registry: &mut prometheus_client::registry::Registry,
) -> Result<(Handle, mpsc::Receiver<Event>, tokio::task::JoinHandle<()>), NetworkError> {
    // libp2p's own series (swarm, gossipsub, identify, ping) under
    // `libp2p_`, and gossipsub's internal ones (mesh, scores, queues)
    // under `gossipsub_`.
    let recorder = libp2p::metrics::Metrics::new(registry);
    let gossip_registry = registry.sub_registry_with_prefix("gossipsub");
    // ed25519_from_bytes zeroizes its argument: hand it a copy.
    let mut secret = cfg.secret;
    let keypair = identity::Keypair::ed25519_from_bytes(&mut secret)
        .map_err(|e| NetworkError::Setup(e.to_string()))?;
    let local_peer_id = keypair.public().to_peer_id();
    let protocol_version = format!("/deltachain/{}", cfg.genesis_hash);
    let max_message = cfg.max_message_bytes;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetworkError::Setup(e.to_string()))?
        .with_behaviour(|key| {
            let gossip_cfg = gossipsub::ConfigBuilder::default()
                .validation_mode(gossipsub::ValidationMode::Anonymous)
                .validate_messages()
                .max_transmit_size(max_message)
                .message_id_fn(|m: &gossipsub::Message| {
                    gossipsub::MessageId::from(Sha256::digest(&m.data).to_vec())
                })
                .heartbeat_interval(Duration::from_millis(700))
                .connection_handler_queue_len(20_000)
                .duplicate_cache_time(Duration::from_secs(60))
                .build()
                .map_err(|e| e.to_string())?;
            let mut gossipsub =
                gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_cfg)?
                    .with_metrics(gossip_registry, gossipsub::MetricsConfig::default());
            let (params, thresholds) = peer_scoring(&cfg.chain_id);
            gossipsub.with_peer_score(params, thresholds)?;
            let sync = request_response::Behaviour::with_codec(
                codec::SyncCodec,
                [(codec::PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(30))
                    .with_max_concurrent_streams(64),
            );
            Ok(Behaviour {
                allow: allow_block_list::Behaviour::default(),
                gossipsub,
                sync,
                identify: identify::Behaviour::new(identify::Config::new(
                    protocol_version.clone(),
                    key.public(),
                )),
                ping: ping::Behaviour::new(ping::Config::new()),
            })
        })
        .map_err(|e| NetworkError::Setup(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    for peer in &cfg.allowed {
        swarm.behaviour_mut().allow.allow_peer(*peer);
    }
    let topics = Topics::new(&cfg.chain_id);
    for t in [&topics.txs, &topics.consensus] {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(t)
            .map_err(|e| NetworkError::Setup(e.to_string()))?;
    }
    swarm
        .listen_on(cfg.listen.clone())
        .map_err(|e| NetworkError::Listen {
            addr: cfg.listen.clone(),
            reason: e.to_string(),
        })?;
    let (cmd_tx, cmd_rx) = mpsc::channel(4096);
    let (ev_tx, ev_rx) = mpsc::channel(4096);
    let peers = Arc::new(AtomicUsize::new(0));
    let handle = Handle {
        commands: cmd_tx,
        peers: peers.clone(),
        local_peer_id,
    };
    let task = EventLoop {
        swarm,
        recorder,
        commands: cmd_rx,
        events: ev_tx,
        topics,
        protocol_version,
        dial: cfg
            .dial
            .into_iter()
            .filter(|(p, _)| *p != local_peer_id)
            .map(|(p, a)| {
                (
                    p,
                    Redial {
                        addr: a,
                        next: Instant::now(),
                        backoff: Duration::from_secs(1),
                    },
                )
            })
            .collect(),
        connected: BTreeSet::new(),
        peers,
        pending: BTreeMap::new(),
        refused: crate::lograte::Summary::new(),
    };
    Ok((handle, ev_rx, tokio::spawn(task.run())))
}

/// Gossipsub peer scoring that punishes exactly one thing: relaying
/// messages the node rejected after verification (bad signatures, forged
/// or tampered consensus messages, invalid transactions). A peer that
/// relays a few is no longer gossiped to, a few more and it is graylisted;
/// the score decays, so a transient fault heals. Everything that would
/// penalise an honest validator is off: quiet topics (validators are idle
/// between blocks), many peers on one address (a test network on one
/// machine), slow peers under load.
fn peer_scoring(chain_id: &str) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let topic = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.5,
        ..Default::default()
    };
    let topics = Topics::new(chain_id);
    let mut params = gossipsub::PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        slow_peer_weight: 0.0,
        ..Default::default()
    };
    for t in [&topics.txs, &topics.consensus] {
        params.topics.insert(t.hash(), topic.clone());
    }
    (params, gossipsub::PeerScoreThresholds::default())
}

struct Topics {
    txs: gossipsub::IdentTopic,
    consensus: gossipsub::IdentTopic,
}

impl Topics {
    fn new(chain_id: &str) -> Topics {
        Topics {
            txs: gossipsub::IdentTopic::new(format!("/deltachain/{chain_id}/txs/1")),
            consensus: gossipsub::IdentTopic::new(format!("/deltachain/{chain_id}/consensus/1")),
        }
    }

    fn of(&self, hash: &gossipsub::TopicHash) -> Option<Topic> {
        if *hash == self.txs.hash() {
            Some(Topic::Txs)
        } else if *hash == self.consensus.hash() {
            Some(Topic::Consensus)
        } else {
            None
        }
    }
}

struct Redial {
    addr: Multiaddr,
    next: Instant,
    backoff: Duration,
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    recorder: libp2p::metrics::Metrics,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    topics: Topics,
    protocol_version: String,
    dial: BTreeMap<PeerId, Redial>,
    connected: BTreeSet<PeerId>,
    peers: Arc<AtomicUsize>,
    pending: BTreeMap<
        request_response::OutboundRequestId,
        oneshot::Sender<Result<SyncResponse, String>>,
    >,
    refused: crate::lograte::Summary,
}

/// Why a peer's identify protocol version is not ours, in words that say
/// what differed: another Deltachain network (another genesis) is not the
/// same mistake as a foreign implementation that announces its own version.
pub fn identify_mismatch(theirs: &str, ours: &str) -> String {
    let shown: String = theirs.chars().take(80).collect();
    match theirs.strip_prefix("/deltachain/") {
        Some(hash) => format!(
            "peer runs another Deltachain network: its genesis hash is {hash:.80}, ours is {}",
            ours.trim_start_matches("/deltachain/")
        ),
        None => format!(
            "peer announces identify protocol version {shown:?}; a Deltachain peer must announce {ours:?} (\"/deltachain/\" and the genesis hash, see ARCHITECTURE.md, wire contract)"
        ),
    }
}

impl EventLoop {
    async fn run(mut self) {
        let mut redial = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                // Local work first: it frees queue space before we take more remote work.
                biased;
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                _ = redial.tick() => self.redial(),
                event = self.swarm.select_next_some() => {
                    if !self.on_swarm_event(event).await {
                        break;
                    }
                }
            }
        }
        debug!("network task stopped");
    }

    fn redial(&mut self) {
        let now = Instant::now();
        for (peer, r) in self.dial.iter_mut() {
            if self.connected.contains(peer) || now < r.next {
                continue;
            }
            r.next = now + r.backoff;
            r.backoff = (r.backoff * 2).min(Duration::from_secs(30));
            let opts = DialOpts::peer_id(*peer)
                .addresses(vec![r.addr.clone()])
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                debug!(%peer, error = %e, "dial failed");
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish { topic, data } => {
                let t = match topic {
                    Topic::Txs => self.topics.txs.clone(),
                    Topic::Consensus => self.topics.consensus.clone(),
                };
                match self.swarm.behaviour_mut().gossipsub.publish(t, data) {
                    Ok(_) | Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
                    Err(e) => {
                        debug!(error = %e, ?topic, "publish failed; re-broadcast and sync repair it")
                    }
                }
            }
            Command::Report {
                id,
                source,
                acceptance,
            } => {
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &source, acceptance);
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                if self.pending.len() < 1024 {
                    self.pending.insert(id, reply);
                }
            }
            Command::Respond { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
        }
    }

    /// Returns false when the node has gone away.
    async fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) -> bool {
        {
            use libp2p::metrics::Recorder;
            self.recorder.record(&event);
            match &event {
                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => self.recorder.record(e),
                SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => self.recorder.record(e),
                SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => self.recorder.record(e),
                _ => {}
            }
        }
        match event {
            SwarmEvent::NewListenAddr { address, .. } => info!(%address, "listening for peers"),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                if let Some(r) = self.dial.get_mut(&peer_id) {
                    r.backoff = Duration::from_secs(1);
                }
                if num_established.get() == 1 {
                    self.connected.insert(peer_id);
                    self.peers.store(self.connected.len(), Ordering::Relaxed);
                    info!(peer = %peer_id, "peer connected");
                    return self.events.send(Event::Connected(peer_id)).await.is_ok();
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.connected.remove(&peer_id);
                self.peers.store(self.connected.len(), Ordering::Relaxed);
                info!(peer = %peer_id, "peer disconnected");
                return self.events.send(Event::Disconnected(peer_id)).await.is_ok();
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                self.refused.record(|n| {
                    warn!(count = n, last_from = %send_back_addr, last_error = %error,
                        "refused incoming connections (peers outside the allowlist are refused; one line a minute)")
                });
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(peer = ?peer_id, %error, "outgoing connection failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => match self.topics.of(&message.topic) {
                Some(topic) => {
                    let ev = Event::Gossip {
                        topic,
                        data: message.data,
                        id: message_id,
                        source: propagation_source,
                    };
                    return self.events.send(ev).await.is_ok();
                }
                None => {
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Reject,
                        );
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            })) => {
                debug!(peer = %peer_id, ?failed_messages, "slow peer dropped gossip; re-broadcast repairs it");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(ev)) => return self.on_sync_event(ev).await,
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocol_version != self.protocol_version => {
                warn!(peer = %peer_id, "{}; disconnecting", identify_mismatch(&info.protocol_version, &self.protocol_version));
                let _ = self.swarm.disconnect_peer_id(peer_id);
            }
            _ => {}
        }
        true
    }

    async fn on_sync_event(
        &mut self,
        ev: request_response::Event<SyncRequest, SyncResponse>,
    ) -> bool {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    return self
                        .events
                        .send(Event::SyncRequest {
                            peer,
                            request,
                            channel,
                        })
                        .await
                        .is_ok();
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.pending.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                debug!(%peer, %error, "sync request failed");
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "sync request from peer failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
        true
    }
}
