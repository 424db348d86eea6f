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

pub mod records;
pub mod verify;

use std::path::Path;
use std::time::Duration;

use deltachain_protocol::{
    BlockHeader, CommitCertificate, Hash, Keypair, Payload, PublicKey, Receipt, SignedTransaction,
    Transaction,
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
    /// Hex of the canonical transaction bytes.
    pub tx: String,
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
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorInner,
}

#[derive(Deserialize)]
struct ErrorInner {
    code: String,
    message: String,
}

impl Client {
    /// A client for the node at `base` (e.g. `http://127.0.0.1:7070`).
    pub fn new(base: &str) -> Result<Client, ClientError> {
        let base = base.trim().trim_end_matches('/').to_string();
        if base.starts_with("https://") {
            return Err(ClientError::Input(format!(
                "--node {:?}: HTTPS is not supported yet; use the node's http:// address (TLS is planned)",
                deltachain_protocol::validate::truncate(&base)
            )));
        }
        if !base.starts_with("http://") {
            return Err(ClientError::Input(format!(
                "--node {:?} must be a URL like http://127.0.0.1:7070",
                deltachain_protocol::validate::truncate(&base)
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ClientError::Input(e.to_string()))?;
        Ok(Client { base, http })
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

    /// GET a path, returning JSON.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.handle(resp).await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
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

    /// `GET /v1/enterprises/{uscc}`.
    pub async fn enterprise(
        &self,
        uscc: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Value, ClientError> {
        self.get(&format!(
            "/v1/enterprises/{uscc}?offset={offset}&limit={limit}"
        ))
        .await
    }

    /// `GET /v1/ip/{ip_id}`.
    pub async fn ip(&self, ip_id: &str) -> Result<Value, ClientError> {
        self.get(&format!("/v1/ip/{ip_id}")).await
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
        let status = self.status().await?;
        let account = self.account(&key.public()).await?;
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
        self.follow(&tx, tokio::time::Instant::now() + timeout)
            .await
    }

    /// Submits `tx` and follows it to its receipt until `deadline`, through
    /// dropped connections and node restarts: a node that restarted and
    /// lost its mempool gets the same signed transaction again (it can be
    /// applied only once).
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
