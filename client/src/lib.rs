//! # deltachain-client
//!
//! What a bank, IP office or regulator needs to use Deltachain from its own
//! systems: a typed async client for every route of the node's HTTP API
//! ([`Client`]), key loading and transaction signing, builders that validate
//! each record before it is signed ([`records`]), [`Client::submit_and_wait`]
//! that follows a transaction to its receipt, and proof verification against
//! a genesis file ([`verify`]), so an answer can be trusted without trusting
//! the node that gave it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), deltachain_client::ClientError> {
//! use deltachain_client::{records, Client};
//! let client = Client::new("http://127.0.0.1:7070")?;
//! let key = deltachain_client::load_key("members/bank-shanghai.key".as_ref())?;
//! let pledge = records::ip_pledge("ZL201710601862.3", "5000000.00", "PL-2026-0042", "2027-06-30")?;
//! let done = client.submit_and_wait(&key, pledge, std::time::Duration::from_secs(30)).await?;
//! println!("{:?} {:?}", done.receipt.outcome, done.receipt.reason);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod import;
pub mod records;
pub mod render;
pub mod verify;

use std::path::Path;
use std::time::Duration;

use deltachain_protocol::state::{ProvenCredit, StateAnswer};
use deltachain_protocol::{
    BlockHeader, CommitCertificate, Hash, Keypair, Payload, PublicKey, Purpose, Receipt,
    SignedTransaction, Transaction,
};
use serde::Deserialize;
use serde_json::Value;

/// What went wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached.
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable {
        /// Node URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The node answered with an error.
    #[error("the node refused: {message} ({code}, HTTP {status})")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Human message.
        message: String,
    },
    /// The answer did not have the expected shape.
    #[error("unexpected answer from the node: {0}")]
    Decode(String),
    /// Bad input from the caller (before anything was sent).
    #[error("{0}")]
    Input(String),
    /// The transaction was submitted (or may have been), but whether it was
    /// committed could not be learned before the timeout: the node stayed
    /// unreachable or still reported it pending. Resubmitting the same signed
    /// transaction is safe; it has one hash and is applied at most once.
    #[error("outcome unknown: check with `deltachain tx {hash}` ({why})")]
    OutcomeUnknown {
        /// The transaction.
        hash: Hash,
        /// What was last learned.
        why: String,
    },
}

impl ClientError {
    /// True if the node was unreachable (exit code 3 in the CLI).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }

    /// A stable code for machine-readable errors (`--json`).
    pub fn code(&self) -> &str {
        match self {
            ClientError::Unreachable { .. } => "unreachable",
            ClientError::Api { code, .. } => code,
            ClientError::Decode(_) => "bad_answer",
            ClientError::Input(_) => "usage",
            ClientError::OutcomeUnknown { .. } => "outcome_unknown",
        }
    }
}

/// Reads a key file (64 hex characters of an ed25519 secret).
pub fn load_key(path: &Path) -> Result<Keypair, ClientError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ClientError::Input(format!("cannot read key file {}: {e}", path.display())))?;
    Keypair::from_key_file(&text).map_err(|_| {
        ClientError::Input(format!(
            "key file {} must hold 64 hex characters (an ed25519 secret)",
            path.display()
        ))
    })
}

/// Writes a new key file with mode 0600; refuses to overwrite.
pub fn write_new_key(path: &Path) -> Result<Keypair, ClientError> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let mut secret = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut secret))
        .map_err(|e| ClientError::Input(format!("cannot read /dev/urandom: {e}")))?;
    let key = Keypair::from_secret(secret);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            ClientError::Input(format!("cannot create key file {}: {e}", path.display()))
        })?;
    f.write_all(key.to_key_file().as_bytes())
        .map_err(|e| ClientError::Input(format!("cannot write {}: {e}", path.display())))?;
    Ok(key)
}

/// `GET /v1/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    /// Chain id.
    pub chain_id: String,
    /// Node name.
    pub node: String,
    /// Committed height.
    pub height: u64,
    /// Tip hash.
    pub latest_block_hash: Hash,
    /// Connected peers.
    pub peers: usize,
    /// Catching up.
    pub syncing: bool,
    /// Everything else the node reports.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// `GET /v1/accounts/{key}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// The key.
    pub public_key: PublicKey,
    /// Membership, if any.
    pub member: Option<Value>,
    /// Last committed nonce.
    pub committed_nonce: u64,
    /// Nonce to use next (after pending ones).
    pub next_nonce: u64,
}

