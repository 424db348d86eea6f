//! The HTTP/JSON API (axum), server-sent events and Prometheus metrics.
//!
//! Routes are listed in [`openapi::document`], served at `/v1/openapi.json`.
//! Every error is `{"error": {"code", "message"}}` with a 4xx status for
//! anything a client did wrong: bad JSON, bad hex, undecodable bytes,
//! oversized bodies, bad signatures, unknown senders, wrong chain ids, stale
//! nonces, invalid USCCs or patent numbers, unknown routes. A full mempool
//! is 503 with `Retry-After`. 500 is reserved for our own storage failing.
//!
//! Request bodies are bounded by `api.max_body_bytes` and concurrent
//! connections by `api.max_connections` (further connections wait in the
//! kernel's accept queue). All read routes are built in [`read_routes`], the
//! one place an authentication and consent layer will wrap.

mod openapi;
pub mod views;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use deltachain_protocol::{merkle, validate, Date, Hash, PublicKey};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::config::ApiConfig;
use crate::mempool::AdmitError;
use crate::node::Shared;
use crate::storage::StoreError;
use views::Names;

/// Most transactions in one batch request.
pub const MAX_BATCH_TXS: usize = 10_000;
/// Most credit records in one page.
pub const MAX_PAGE: usize = 500;

/// An API error: status, stable code, human message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage error while serving the API");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage_error",
            "the node could not read its database",
        )
    }
}

impl From<AdmitError> for ApiError {
    fn from(e: AdmitError) -> Self {
        let code = match &e {
            AdmitError::Invalid(m) if m.contains("signature") => "bad_signature",
            AdmitError::Invalid(m) if m.contains("chain") => "wrong_chain",
            AdmitError::Invalid(m) if m.contains("decode") || m.contains("bytes") => "undecodable",
            AdmitError::Invalid(_) => "invalid_transaction",
            AdmitError::UnknownSender(_) => "unknown_sender",
            AdmitError::StaleNonce { .. } => "stale_nonce",
            AdmitError::NonceTooFar { .. } => "nonce_too_far",
            AdmitError::Duplicate => "duplicate",
            AdmitError::NonceTaken(_) => "nonce_taken",
            AdmitError::Full(_) => "mempool_full",
        };
        let status = match e {
            AdmitError::Full(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdmitError::Duplicate | AdmitError::NonceTaken(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(v: Value) -> ApiResult {
    Ok(Json(v).into_response())
}

fn body(b: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = b.map_err(|e| {
        let status = e.status();
        ApiError::new(
            status,
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                "body_too_large"
            } else {
                "bad_body"
            },
            e.body_text(),
        )
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad("bad_json", format!("request body is not valid JSON: {e}")))
}

fn hex_tx(v: &Value, field: &str) -> Result<Vec<u8>, ApiError> {
    let s = v.as_str().ok_or_else(|| {
        ApiError::bad("bad_request", format!("`{field}` must be a string of hex"))
    })?;
    hex::decode(s).map_err(|e| ApiError::bad("bad_hex", format!("`{field}` is not valid hex: {e}")))
}

fn parse_hash(s: &str) -> Result<Hash, ApiError> {
    Hash::from_hex(s)
        .map_err(|e| ApiError::bad("bad_hash", format!("transaction or block hash: {e}")))
}

/// Builds the router.
pub fn router(shared: Arc<Shared>, cfg: &ApiConfig) -> Router {
    Router::new()
        .route("/v1/txs", post(submit))
        .route("/v1/txs/batch", post(submit_batch))
        .merge(read_routes())
        .route("/v1/events", get(events))
        .route(
            "/v1/openapi.json",
            get(|| async { Json(openapi::document()) }),
        )
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("no such route; see /v1/openapi.json") })
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .with_state(shared)
}

/// Every read route. Reads are open to whoever reaches the API today;
/// member-signed, consent-checked and audited reads will wrap this router
/// with one layer.
pub fn read_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/txs/{hash}", get(get_tx))
        .route("/v1/txs/{hash}/proof", get(get_proof))
        .route("/v1/blocks/latest", get(latest_block))
        .route("/v1/blocks/{id}", get(get_block))
        .route("/v1/enterprises/{uscc}", get(enterprise))
        .route("/v1/ip/{ip_id}", get(ip))
        .route("/v1/status", get(status))
        .route("/v1/validators", get(validators))
        .route("/v1/members", get(members))
        .route("/v1/accounts/{key}", get(account))
}

async fn submit(State(s): State<Arc<Shared>>, b: Result<Bytes, BytesRejection>) -> ApiResult {
    let v = body(b)?;
    let raw = hex_tx(v.get("tx").unwrap_or(&Value::Null), "tx")?;
    let r = s
        .admit(vec![raw], true)
        .await
        .pop()
        .unwrap_or(Err(AdmitError::Invalid("not checked".into())))?;
    Ok((StatusCode::ACCEPTED, Json(json!({"tx_hash": r}))).into_response())
}

async fn submit_batch(State(s): State<Arc<Shared>>, b: Result<Bytes, BytesRejection>) -> ApiResult {
    let v = body(b)?;
    let list = v
        .get("txs")
        .and_then(|t| t.as_array())
        .ok_or_else(|| ApiError::bad("bad_request", "body must be {\"txs\": [\"<hex>\", ...]}"))?;
    if list.len() > MAX_BATCH_TXS {
        return Err(ApiError::bad(
            "batch_too_large",
            format!(
                "at most {MAX_BATCH_TXS} transactions per batch, got {}",
                list.len()
            ),
        ));
    }
    let raw = list
        .iter()
        .enumerate()
        .map(|(i, t)| hex_tx(t, &format!("txs[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let results = s.admit(raw, true).await;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    let items: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Ok(h) => json!({"tx_hash": h}),
            Err(e) => {
                let e = ApiError::from(e);
                json!({"error": {"code": e.code, "message": e.message}})
            }
        })
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"accepted": accepted, "results": items})),
    )
        .into_response())
}

