//! `config.toml`: everything about one node that is not in genesis.
//!
//! Every field has a default, so a minimal file can be empty; unknown
//! fields are errors (a typo must not silently fall back to a default).
//! Paths are relative to the node's home directory.
//!
//! ```toml
//! name = "shanghai"              # shown in logs and /v1/status
//! genesis_file = "genesis.json"
//! key_file = "node.key"          # hex ed25519 secret, mode 0600
//! data_dir = "data"              # sled database
//!
//! [p2p]
//! listen = "/ip4/0.0.0.0/tcp/7170"
//! peers = []                     # extra dial targets: "/ip4/../tcp/../p2p/<PeerId>"
//! full_nodes = []                # PeerIds of non-validating nodes allowed to connect
//!
//! [api]
//! listen = "127.0.0.1:7070"
//! max_connections = 512
//! max_body_bytes = 8388608
//! tls_cert = ""                  # PEM certificate chain; with tls_key, the API serves HTTPS
//! tls_key = ""                   # PEM private key (PKCS#8, SEC1 or RSA)
//! metrics_listen = ""            # e.g. "10.0.0.5:9100": /metrics there only
//!
//! [audit]
//! ship_interval_ms = 1000        # how often served reads go on chain as audit batches
//!
//! [mempool]
//! max_txs = 100000
//! max_bytes = 134217728
//!
//! [storage]
//! cache_mb = 128                 # sled page cache (a soft target; sled's bookkeeping comes on top)
//! state_versions = 10000          # heights back that state proofs are served for
//! archive = false                 # keep the state tree of every height (proofs at any height)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

/// A node's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Display name.
    #[serde(default = "default_name")]
    pub name: String,
    /// Genesis file.
    #[serde(default = "default_genesis")]
    pub genesis_file: PathBuf,
    /// Node key file.
    #[serde(default = "default_key")]
    pub key_file: PathBuf,
    /// Database directory.
    #[serde(default = "default_data")]
    pub data_dir: PathBuf,
    /// The validator's last signed (height, round, step), kept outside the
    /// data directory so that deleting the database cannot make it sign
    /// twice. Never delete it.
    #[serde(default = "default_signing_state")]
    pub signing_state_file: PathBuf,
    /// Peer-to-peer settings.
    #[serde(default)]
    pub p2p: P2pConfig,
    /// HTTP API settings.
    #[serde(default)]
    pub api: ApiConfig,
    /// Mempool bounds.
    #[serde(default)]
    pub mempool: MempoolConfig,
    /// Storage settings.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Query audit trail settings.
    #[serde(default)]
    pub audit: AuditConfig,
}

/// Query audit trail settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// How often the node sends the audit entries of reads it served to
    /// the chain, in milliseconds (100..=60000).
    #[serde(default = "default_ship_interval")]
    pub ship_interval_ms: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            ship_interval_ms: default_ship_interval(),
        }
    }
}

fn default_ship_interval() -> u64 {
    1000
}

/// Storage settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// sled's page cache in MiB. It is a soft target: sled's own
    /// bookkeeping comes on top. Larger keeps more of a big chain's index
    /// in memory for queries and imports; smaller trades that for memory
    /// on a small machine.
    #[serde(default = "default_cache_mb")]
    pub cache_mb: u64,
    /// How many heights back `?proof=true&height=H` is answered. Older
    /// versions of the state tree are pruned in the background. A bank
    /// checks the present; an auditor who needs any past height runs an
    /// archive node.
    #[serde(default = "default_state_versions")]
    pub state_versions: u64,
    /// Keep every version of the state tree (never prune).
    #[serde(default)]
    pub archive: bool,
}

impl StorageConfig {
    /// The proof window: `None` on an archive node.
    pub fn proof_window(&self) -> Option<u64> {
        (!self.archive).then_some(self.state_versions)
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            cache_mb: default_cache_mb(),
            state_versions: default_state_versions(),
            archive: false,
        }
    }
}

/// Peer-to-peer settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pConfig {
    /// Listen multiaddr.
    #[serde(default = "default_p2p_listen")]
    pub listen: String,
    /// Extra peers to dial, as multiaddrs ending in `/p2p/<PeerId>`.
    #[serde(default)]
    pub peers: Vec<String>,
    /// PeerIds of full nodes allowed to connect besides the validators.
    #[serde(default)]
    pub full_nodes: Vec<String>,
}