/// Splits a server-sent-event stream into its events' JSON data: appends
/// `chunk` to `buf` and returns the data of every complete event in it.
/// The buffer is bounded: an event stream that never ends an event is
/// dropped rather than grown without limit.
pub fn sse_events(buf: &mut String, chunk: &[u8]) -> Vec<Value> {
    buf.push_str(&String::from_utf8_lossy(chunk));
    let mut out = Vec::new();
    while let Some(pos) = buf.find("\n\n") {
        let event: String = buf.drain(..pos + 2).collect();
        if let Some(v) = event
            .lines()
            .find_map(|l| l.strip_prefix("data:"))
            .and_then(|d| serde_json::from_str::<Value>(d.trim()).ok())
        {
            out.push(v);
        }
    }
    if buf.len() > MAX_SSE_BUFFER {
        buf.clear();
    }
    out
}

/// Largest unfinished event kept by [`sse_events`].
pub const MAX_SSE_BUFFER: usize = 64 << 20;

/// What the node said of one transaction of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// In the mempool (just admitted, or already there).
    Pending,
    /// Already committed, applied or rejected.
    Committed {
        /// True if applied.
        applied: bool,
    },
    /// Refused at admission.
    Refused {
        /// Stable code.
        code: String,
        /// Why.
        message: String,
    },
}

/// `GET /v1/txs/{hash}`.
#[derive(Debug, Clone, Deserialize)]
pub struct TxStatus {
    /// Hash.
    pub tx_hash: Hash,
    /// `pending` or `committed`.
    pub status: String,
    /// Height, once committed.
    pub height: Option<u64>,
    /// Index in the block.
    pub index: Option<u32>,
    /// Receipt, once committed.
    pub receipt: Option<Receipt>,
    /// Decoded transaction.
    pub tx: Value,
}

/// `GET /v1/txs/{hash}/proof`.
#[derive(Debug, Clone, Deserialize)]
pub struct TxProof {
    /// Hash.
    pub tx_hash: Hash,
    /// Height.
    pub height: u64,
    /// Index.
    pub index: u32,
    /// Hex of the canonical transaction bytes; absent when the transaction
    /// carries enterprise data and the caller is not its sender (the proof
    /// then shows that the hash is committed, not what it holds).
    pub tx: Option<String>,
    /// The receipt.
    pub receipt: Receipt,
    /// Inclusion of the transaction hash under `header.tx_root`.
    pub tx_proof: deltachain_protocol::merkle::InclusionProof,
    /// Inclusion of the receipt hash under `header.results_root`.
    pub receipt_proof: deltachain_protocol::merkle::InclusionProof,
    /// Block header.
    pub header: BlockHeader,
    /// Block hash.
    pub block_hash: Hash,
    /// Commit certificate.
    pub certificate: CommitCertificate,
}

/// The outcome of [`Client::submit_and_wait`].
#[derive(Debug, Clone)]
pub struct Committed {
    /// Hash.
    pub tx_hash: Hash,
    /// Height.
    pub height: u64,
    /// Receipt.
    pub receipt: Receipt,
}

/// Typed client for one node.
///
/// With a key ([`Client::with_key`]) every request carries an RFC 9421
/// signature by that key: `@method`, `@path`, `@query`, the body's
/// `content-digest` and the purpose header when there are any, valid for
/// [`SIGNATURE_VALIDITY_SECS`] with a fresh nonce. Without one, only the
/// public routes answer.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    key: Option<std::sync::Arc<Keypair>>,
    /// The node's chain id and key, learned once, for the signature's
    /// `tag` (a signed request is then valid at this node only).
    target: std::sync::Arc<std::sync::OnceLock<String>>,
}

/// How long a request signature stays valid.
pub const SIGNATURE_VALIDITY_SECS: i64 = 60;

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorInner,
}

#[derive(Deserialize)]
struct ErrorInner {
    code: String,
    message: String,
}