async fn get_tx(State(s): State<Arc<Shared>>, Path(hash): Path<String>) -> ApiResult {
    let hash = parse_hash(&hash)?;
    let mut names = Names::new(&s.store, &s.genesis);
    if let Some(loc) = s.store.tx_location(&hash)? {
        let (t, _) = s
            .store
            .tx_at(loc.height, loc.index)?
            .ok_or_else(|| ApiError::not_found("transaction missing"))?;
        let block_hash = s.store.block_hash(loc.height)?;
        return ok(json!({
            "tx_hash": hash,
            "status": "committed",
            "height": loc.height,
            "index": loc.index,
            "block_hash": block_hash,
            "receipt": loc.receipt,
            "tx": views::tx(&mut names, &t, &hash)?,
        }));
    }
    let pending = s.mempool.lock().expect("mempool lock").get(&hash).cloned();
    match pending {
        Some(t) => ok(
            json!({"tx_hash": hash, "status": "pending", "tx": views::tx(&mut names, &t, &hash)?}),
        ),
        None => Err(ApiError::not_found(format!(
            "transaction {hash} is neither pending nor committed on this node"
        ))),
    }
}

async fn get_proof(State(s): State<Arc<Shared>>, Path(hash): Path<String>) -> ApiResult {
    let hash = parse_hash(&hash)?;
    let loc = s
        .store
        .tx_location(&hash)?
        .ok_or_else(|| ApiError::not_found(format!("transaction {hash} is not committed")))?;
    let (block, receipts) = s
        .store
        .block_with_receipts(loc.height)?
        .ok_or_else(|| ApiError::not_found("block missing"))?;
    let cert = s
        .store
        .cert(loc.height)?
        .ok_or_else(|| ApiError::not_found("certificate missing"))?;
    let tx_hashes = block.tx_hashes();
    let receipt_hashes: Vec<Hash> = receipts.iter().map(|r| r.hash()).collect();
    let i = loc.index as usize;
    let tx_proof =
        merkle::prove(&tx_hashes, i).ok_or_else(|| ApiError::not_found("index out of range"))?;
    let receipt_proof = merkle::prove(&receipt_hashes, i)
        .ok_or_else(|| ApiError::not_found("index out of range"))?;
    ok(json!({
        "tx_hash": hash,
        "height": loc.height,
        "index": loc.index,
        "tx": hex::encode(block.txs[i].encode()),
        "receipt": loc.receipt,
        "tx_proof": tx_proof,
        "receipt_proof": receipt_proof,
        "header": block.header,
        "block_hash": block.hash(),
        "certificate": cert,
    }))
}

async fn block_view(s: &Shared, height: u64) -> ApiResult {
    let (block, receipts) = s.store.block_with_receipts(height)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no block at height {height}; the tip is {}",
            s.store.tip().height
        ))
    })?;
    let cert = s.store.cert(height)?;
    let mut names = Names::new(&s.store, &s.genesis);
    ok(views::block(&mut names, &block, &receipts, cert.as_ref())?)
}

async fn latest_block(State(s): State<Arc<Shared>>) -> ApiResult {
    let tip = s.store.tip().height;
    if tip == 0 {
        return Err(ApiError::not_found("no block has been committed yet"));
    }
    block_view(&s, tip).await
}

async fn get_block(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let height = if id.len() == 64 {
        let hash = parse_hash(&id)?;
        s.store
            .height_of(&hash)?
            .ok_or_else(|| ApiError::not_found(format!("no block with hash {hash}")))?
    } else {
        id.parse::<u64>().map_err(|_| {
            ApiError::bad(
                "bad_height",
                format!("{id:?} is neither a block height nor a 64-hex block hash"),
            )
        })?
    };
    block_view(&s, height).await
}

#[derive(Deserialize)]
struct Page {
    offset: Option<usize>,
    limit: Option<usize>,
}

fn today(s: &Shared) -> Date {
    Date::from_unix_ms(s.store.tip().time_ms)
}