/// HTTP API settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address; loopback unless you mean to expose it.
    #[serde(default = "default_api_listen")]
    pub listen: String,
    /// Concurrent connections served.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Largest request body.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// A separate plain-HTTP address for `/metrics` only (for example on a
    /// management network); when set, the main API does not serve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// PEM certificate chain. With `tls_key`, the API serves HTTPS only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

/// Mempool bounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Most pending transactions.
    #[serde(default = "default_mempool_txs")]
    pub max_txs: usize,
    /// Most pending bytes.
    #[serde(default = "default_mempool_bytes")]
    pub max_bytes: usize,
}

fn default_name() -> String {
    "node".into()
}
fn default_signing_state() -> PathBuf {
    "signing_state.json".into()
}
fn default_genesis() -> PathBuf {
    "genesis.json".into()
}
fn default_key() -> PathBuf {
    "node.key".into()
}
fn default_data() -> PathBuf {
    "data".into()
}
fn default_p2p_listen() -> String {
    "/ip4/0.0.0.0/tcp/7170".into()
}
fn default_api_listen() -> String {
    "127.0.0.1:7070".into()
}
fn default_max_connections() -> usize {
    512
}
fn default_max_body() -> usize {
    8 * 1024 * 1024
}
fn default_mempool_txs() -> usize {
    100_000
}
fn default_state_versions() -> u64 {
    10_000
}
fn default_cache_mb() -> u64 {
    crate::storage::DEFAULT_CACHE_BYTES >> 20
}
fn default_mempool_bytes() -> usize {
    128 * 1024 * 1024
}