/// A nonce unique to this process: a random prefix read once and a counter.
fn next_nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        use std::io::Read;
        let mut b = [0u8; 12];
        let got = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
        if got.is_err() {
            // No /dev/urandom: time and pid still make a collision within
            // one key's 60-second window practically impossible.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            b[..8].copy_from_slice(&(t as u64).to_le_bytes());
            b[8..].copy_from_slice(&std::process::id().to_le_bytes());
        }
        hex::encode(b)
    });
    format!("{prefix}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl Client {
    /// A client for the node at `base` (`http://127.0.0.1:7070` or
    /// `https://...`), trusting the system's root certificates.
    pub fn new(base: &str) -> Result<Client, ClientError> {
        Client::with_ca(base, None)
    }

    /// A client that also trusts the PEM certificate(s) in `ca`, for a
    /// consortium that runs its own certificate authority.
    pub fn with_ca(base: &str, ca: Option<&Path>) -> Result<Client, ClientError> {
        let base = base.trim().trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(ClientError::Input(format!(
                "--node {:?} must be a URL like http://127.0.0.1:7070 or https://node.example:7443",
                deltachain_protocol::validate::truncate(&base)
            )));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5));
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).map_err(|e| {
                ClientError::Input(format!("cannot read CA file {}: {e}", ca.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ClientError::Input(format!(
                    "CA file {} holds no PEM certificate: {e}",
                    ca.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(ClientError::Input(format!(
                    "CA file {} holds no PEM certificate",
                    ca.display()
                )));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Input(e.to_string()))?;
        Ok(Client {
            base,
            http,
            key: None,
            target: Default::default(),
        })
    }

    /// The same client, signing every request with `key`.
    pub fn with_key(mut self, key: Keypair) -> Client {
        self.key = Some(std::sync::Arc::new(key));
        self
    }

    /// The signing key's public half, if any.
    pub fn public_key(&self) -> Option<PublicKey> {
        self.key.as_ref().map(|k| k.public())
    }

    /// The node URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        let mut reason = e.to_string();
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = src {
            reason = format!("{reason}: {s}");
            src = s.source();
        }
        ClientError::Unreachable {
            url: self.base.clone(),
            reason,
        }
    }

    async fn handle(&self, resp: reqwest::Response) -> Result<Value, ClientError> {
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => Err(ClientError::Api {
                status: status.as_u16(),
                code: b.error.code,
                message: b.error.message,
            }),
            Err(_) => Err(ClientError::Api {
                status: status.as_u16(),
                code: "http_error".into(),
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            }),
        }
    }

    /// Builds a request, signed when the client has a key.
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
        purpose: Option<Purpose>,
    ) -> Result<reqwest::RequestBuilder, ClientError> {
        let url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| ClientError::Input(format!("bad URL for {path}: {e}")))?;
        let mut headers: Vec<(&'static str, String)> = Vec::new();
        if let Some(p) = purpose {
            headers.push((deltachain_protocol::httpsig::PURPOSE_HEADER, p.to_string()));
        }
        if let Some(b) = &body {
            headers.push(("content-type", "application/json".into()));
            headers.push((
                "content-digest",
                deltachain_protocol::httpsig::content_digest(b),
            ));
        }
        let mut req = self.http.request(method.clone(), url.clone());
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        if let Some(key) = &self.key {
            let lookup = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            };
            let authority = url.authority().to_string();
            let r = deltachain_protocol::httpsig::Request {
                method: method.as_str(),
                authority: &authority,
                path: url.path(),
                query: url.query(),
                header: &lookup,
            };
            let covered: Vec<&str> = headers
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| *k != "content-type")
                .collect();
            let created = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let sig = deltachain_protocol::httpsig::sign_tagged(
                key,
                &r,
                &covered,
                created,
                SIGNATURE_VALIDITY_SECS,
                &next_nonce(),
                self.target.get().map(String::as_str),
            )
            .map_err(|e| ClientError::Input(format!("cannot sign the request: {e}")))?;
            req = req
                .header("signature-input", sig.signature_input)
                .header("signature", sig.signature);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        Ok(req)
    }

    /// GET a path, returning JSON.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.get_for(path, None).await
    }

    /// Learns the node's chain id and key once (from the public status
    /// route), so that signatures name their target.
    async fn learn_target(&self) -> Result<(), ClientError> {
        if self.key.is_none() || self.target.get().is_some() {
            return Ok(());
        }
        let resp = self
            .http
            .get(format!("{}/v1/status", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let v = self.handle(resp).await?;
        let chain = v["chain_id"].as_str().unwrap_or_default();
        let node = v["node_key"]
            .as_str()
            .and_then(|k| PublicKey::from_hex(k).ok());
        if !chain.is_empty() {
            let _ = self.target.set(deltachain_protocol::httpsig::target_tag(
                chain,
                node.as_ref(),
            ));
        }
        Ok(())
    }

    /// GET a path with a signed purpose (reads of enterprise data).
    pub async fn get_for(
        &self,
        path: &str,
        purpose: Option<Purpose>,
    ) -> Result<Value, ClientError> {
        self.learn_target().await?;
        let resp = self
            .request(reqwest::Method::GET, path, None, purpose)?
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.handle(resp).await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.learn_target().await?;
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Input(e.to_string()))?;
        let resp = self
            .request(reqwest::Method::POST, path, Some(bytes), None)?
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.handle(resp).await
    }

    fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ClientError> {
        serde_json::from_value(v).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<Status, ClientError> {
        Self::typed(self.get("/v1/status").await?)
    }

    /// `GET /v1/accounts/{key}`.
    pub async fn account(&self, key: &PublicKey) -> Result<Account, ClientError> {
        Self::typed(self.get(&format!("/v1/accounts/{key}")).await?)
    }

    /// `POST /v1/txs`.
    pub async fn submit(&self, tx: &SignedTransaction) -> Result<Hash, ClientError> {
        let v = self
            .post(
                "/v1/txs",
                &serde_json::json!({"tx": hex::encode(tx.encode())}),
            )
            .await?;
        Self::typed::<HashOnly>(v).map(|h| h.tx_hash)
    }

    /// `POST /v1/txs/batch`: one result per transaction.
    pub async fn submit_batch(
        &self,
        txs: &[SignedTransaction],
    ) -> Result<Vec<Result<Hash, ClientError>>, ClientError> {
        if txs.is_empty() {
            return Ok(Vec::new());
        }
        let body = serde_json::json!({"txs": txs.iter().map(|t| hex::encode(t.encode())).collect::<Vec<_>>()});
        let v = self.post("/v1/txs/batch", &body).await?;
        let results = v
            .get("results")
            .and_then(|r| r.as_array())
            .ok_or_else(|| ClientError::Decode("batch answer lacks results".into()))?;
        Ok(results
            .iter()
            .map(|r| match serde_json::from_value::<HashOnly>(r.clone()) {
                Ok(h) => Ok(h.tx_hash),
                Err(_) => {
                    let e: Result<ErrorBody, _> = serde_json::from_value(r.clone());
                    Err(match e {
                        Ok(b) => ClientError::Api {
                            status: 400,
                            code: b.error.code,
                            message: b.error.message,
                        },
                        Err(e) => ClientError::Decode(e.to_string()),
                    })
                }
            })
            .collect())
    }

    /// `POST /v1/txs/batch`, keeping what the node knows of each
    /// transaction: admitted, already pending, already committed (with its
    /// outcome), or refused.
    pub async fn submit_batch_status(
        &self,
        txs: &[SignedTransaction],
    ) -> Result<Vec<Admission>, ClientError> {
        if txs.is_empty() {
            return Ok(Vec::new());
        }
        let body = serde_json::json!({"txs": txs.iter().map(|t| hex::encode(t.encode())).collect::<Vec<_>>()});
        let v = self.post("/v1/txs/batch", &body).await?;
        let results = v
            .get("results")
            .and_then(|r| r.as_array())
            .ok_or_else(|| ClientError::Decode("batch answer lacks results".into()))?;
        if results.len() != txs.len() {
            return Err(ClientError::Decode(format!(
                "batch of {} answered with {} results",
                txs.len(),
                results.len()
            )));
        }
        Ok(results
            .iter()
            .map(|r| {
                if let Some(e) = r.get("error") {
                    return Admission::Refused {
                        code: e["code"].as_str().unwrap_or("unknown").to_string(),
                        message: e["message"].as_str().unwrap_or("").to_string(),
                    };
                }
                match (r["status"].as_str(), r["outcome"].as_str()) {
                    (Some("committed"), Some(o)) => Admission::Committed {
                        applied: o == "applied",
                    },
                    _ => Admission::Pending,
                }
            })
            .collect())
    }

    /// `GET /v1/txs/{hash}`.
    pub async fn tx(&self, hash: &Hash) -> Result<TxStatus, ClientError> {
        Self::typed(self.get(&format!("/v1/txs/{hash}")).await?)
    }

    /// `GET /v1/txs/{hash}/proof`.
    pub async fn proof(&self, hash: &Hash) -> Result<TxProof, ClientError> {
        Self::typed(self.get(&format!("/v1/txs/{hash}/proof")).await?)
    }

    /// `GET /v1/blocks/{height}` or `latest`.
    pub async fn block(&self, id: &str) -> Result<Value, ClientError> {
        self.get(&format!("/v1/blocks/{id}")).await
    }

    /// `GET /v1/enterprises/{uscc}`: every city's records, for a reader the
    /// enterprise consented to (for `purpose`), a regulator or the
    /// enterprise itself.
    pub async fn enterprise(
        &self,
        uscc: &str,
        purpose: Purpose,
        offset: usize,
        limit: usize,
    ) -> Result<Value, ClientError> {
        self.get_for(
            &format!("/v1/enterprises/{uscc}?offset={offset}&limit={limit}"),
            Some(purpose),
        )
        .await
    }

    /// `GET /v1/enterprises/{uscc}?own=true`: only the records this
    /// client's key reported itself (no consent needed).
    pub async fn enterprise_own(
        &self,
        uscc: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Value, ClientError> {
        self.get(&format!(
            "/v1/enterprises/{uscc}?own=true&offset={offset}&limit={limit}"
        ))
        .await
    }

    /// `GET /v1/enterprises/{uscc}/queries`: who read the enterprise's data
    /// (for the enterprise itself and regulators).
    pub async fn queries(
        &self,
        uscc: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Value, ClientError> {
        self.get(&format!(
            "/v1/enterprises/{uscc}/queries?offset={offset}&limit={limit}"
        ))
        .await
    }

    /// `GET /v1/queries?requester=KEY`: one requester's reads (regulators,
    /// or the requester itself).
    pub async fn queries_by(
        &self,
        requester: &PublicKey,
        offset: usize,
        limit: usize,
    ) -> Result<Value, ClientError> {
        self.get(&format!(
            "/v1/queries?requester={requester}&offset={offset}&limit={limit}"
        ))
        .await
    }

    /// `GET /v1/receivables/{id}`: a receivable or part with its history.
    pub async fn receivable(&self, id: &str, purpose: Purpose) -> Result<Value, ClientError> {
        self.get_for(&format!("/v1/receivables/{id}"), Some(purpose))
            .await
    }

    /// `GET /v1/enterprises/{uscc}/receivables`.
    pub async fn enterprise_receivables(
        &self,
        uscc: &str,
        purpose: Purpose,
    ) -> Result<Value, ClientError> {
        self.get_for(
            &format!("/v1/enterprises/{uscc}/receivables"),
            Some(purpose),
        )
        .await
    }

    /// `GET /v1/enterprises/{uscc}/report`: the enterprise's whole picture.
    pub async fn report(&self, uscc: &str, purpose: Purpose) -> Result<Value, ClientError> {
        self.get_for(&format!("/v1/enterprises/{uscc}/report"), Some(purpose))
            .await
    }

    /// `GET /v1/objections`: open ones (or `overdue` only), or one
    /// enterprise's.
    pub async fn objections(
        &self,
        overdue: bool,
        enterprise: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<Value, ClientError> {
        let mut path = format!("/v1/objections?overdue={overdue}&offset={offset}&limit={limit}");
        if let Some(e) = enterprise {
            path.push_str(&format!("&enterprise={e}"));
        }
        self.get(&path).await
    }

    /// `GET /v1/uscc-exceptions/{code}`: whether a regulator admitted a
    /// pilot-era code.
    pub async fn uscc_exception(&self, code: &str) -> Result<Option<Value>, ClientError> {
        match self.get(&format!("/v1/uscc-exceptions/{code}")).await {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/consents/{id}`.
    pub async fn consent(&self, id: &str) -> Result<Value, ClientError> {
        self.get(&format!("/v1/consents/{id}")).await
    }

    /// `GET /v1/ip/{ip_id}`.
    pub async fn ip(&self, ip_id: &str) -> Result<Value, ClientError> {
        self.get(&format!("/v1/ip/{ip_id}")).await
    }

    /// `GET /v1/ip/{ip_id}?proof=true[&height=H]`: the answer and its
    /// state proof (check it with [`verify::verify_ip`]).
    pub async fn ip_proven(
        &self,
        ip_id: &str,
        height: Option<u64>,
    ) -> Result<(Value, StateAnswer), ClientError> {
        let v = self
            .get(&format!("/v1/ip/{ip_id}?proof=true{}", at(height)))
            .await?;
        let proof = Self::typed(v["proof"].clone())?;
        Ok((v, proof))
    }

    /// `GET /v1/members/{key}?proof=true[&height=H]`.
    pub async fn member_proven(
        &self,
        key: &PublicKey,
        height: Option<u64>,
    ) -> Result<(Value, StateAnswer), ClientError> {
        let v = self
            .get(&format!("/v1/members/{key}?proof=true{}", at(height)))
            .await?;
        let proof = Self::typed(v["proof"].clone())?;
        Ok((v, proof))
    }

    /// `GET /v1/enterprises/{uscc}?proof=true[&height=H]`: every credit
    /// record of the enterprise at a height and the proof of the
    /// commitment they recompute to (check with
    /// [`verify::verify_enterprise`]). Access and audit are those of the
    /// read itself.
    pub async fn enterprise_proven(
        &self,
        uscc: &str,
        purpose: Purpose,
        height: Option<u64>,
    ) -> Result<(Vec<ProvenCredit>, StateAnswer), ClientError> {
        let v = self
            .get_for(
                &format!("/v1/enterprises/{uscc}?proof=true{}", at(height)),
                Some(purpose),
            )
            .await?;
        let records = Self::typed(v["credit_records"].clone())?;
        let proof = Self::typed(v["proof"].clone())?;
        Ok((records, proof))
    }

    /// `GET /v1/events`: the server-sent event stream of committed blocks
    /// (signed, so a member sees its own receipts and a regulator all).
    /// The response streams until the node closes it.
    pub async fn events(&self) -> Result<reqwest::Response, ClientError> {
        self.learn_target().await?;
        let resp = self
            .request(reqwest::Method::GET, "/v1/events", None, None)?
            .timeout(Duration::from_secs(7 * 24 * 3600))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(self
                .handle(resp)
                .await
                .err()
                .unwrap_or(ClientError::Decode("the event stream was refused".into())));
        }
        Ok(resp)
    }

    /// `GET /v1/validators`.
    pub async fn validators(&self) -> Result<Value, ClientError> {
        self.get("/v1/validators").await
    }

    /// `GET /v1/members`.
    pub async fn members(&self) -> Result<Value, ClientError> {
        self.get("/v1/members").await
    }

    /// Signs `payload` with the next nonce and the node's chain id.
    pub async fn sign(
        &self,
        key: &Keypair,
        payload: Payload,
    ) -> Result<SignedTransaction, ClientError> {
        payload
            .validate()
            .map_err(|e| ClientError::Input(format!("invalid {e}")))?;
        let signer = self.signed_by(key);
        let status = signer.status().await?;
        let account = signer.account(&key.public()).await?;
        Ok(Transaction {
            chain_id: status.chain_id,
            sender: key.public(),
            nonce: account.next_nonce,
            payload,
        }
        .sign(key))
    }

    /// Signs, submits and follows a transaction until it is committed.
    pub async fn submit_and_wait(
        &self,
        key: &Keypair,
        payload: Payload,
        timeout: Duration,
    ) -> Result<Committed, ClientError> {
        let tx = self.sign(key, payload).await?;
        self.signed_by(key)
            .follow(&tx, tokio::time::Instant::now() + timeout)
            .await
    }

    /// This client signing with `key` (itself if it already does).
    fn signed_by(&self, key: &Keypair) -> Client {
        match &self.key {
            Some(k) if k.public() == key.public() => self.clone(),
            _ => self.clone().with_key(key.clone()),
        }
    }

    /// Submits `tx` and follows it to its receipt until `deadline`, through
    /// dropped connections and node restarts: a node that restarted and
    /// lost its mempool gets the same signed transaction again (it can be
    /// applied only once). The client must sign with the sender's key (or a
    /// regulator's) to read the receipt.
    pub async fn follow(
        &self,
        tx: &SignedTransaction,
        deadline: tokio::time::Instant,
    ) -> Result<Committed, ClientError> {
        let hash = self.submit_until(tx, deadline).await?;
        loop {
            if let Some(done) = self.poll(&hash, deadline, true).await? {
                return Ok(done);
            }
            // Unknown to the node: give it the transaction again.
            match self.submit(tx).await {
                Ok(_) | Err(ClientError::Unreachable { .. }) => {}
                Err(e) => return Err(e),
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Submits `tx`, and submits it again while the node cannot be reached,
    /// until `deadline`. Safe because a signed transaction has one hash and
    /// the node answers a resubmission with its status instead of applying
    /// it twice. If the node never answered, the outcome is unknown: the
    /// first attempt may have arrived before the connection dropped.
    pub async fn submit_until(
        &self,
        tx: &SignedTransaction,
        deadline: tokio::time::Instant,
    ) -> Result<Hash, ClientError> {
        let hash = tx.hash();
        loop {
            match self.submit(tx).await {
                Ok(h) => return Ok(h),
                Err(ClientError::Unreachable { reason, .. }) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(ClientError::OutcomeUnknown {
                            hash,
                            why: format!("the node could not be reached to submit it: {reason}"),
                        });
                    }
                }
                // A full mempool asks us to come back later.
                Err(ClientError::Api { status: 503, .. })
                    if tokio::time::Instant::now() < deadline => {}
                Err(e) => return Err(e),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Polls until a transaction is committed, riding out a node that
    /// restarts or drops connections meanwhile. Gives up with
    /// [`ClientError::OutcomeUnknown`] at the timeout.
    pub async fn wait(&self, hash: &Hash, timeout: Duration) -> Result<Committed, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        match self.poll(hash, deadline, false).await? {
            Some(done) => Ok(done),
            None => unreachable!("poll returns None only when asked to stop on unknown"),
        }
    }

    /// Polls until committed (`Some`), until the node does not know the
    /// hash (`None`, only with `stop_on_unknown`), or until `deadline`.
    async fn poll(
        &self,
        hash: &Hash,
        deadline: tokio::time::Instant,
        stop_on_unknown: bool,
    ) -> Result<Option<Committed>, ClientError> {
        let mut last;
        loop {
            match self.tx(hash).await {
                Ok(TxStatus {
                    status,
                    height: Some(height),
                    receipt: Some(receipt),
                    ..
                }) if status == "committed" => {
                    return Ok(Some(Committed {
                        tx_hash: *hash,
                        height,
                        receipt,
                    }));
                }
                Ok(_) => last = "the node still reports it pending".to_string(),
                Err(ClientError::Api { status: 404, .. }) => {
                    if stop_on_unknown && tokio::time::Instant::now() < deadline {
                        return Ok(None);
                    }
                    last = "the node knows neither a pending nor a committed transaction with this hash".into();
                }
                Err(ClientError::Unreachable { reason, .. }) => {
                    last = format!("the node could not be reached: {reason}")
                }
                Err(e) => return Err(e),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::OutcomeUnknown {
                    hash: *hash,
                    why: last,
                });
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
}

#[derive(Deserialize)]
struct HashOnly {
    tx_hash: Hash,
}

fn at(height: Option<u64>) -> String {
    height.map(|h| format!("&height={h}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_streams_split_across_chunks() {
        let mut buf = String::new();
        assert!(sse_events(&mut buf, b"event: block\ndata: {\"height\"").is_empty());
        let v = sse_events(
            &mut buf,
            b": 7}\n\nevent: block\ndata: {\"height\": 8}\n\n: keep-alive\n\n",
        );
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0]["height"].as_u64(), v[1]["height"].as_u64()),
            (Some(7), Some(8))
        );
        assert!(buf.is_empty());
        // Not JSON: skipped, not fatal.
        assert!(sse_events(&mut buf, b"data: {oops\n\n").is_empty());
    }
}