async fn enterprise(
    State(s): State<Arc<Shared>>,
    Path(uscc): Path<String>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let page = page.map_err(|e| ApiError::bad("bad_query", e.body_text()))?;
    let uscc = validate::normalize_uscc(&uscc);
    validate::uscc("uscc", &uscc).map_err(|e| ApiError::bad("invalid_uscc", e.to_string()))?;
    let offset = page.offset.unwrap_or(0);
    let limit = page.limit.unwrap_or(100).min(MAX_PAGE);
    let (records, total) = s.store.credit_records(&uscc, offset, limit)?;
    let ips = s.store.owned_ips(&uscc, 1000)?;
    let mut names = Names::new(&s.store, &s.genesis);
    let credit_records = records
        .iter()
        .map(|e| views::credit(&mut names, e))
        .collect::<Result<Vec<_>, _>>()?;
    let today = today(&s);
    let ip = ips
        .iter()
        .map(|i| views::ip(&mut names, i, today, None))
        .collect::<Result<Vec<_>, _>>()?;
    ok(json!({
        "uscc": uscc,
        "as_of_height": s.store.tip().height,
        "total_credit_records": total,
        "offset": offset,
        "credit_records": credit_records,
        "ip": ip,
    }))
}

async fn ip(State(s): State<Arc<Shared>>, Path(ip_id): Path<String>) -> ApiResult {
    let ip_id = validate::normalize_ip_id(&ip_id);
    deltachain_protocol::ip_id(&ip_id, None)
        .map_err(|e| ApiError::bad("invalid_ip_id", e.to_string()))?;
    let record = s.store.ip(&ip_id)?.ok_or_else(|| {
        ApiError::not_found(format!("IP {ip_id} is not registered on this chain"))
    })?;
    let history = s.store.ip_history(&ip_id, 1000)?;
    let mut names = Names::new(&s.store, &s.genesis);
    let mut v = views::ip(&mut names, &record, today(&s), Some(&history))?;
    v["as_of_height"] = json!(s.store.tip().height);
    ok(v)
}

async fn status(State(s): State<Arc<Shared>>) -> ApiResult {
    let st = s.status();
    ok(json!({
        "chain_id": s.genesis.chain_id,
        "genesis_hash": s.genesis_hash,
        "node": s.name,
        "node_key": s.public_key,
        "height": st.height,
        "latest_block_hash": st.latest_block_hash,
        "latest_block_time": deltachain_protocol::time::format_unix_ms(st.latest_block_time_ms),
        "round": st.round,
        "step": st.step,
        "peers": (s.peers)(),
        "syncing": st.syncing,
        "mempool_txs": s.mempool.lock().expect("mempool lock").len(),
        "validator": s.genesis.validators.iter().any(|v| v.public_key == s.public_key),
    }))
}

async fn validators(State(s): State<Arc<Shared>>) -> ApiResult {
    let list: Vec<Value> = s
        .genesis
        .validators
        .iter()
        .enumerate()
        .map(|(i, v)| {
            json!({
                "index": i,
                "name": v.name,
                "city": v.city,
                "public_key": v.public_key,
                "peer_id": crate::network::peer_id_of(&v.public_key).map(|p| p.to_string()).unwrap_or_default(),
                "p2p_addr": v.p2p_addr,
            })
        })
        .collect();
    ok(json!({"validators": list, "quorum": deltachain_protocol::quorum(list.len())}))
}

async fn members(State(s): State<Arc<Shared>>) -> ApiResult {
    let list = s.store.members(10_000)?;
    ok(json!({"members": list}))
}

async fn account(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> ApiResult {
    let key = PublicKey::from_hex(&key)
        .map_err(|e| ApiError::bad("bad_key", format!("public key: {e}")))?;
    let member = s.store.member(&key)?;
    let committed = s.store.nonce(&key)?;
    let pending = s
        .mempool
        .lock()
        .expect("mempool lock")
        .max_pending_nonce(&key);
    ok(json!({
        "public_key": key,
        "member": member,
        "committed_nonce": committed,
        "next_nonce": pending.unwrap_or(committed).max(committed) + 1,
    }))
}

async fn events(
    State(s): State<Arc<Shared>>,
) -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let rx = s.events.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(json) => Event::default().event("block").data(json.as_str()),
            // A slow subscriber skips ahead rather than holding memory.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let (txs, bytes) = {
        let pool = s.mempool.lock().expect("mempool lock");
        (pool.len(), pool.bytes())
    };
    let text = s
        .metrics
        .render(txs, bytes, (s.peers)(), s.status().syncing);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// A TCP listener that serves at most `max` connections at once: each
/// accepted stream holds a semaphore permit until it closes.
struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

struct LimitedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (LimitedStream, std::net::SocketAddr) {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closes");
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        LimitedStream {
                            stream,
                            _permit: permit,
                        },
                        addr,
                    );
                }
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }
}

/// Serves the API until `shutdown` turns true.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    cfg: ApiConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = router(shared, &cfg);
    let listener = LimitedListener {
        inner: listener,
        permits: Arc::new(Semaphore::new(cfg.max_connections)),
    };
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|v| *v).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "API server failed");
    }
}