impl Default for P2pConfig {
    fn default() -> Self {
        P2pConfig {
            listen: default_p2p_listen(),
            peers: Vec::new(),
            full_nodes: Vec::new(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: default_api_listen(),
            max_connections: default_max_connections(),
            max_body_bytes: default_max_body(),
            metrics_listen: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_txs: default_mempool_txs(),
            max_bytes: default_mempool_bytes(),
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            name: default_name(),
            genesis_file: default_genesis(),
            key_file: default_key(),
            data_dir: default_data(),
            signing_state_file: default_signing_state(),
            p2p: P2pConfig::default(),
            api: ApiConfig::default(),
            mempool: MempoolConfig::default(),
            storage: StorageConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

/// A configuration problem, naming the file and field.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

/// Parsed and checked network settings.
#[derive(Debug, Clone)]
pub struct Checked {
    /// p2p listen address.
    pub p2p_listen: Multiaddr,
    /// Extra dial targets.
    pub peers: Vec<(PeerId, Multiaddr)>,
    /// Allowed full nodes.
    pub full_nodes: Vec<PeerId>,
    /// API address.
    pub api_listen: SocketAddr,
    /// Separate `/metrics` address, if any.
    pub metrics_listen: Option<SocketAddr>,
}

impl NodeConfig {
    /// Reads `home/config.toml`.
    pub fn load(home: &Path) -> Result<NodeConfig, ConfigError> {
        let file = home.join("config.toml");
        let err = |message: String| ConfigError {
            file: file.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(&file).map_err(|e| err(format!("cannot read: {e}")))?;
        toml::from_str(&text).map_err(|e| err(e.to_string().trim().replace('\n', " ")))
    }

    /// Checks the fields that need parsing, naming the bad one.
    pub fn check(&self, file: &Path) -> Result<Checked, ConfigError> {
        let err = |field: &str, message: String| ConfigError {
            file: file.display().to_string(),
            message: format!("field `{field}`: {message}"),
        };
        let p2p_listen: Multiaddr = self.p2p.listen.parse().map_err(|e| {
            err(
                "p2p.listen",
                format!("{:?} is not a multiaddr: {e}", self.p2p.listen),
            )
        })?;
        let mut peers = Vec::new();
        for p in &self.p2p.peers {
            let addr: Multiaddr = p
                .parse()
                .map_err(|e| err("p2p.peers", format!("{p:?} is not a multiaddr: {e}")))?;
            let peer = addr
                .iter()
                .find_map(|proto| match proto {
                    libp2p::multiaddr::Protocol::P2p(id) => Some(id),
                    _ => None,
                })
                .ok_or_else(|| err("p2p.peers", format!("{p:?} must end in /p2p/<PeerId>")))?;
            peers.push((peer, addr));
        }
        let full_nodes = self
            .p2p
            .full_nodes
            .iter()
            .map(|p| {
                p.parse::<PeerId>()
                    .map_err(|e| err("p2p.full_nodes", format!("{p:?} is not a PeerId: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let api_listen = self.api.listen.parse().map_err(|e| {
            err(
                "api.listen",
                format!("{:?} is not host:port: {e}", self.api.listen),
            )
        })?;
        if self.api.max_connections == 0 {
            return Err(err("api.max_connections", "must be at least 1".into()));
        }
        if self.api.max_body_bytes < 4096 {
            return Err(err("api.max_body_bytes", "must be at least 4096".into()));
        }
        if self.mempool.max_txs == 0 || self.mempool.max_bytes < 4096 {
            return Err(err(
                "mempool",
                "max_txs must be at least 1 and max_bytes at least 4096".into(),
            ));
        }
        if !(8..=65_536).contains(&self.storage.cache_mb) {
            return Err(err(
                "storage.cache_mb",
                format!("must be between 8 and 65536, not {}", self.storage.cache_mb),
            ));
        }
        if !(100..=60_000).contains(&self.audit.ship_interval_ms) {
            return Err(err(
                "audit.ship_interval_ms",
                format!(
                    "must be between 100 and 60000, not {}",
                    self.audit.ship_interval_ms
                ),
            ));
        }
        if self.api.tls_cert.is_some() != self.api.tls_key.is_some() {
            return Err(err(
                "api.tls_cert",
                "tls_cert and tls_key go together: set both for HTTPS, or neither".into(),
            ));
        }
        let metrics_listen =
            match &self.api.metrics_listen {
                None => None,
                Some(a) => Some(a.parse().map_err(|e| {
                    err("api.metrics_listen", format!("{a:?} is not host:port: {e}"))
                })?),
            };
        Ok(Checked {
            p2p_listen,
            peers,
            full_nodes,
            api_listen,
            metrics_listen,
        })
    }
}

/// Reads a key file: the 32-byte ed25519 secret as 64 hex characters.
pub fn read_key(path: &Path) -> Result<deltachain_protocol::Keypair, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
    deltachain_protocol::Keypair::from_key_file(&text).map_err(|_| {
        format!(
            "key file {} must hold 64 hex characters (an ed25519 secret)",
            path.display()
        )
    })
}

/// Writes a key file with mode 0600, refusing to overwrite one.
pub fn write_key(path: &Path, key: &deltachain_protocol::Keypair) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create key file {}: {e}", path.display()))?;
    f.write_all(key.to_key_file().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A fresh random key from the operating system.
pub fn random_key() -> Result<deltachain_protocol::Keypair, String> {
    use std::io::Read;
    let mut secret = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut secret))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(deltachain_protocol::Keypair::from_secret(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults_and_typos_are_errors() {
        let c: NodeConfig = toml::from_str("").unwrap();
        assert_eq!(c.api.listen, "127.0.0.1:7070");
        assert_eq!(c.storage.cache_mb, 128);
        let c: NodeConfig = toml::from_str("[storage]\ncache_mb = 256").unwrap();
        assert_eq!(c.storage.cache_mb, 256);
        let e = toml::from_str::<NodeConfig>("[api]\nlisen = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lisen"), "{e}");
    }

    #[test]
    fn bad_values_name_the_field() {
        let mut c = NodeConfig::default();
        c.p2p.listen = "127.0.0.1:7170".into();
        let e = c.check(Path::new("config.toml")).unwrap_err().to_string();
        assert!(e.contains("p2p.listen"), "{e}");
        let mut c = NodeConfig::default();
        c.storage.cache_mb = 0;
        let e = c.check(Path::new("config.toml")).unwrap_err().to_string();
        assert!(e.contains("storage.cache_mb"), "{e}");
        let mut c = NodeConfig::default();
        c.p2p.peers = vec!["/ip4/127.0.0.1/tcp/1".into()];
        assert!(c
            .check(Path::new("c"))
            .unwrap_err()
            .to_string()
            .contains("/p2p/"));
        let mut c = NodeConfig::default();
        c.api.listen = "localhost".into();
        assert!(c
            .check(Path::new("c"))
            .unwrap_err()
            .to_string()
            .contains("api.listen"));
    }
}
