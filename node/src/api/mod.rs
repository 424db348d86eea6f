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
//! connections by `api.max_connections`; when the set is full the quietest
//! connection is closed to make room ([`conn`]), and a client gets
//! [`HEADER_READ_TIMEOUT`] to send its headers or to start its next request
//! on a keep-alive connection.
//!
//! Every request passes [`auth::authenticate`] (RFC 9421 signatures), and
//! every route that reveals record content asks [`access::decide`] first.
//! Reads of enterprise data, granted or refused, are written to the audit
//! outbox before the answer leaves ([`crate::audit`]).

pub mod access;
pub mod auth;
pub mod conn;
pub mod limits;
mod openapi;
pub mod proofs;
mod registry;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use deltachain_protocol::{
    merkle, validate, AuditEntry, AuditOutcome, AuditRoute, Date, Hash, PublicKey, Purpose, Scope,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::ApiConfig;
use crate::mempool::AdmitError;
use crate::node::Shared;
use crate::storage::StoreError;
use access::{decide, Resource};
use auth::Caller;
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
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
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
    /// The HTTP status the error is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
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
            AdmitError::Invalid { code, .. } => code,
            AdmitError::Storage(_) => "storage_error",
            AdmitError::UsccNotAdmitted(_) => "uscc_not_admitted",
            AdmitError::UnknownSender(_) => "unknown_sender",
            AdmitError::StaleNonce { .. } => "stale_nonce",
            AdmitError::NonceTooFar { .. } => "nonce_too_far",
            AdmitError::Duplicate => "duplicate",
            AdmitError::NonceTaken(_) => "nonce_taken",
            AdmitError::Full(_) => "mempool_full",
        };
        let status = match e {
            AdmitError::Full(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdmitError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

type ApiResult = Result<Response, ApiError>;

/// The address of the client a request came from (set by [`serve`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub std::net::IpAddr);

/// Admits transactions for a client within its budget of bad signatures:
/// refused with 429 before anything is verified once the budget is spent,
/// and charged for the bad signatures it sent.
async fn admit_for(
    s: &Shared,
    client: Option<axum::Extension<ClientIp>>,
    raw: Vec<Vec<u8>>,
) -> Result<Vec<Result<Hash, AdmitError>>, ApiError> {
    let ip = client.map(|c| c.0 .0);
    if let Some(ip) = ip {
        within_budget(s, ip)?;
    }
    let results = s.admit(raw, true).await;
    if let Some(ip) = ip {
        let bad = results
            .iter()
            .filter(
                |r| matches!(r, Err(AdmitError::Invalid { code, .. }) if *code == "bad_signature"),
            )
            .count();
        s.client_limits.charge(ip, bad as u64);
    }
    Ok(results)
}

/// Refuses a client that spent its budget of bad signatures (transactions
/// or request signatures), before anything it sent is verified.
pub(crate) fn within_budget(s: &Shared, ip: std::net::IpAddr) -> Result<(), ApiError> {
    s.client_limits.check(ip).map_err(|retry| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_bad_signatures",
            format!(
                "this client sent too many bad signatures; retry in {} ms",
                retry.as_millis()
            ),
        )
    })
}

/// A path segment as a string, whose rejection (bad percent-encoding, not
/// UTF-8) is a JSON error like every other, quoting at most a short prefix.
struct PathStr(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathStr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(s)) => Ok(PathStr(s)),
            Err(e) => Err(ApiError::bad(
                "bad_path",
                format!(
                    "the URL path is not valid: {}",
                    validate::truncate(&e.body_text())
                ),
            )),
        }
    }
}

fn ok(v: Value) -> ApiResult {
    Ok(Json(v).into_response())
}

fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| {
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
    })
}

fn json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad("bad_json", format!("request body is not valid JSON: {e}")))
}

/// The transaction bytes of a `POST /v1/txs` body, `{"tx": "<hex>"}`.
/// Public so that the fuzz targets parse bodies exactly as the node does.
pub fn parse_submit_body(bytes: &[u8]) -> Result<Vec<u8>, ApiError> {
    let v = json_body(bytes)?;
    hex_tx(v.get("tx").unwrap_or(&Value::Null), "tx")
}

/// The transactions of a `POST /v1/txs/batch` body, `{"txs": ["<hex>", ...]}`,
/// at most [`MAX_BATCH_TXS`].
pub fn parse_batch_body(bytes: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let v = json_body(bytes)?;
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
    list.iter()
        .enumerate()
        .map(|(i, t)| hex_tx(t, &format!("txs[{i}]")))
        .collect()
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
    let auth = auth::AuthState {
        shared: shared.clone(),
        max_body: cfg.max_body_bytes,
    };
    let mut app = Router::new()
        .route("/v1/txs", post(submit))
        .route("/v1/txs/batch", post(submit_batch))
        .merge(read_routes())
        .route("/v1/events", get(events))
        .route(
            "/v1/openapi.json",
            get(|| async { Json(openapi::document()) }),
        );
    if cfg.metrics_listen.is_none() {
        app = app.route("/metrics", get(metrics));
    }
    app.fallback(|| async { ApiError::not_found("no such route; see /v1/openapi.json") })
        .layer(axum::middleware::from_fn_with_state(
            auth,
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), timed))
        .with_state(shared)
}

/// Records every request's duration under its route template and status
/// (outermost, so refusals by the signature check count too).
async fn timed(
    State(s): State<Arc<Shared>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // The method is a label only when it is a standard one: hyper accepts
    // any token as a method, and a label taken from the request as sent
    // would let anyone grow the series without bound.
    let method = match *req.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::OPTIONS => "OPTIONS",
        axum::http::Method::PATCH => "PATCH",
        _ => "OTHER",
    };
    let route = match req.extensions().get::<axum::extract::MatchedPath>() {
        Some(p) => format!("{method} {}", p.as_str()),
        None => "unmatched".to_string(),
    };
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    s.metrics
        .observe_request(&route, resp.status().as_u16(), started.elapsed());
    resp
}

/// Every read route; each decides access with [`access::decide`].
pub fn read_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/txs/{hash}", get(get_tx))
        .route("/v1/txs/{hash}/proof", get(get_proof))
        .route("/v1/blocks/latest", get(latest_block))
        .route("/v1/blocks/{id}", get(get_block))
        .route("/v1/enterprises/{uscc}", get(enterprise))
        .route("/v1/enterprises/{uscc}/queries", get(enterprise_queries))
        .route("/v1/queries", get(queries_by))
        .route("/v1/consents/{id}", get(consent))
        .route("/v1/enterprises/{uscc}/consents", get(enterprise_consents))
        .route("/v1/ip/{ip_id}", get(ip))
        .route("/v1/receivables/{id}", get(registry::receivable))
        .route(
            "/v1/enterprises/{uscc}/receivables",
            get(registry::enterprise_receivables),
        )
        .route("/v1/enterprises/{uscc}/report", get(registry::report))
        .route("/v1/objections", get(registry::objections))
        .route("/v1/objections/{id}", get(registry::objection))
        .route("/v1/uscc-exceptions", get(registry::uscc_exceptions))
        .route("/v1/uscc-exceptions/{code}", get(registry::uscc_exception))
        .route("/v1/status", get(status))
        .route("/v1/validators", get(validators))
        .route("/v1/members", get(members))
        .route("/v1/members/{key}", get(member))
        .route("/v1/accounts/{key}", get(account))
}

impl access::Facts for Shared {
    fn active_consent(
        &self,
        uscc: &str,
        grantee: &PublicKey,
        scope: Scope,
        purpose: Purpose,
    ) -> Result<Option<String>, ApiError> {
        let today = Date::from_unix_ms(self.store.tip().time_ms);
        Ok(self
            .store
            .active_consent(uscc, grantee, scope, purpose, today)?
            .map(|c| c.signed.consent.consent_id))
    }
}

fn caller_key(c: &Caller) -> Option<PublicKey> {
    c.0.as_ref().map(|p| p.key)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Answers a read of enterprise data and records it in the audit trail
/// first: the entry (with the hash of exactly the bytes sent) is durable
/// before the answer leaves. A read that cannot be recorded is not
/// answered.
async fn audited(
    s: &Shared,
    caller: &Caller,
    uscc: &str,
    route: AuditRoute,
    answer: Result<(access::Grant, Value), ApiError>,
) -> ApiResult {
    let Some(p) = caller.0.as_deref() else {
        // Unsigned: refused before any enterprise data was looked at, and
        // there is no requester to record.
        return match answer {
            Ok(_) => Err(access::signature_required()),
            Err(e) => Err(e),
        };
    };
    let (status, body, basis, purpose, outcome) = match answer {
        Ok((g, v)) => (StatusCode::OK, v, g.basis, g.purpose, AuditOutcome::Granted),
        Err(e) if e.status == StatusCode::FORBIDDEN => (
            e.status,
            json!({"error": {"code": e.code, "message": e.message}}),
            deltachain_protocol::AccessBasis::None,
            p.purpose.clone().and_then(Result::ok),
            AuditOutcome::Refused {
                code: e.code.to_string(),
            },
        ),
        // Malformed requests and storage failures reveal nothing and are
        // not reads of enterprise data.
        Err(e) => return Err(e),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let entry = AuditEntry {
        time_ms: now_ms(),
        requester: p.key,
        enterprise: uscc.to_string(),
        route,
        purpose,
        basis,
        outcome,
        response_hash: deltachain_protocol::crypto::sha256(&bytes),
    };
    s.audit.record(entry).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            e.to_string(),
        )
    })?;
    Ok((
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response())
}

/// What the node already knows of a transaction that admission refused as
/// a duplicate or a used nonce: a resubmission of the same signed bytes (a
/// clerk's retry after a dropped connection) is answered with its status,
/// never applied twice and never reported as an error.
fn known_status(s: &Shared, raw: &[u8], e: &AdmitError) -> Result<Option<Value>, ApiError> {
    if !matches!(e, AdmitError::Duplicate | AdmitError::StaleNonce { .. }) {
        return Ok(None);
    }
    let Ok(tx) = deltachain_protocol::SignedTransaction::decode(raw) else {
        return Ok(None);
    };
    let hash = tx.hash();
    if let Some(loc) = s.store.tx_location(&hash)? {
        return Ok(Some(json!({
            "tx_hash": hash,
            "status": "committed",
            "height": loc.height,
            "outcome": loc.receipt.outcome,
        })));
    }
    let pending = s.mempool.lock().expect("mempool lock").get(&hash).is_some();
    Ok(pending.then(|| json!({"tx_hash": hash, "status": "pending"})))
}

async fn submit(
    State(s): State<Arc<Shared>>,
    client: Option<axum::Extension<ClientIp>>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let raw = parse_submit_body(&body(b)?)?;
    let mut results = admit_for(&s, client, vec![raw.clone()]).await?;
    let r = results.pop().unwrap_or(Err(AdmitError::Storage(
        "the transaction was not checked".into(),
    )));
    match r {
        Ok(hash) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"tx_hash": hash, "status": "pending"})),
        )
            .into_response()),
        Err(e) => match known_status(&s, &raw, &e)? {
            Some(v) if v["status"] == "committed" => ok(v),
            Some(v) => Ok((StatusCode::ACCEPTED, Json(v)).into_response()),
            None => Err(e.into()),
        },
    }
}

async fn submit_batch(
    State(s): State<Arc<Shared>>,
    client: Option<axum::Extension<ClientIp>>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let raw = parse_batch_body(&body(b)?)?;
    let results = admit_for(&s, client, raw.clone()).await?;
    let mut accepted = 0;
    let mut items = Vec::with_capacity(results.len());
    for (r, bytes) in results.into_iter().zip(&raw) {
        items.push(match r {
            Ok(h) => {
                accepted += 1;
                json!({"tx_hash": h})
            }
            Err(e) => match known_status(&s, bytes, &e)? {
                Some(v) => v,
                None => {
                    let e = ApiError::from(e);
                    json!({"error": {"code": e.code, "message": e.message}})
                }
            },
        });
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"accepted": accepted, "results": items})),
    )
        .into_response())
}

async fn get_tx(State(s): State<Arc<Shared>>, caller: Caller, PathStr(hash): PathStr) -> ApiResult {
    let hash = parse_hash(&hash)?;
    if caller.0.is_none() {
        return Err(access::signature_required());
    }
    let mut names = Names::new(&s.store, &s.genesis);
    if let Some(loc) = s.store.tx_location(&hash)? {
        let (t, _) = s
            .store
            .tx_at(loc.height, loc.index)?
            .ok_or_else(|| ApiError::not_found("transaction missing"))?;
        decide(
            &caller,
            &Resource::Transaction {
                sender: &t.tx.sender,
            },
            &*s,
        )?;
        let block_hash = s.store.block_hash(loc.height)?;
        let full = caller_key(&caller) == Some(t.tx.sender) || regulator_reads(&caller, &t);
        let body = json!({
            "tx_hash": hash,
            "status": "committed",
            "height": loc.height,
            "index": loc.index,
            "block_hash": block_hash,
            "receipt": loc.receipt,
            "tx": views::tx(&mut names, &t, &hash, full)?,
        });
        return answer_tx(&s, &caller, &t, body).await;
    }
    let pending = s.mempool.lock().expect("mempool lock").get(&hash).cloned();
    if let Some(t) = &pending {
        decide(
            &caller,
            &Resource::Transaction {
                sender: &t.tx.sender,
            },
            &*s,
        )?;
    }
    match pending {
        Some(t) => {
            let full = caller_key(&caller) == Some(t.tx.sender) || regulator_reads(&caller, &t);
            let body = json!({"tx_hash": hash, "status": "pending", "tx": views::tx(&mut names, &t, &hash, full)?});
            answer_tx(&s, &caller, &t, body).await
        }
        None => Err(ApiError::not_found(format!(
            "transaction {hash} is neither pending nor committed on this node"
        ))),
    }
}

async fn get_proof(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(hash): PathStr,
) -> ApiResult {
    let hash = parse_hash(&hash)?;
    if caller.0.is_none() {
        return Err(access::signature_required());
    }
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
    let i = loc.index as usize;
    let sender = block
        .txs
        .get(i)
        .map(|t| t.tx.sender)
        .ok_or_else(|| ApiError::not_found("index out of range"))?;
    decide(&caller, &Resource::Transaction { sender: &sender }, &*s)?;
    let tx_hashes = block.tx_hashes();
    let receipt_hashes: Vec<Hash> = receipts.iter().map(|r| r.hash()).collect();
    let tx_proof =
        merkle::prove(&tx_hashes, i).ok_or_else(|| ApiError::not_found("index out of range"))?;
    let receipt_proof = merkle::prove(&receipt_hashes, i)
        .ok_or_else(|| ApiError::not_found("index out of range"))?;
    // The canonical bytes are the content: for enterprise data, the sender
    // and a regulator (audited) get them; anyone else proves inclusion of
    // the hash.
    let t = &block.txs[i];
    let bytes = (views::enterprise_data(&t.tx.payload).is_none()
        || caller_key(&caller) == Some(t.tx.sender)
        || regulator_reads(&caller, t))
    .then(|| hex::encode(t.encode()));
    let body = json!({
        "tx_hash": hash,
        "height": loc.height,
        "index": loc.index,
        "tx": bytes,
        "receipt": loc.receipt,
        "tx_proof": tx_proof,
        "receipt_proof": receipt_proof,
        "header": block.header,
        "block_hash": block.hash(),
        "certificate": cert,
    });
    answer_tx(&s, &caller, t, body).await
}

/// True when a regulator reads a transaction that carries an enterprise's
/// data it did not send: it sees the content, and the read is audited.
fn regulator_reads(caller: &Caller, t: &deltachain_protocol::SignedTransaction) -> bool {
    caller
        .0
        .as_deref()
        .is_some_and(|p| p.is_regulator() && p.key != t.tx.sender)
        && views::enterprise_data(&t.tx.payload).is_some()
}

/// Sends a transaction view; when a regulator sees another's enterprise
/// data in it, the read goes to that enterprise's query log first.
async fn answer_tx(
    s: &Shared,
    caller: &Caller,
    t: &deltachain_protocol::SignedTransaction,
    body: Value,
) -> ApiResult {
    if !regulator_reads(caller, t) {
        return ok(body);
    }
    let uscc = views::enterprise_data(&t.tx.payload)
        .unwrap_or_default()
        .to_string();
    let purpose = caller
        .0
        .as_ref()
        .and_then(|p| p.purpose.clone())
        .and_then(Result::ok);
    let grant = access::Grant {
        basis: deltachain_protocol::AccessBasis::Regulator,
        purpose,
    };
    audited(s, caller, &uscc, AuditRoute::Transaction, Ok((grant, body))).await
}

/// A block: whole for regulators and validator operators, its header and
/// commit certificate (no record content) for everyone else.
async fn block_view(s: &Shared, caller: &Caller, height: u64) -> ApiResult {
    let (block, receipts) = s.store.block_with_receipts(height)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no block at height {height}; the tip is {}",
            s.store.tip().height
        ))
    })?;
    let cert = s.store.cert(height)?;
    if decide(caller, &Resource::BlockBodies, s).is_err() {
        return ok(json!({
            "height": block.header.height,
            "hash": block.hash(),
            "header": views::header(&block.header),
            "commit": cert,
            "redacted": "transactions and receipts are shown to regulators and validator operators only",
        }));
    }
    let mut names = Names::new(&s.store, &s.genesis);
    ok(views::block(
        &mut names,
        &block,
        &receipts,
        cert.as_ref(),
        caller_key(caller).as_ref(),
    )?)
}

async fn latest_block(State(s): State<Arc<Shared>>, caller: Caller) -> ApiResult {
    let tip = s.store.tip().height;
    if tip == 0 {
        return Err(ApiError::not_found("no block has been committed yet"));
    }
    block_view(&s, &caller, tip).await
}

async fn get_block(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(id): PathStr,
) -> ApiResult {
    let height = if id.len() == 64 {
        let hash = parse_hash(&id)?;
        s.store
            .height_of(&hash)?
            .ok_or_else(|| ApiError::not_found(format!("no block with hash {hash}")))?
    } else {
        id.parse::<u64>().map_err(|_| {
            ApiError::bad(
                "bad_height",
                format!(
                    "{:?} is neither a block height nor a 64-hex block hash",
                    validate::truncate(&id)
                ),
            )
        })?
    };
    block_view(&s, &caller, height).await
}

#[derive(Deserialize)]
struct Page {
    offset: Option<usize>,
    limit: Option<usize>,
    own: Option<bool>,
    proof: Option<bool>,
    height: Option<u64>,
}

fn today(s: &Shared) -> Date {
    Date::from_unix_ms(s.store.tip().time_ms)
}

fn page_of(
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Page, ApiError> {
    query_of(page)
}

fn query_of<T>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(p)| p)
        .map_err(|e| ApiError::bad("bad_query", validate::truncate(&e.body_text())))
}

/// The canonical form of a USCC in a path: well formed, and either passing
/// the GB 32100-2015 check or admitted by a regulator.
pub(crate) fn uscc_of(s: &Shared, raw: &str) -> Result<String, ApiError> {
    let uscc = validate::normalize_uscc(raw);
    let needs_exception = validate::uscc_lenient("uscc", &uscc)
        .map_err(|e| ApiError::bad("invalid_uscc", e.to_string()))?;
    if needs_exception && s.store.uscc_exception(&uscc)?.is_none() {
        return Err(ApiError::bad(
            "invalid_uscc",
            validate::uscc_needs_exception("uscc", &uscc),
        ));
    }
    Ok(uscc)
}

/// How old the latest block may be before this node's view is too stale to
/// judge consents by (the network makes a block at least every few
/// seconds when idle).
const MAX_TIP_AGE_MS: u64 = 5 * 60 * 1000;

/// Refuses reads of enterprise data on a node that is catching up or whose
/// chain has stalled: consents are judged at the latest block, and a node
/// behind would still honour one revoked or expired since.
fn current(s: &Shared) -> Result<(), ApiError> {
    let unavailable = |code, m: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, m);
    if s.status().syncing {
        return Err(unavailable(
            "node_syncing",
            "this node is catching up with the chain; read enterprise data from another node or retry shortly".into(),
        ));
    }
    let age = now_ms().saturating_sub(s.store.tip().time_ms);
    if age > MAX_TIP_AGE_MS {
        return Err(unavailable(
            "stale_state",
            format!(
                "this node's latest block is {} s old, too old to judge consents by; the network may have stalled",
                age / 1000
            ),
        ));
    }
    Ok(())
}

/// What every read of an enterprise's data checks first, in this order so
/// that bad input is a 400 whoever sends it: the page, the USCC, and that
/// the request is signed.
fn enterprise_request(
    s: &Shared,
    caller: &Caller,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
    uscc: &str,
) -> Result<(Page, String), ApiError> {
    let page = page_of(page)?;
    let uscc = uscc_of(s, uscc)?;
    if caller.0.is_none() {
        return Err(access::signature_required());
    }
    Ok((page, uscc))
}

/// Most records scanned to find the ones a reporter sent itself.
const MAX_OWN_SCAN: usize = 10_000;

async fn enterprise(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(uscc): PathStr,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let (page, uscc) = enterprise_request(&s, &caller, page, &uscc)?;
    current(&s)?;
    let own = page.own.unwrap_or(false);
    let (route, what) = if own {
        (AuditRoute::OwnRecords, Resource::OwnRecords { uscc: &uscc })
    } else {
        (
            AuditRoute::EnterpriseRecords,
            Resource::EnterpriseRecords { uscc: &uscc },
        )
    };
    let proof = proofs::ProofQuery {
        proof: page.proof,
        height: page.height,
    }
    .wanted()?;
    if proof && own {
        return Err(ApiError::bad(
            "proof_needs_all_records",
            "a proof covers all of an enterprise's records; drop own=true",
        ));
    }
    let answer = match decide(&caller, &what, &*s) {
        Ok(g) if proof => proven_enterprise(&s, &uscc, page.height).map(|v| (g, v)),
        Ok(g) => enterprise_body(&s, &caller, &uscc, &page, own).map(|v| (g, v)),
        Err(e) => Err(e),
    };
    audited(&s, &caller, &uscc, route, answer).await
}

/// All of an enterprise's credit records at a height, in order, with the
/// proof of the commitment they must recompute to.
fn proven_enterprise(s: &Shared, uscc: &str, height: Option<u64>) -> Result<Value, ApiError> {
    let (answer, records) = proofs::credits(s, uscc, height)?;
    let mut names = Names::new(&s.store, &s.genesis);
    let mut shown = Vec::with_capacity(records.len());
    for r in &records {
        let mut v = serde_json::to_value(r).unwrap_or_default();
        v["reporter_name"] = json!(names.party(&r.reporter)?.name);
        shown.push(v);
    }
    Ok(json!({
        "uscc": uscc,
        "as_of_height": answer.height,
        "total_credit_records": records.len(),
        "credit_records": shown,
        "proof": answer,
    }))
}

fn enterprise_body(
    s: &Shared,
    caller: &Caller,
    uscc: &str,
    page: &Page,
    own: bool,
) -> Result<Value, ApiError> {
    let offset = page.offset.unwrap_or(0);
    let limit = page.limit.unwrap_or(100).min(MAX_PAGE);
    let (records, total) = if own {
        let me = caller.0.as_ref().map(|p| p.key);
        let (all, _) = s.store.credit_records(uscc, 0, MAX_OWN_SCAN)?;
        let mine: Vec<_> = all.into_iter().filter(|r| Some(r.reporter) == me).collect();
        let total = mine.len() as u64;
        (mine.into_iter().skip(offset).take(limit).collect(), total)
    } else {
        s.store.credit_records(uscc, offset, limit)?
    };
    let ips = s.store.owned_ips(uscc, 1000)?;
    let mut names = Names::new(&s.store, &s.genesis);
    let mut credit_records = Vec::with_capacity(records.len());
    for e in &records {
        let mut v = views::credit(&mut names, e)?;
        let mark = s
            .store
            .dispute(&deltachain_protocol::ObjectionTarget::Record(e.tx_hash))?;
        v["disputed"] = json!(mark.is_some());
        v["objection"] = json!(mark.map(|m| m.objection));
        credit_records.push(v);
    }
    let (publics, total_public) = if own {
        (Vec::new(), 0)
    } else {
        s.store.public_records(uscc, 0, MAX_PAGE)?
    };
    let public_records = publics
        .iter()
        .map(|p| registry::public_view(s, &mut names, p))
        .collect::<Result<Vec<_>, _>>()?;
    let today = today(s);
    let ip = ips
        .iter()
        .map(|i| views::ip(&mut names, i, today, None))
        .collect::<Result<Vec<_>, _>>()?;
    let mut v = json!({
        "uscc": uscc,
        "as_of_height": s.store.tip().height,
        "total_credit_records": total,
        "offset": offset,
        "credit_records": credit_records,
        "total_public_records": total_public,
        "public_records": public_records,
        "ip": ip,
    });
    if own {
        v["only_reported_by_you"] = json!(true);
    }
    Ok(v)
}

fn audit_view(names: &mut Names, r: &crate::ledger::AuditRecord) -> Result<Value, StoreError> {
    let e = &r.entry;
    Ok(json!({
        "time": deltachain_protocol::time::format_unix_ms(e.time_ms),
        "requester": e.requester,
        "requester_name": names.party(&e.requester)?.name,
        "enterprise": e.enterprise,
        "route": e.route,
        "purpose": e.purpose,
        "basis": e.basis,
        "outcome": e.outcome,
        "response_hash": e.response_hash,
        "serving_node": r.node,
        "serving_node_name": names.party(&r.node)?.name,
        "height": r.height,
    }))
}

/// A page of audit entries under an index prefix, most recently recorded first, as JSON.
fn audit_list(
    s: &Shared,
    prefix: &[u8],
    offset: usize,
    limit: Option<usize>,
) -> Result<Vec<Value>, ApiError> {
    let rows = s
        .store
        .audits(prefix, offset, limit.unwrap_or(100).min(MAX_PAGE))?;
    let mut names = Names::new(&s.store, &s.genesis);
    Ok(rows
        .iter()
        .map(|r| audit_view(&mut names, r))
        .collect::<Result<Vec<_>, _>>()?)
}

async fn enterprise_queries(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(uscc): PathStr,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let (page, uscc) = enterprise_request(&s, &caller, page, &uscc)?;
    let answer = match decide(&caller, &Resource::QueryLog { uscc: &uscc }, &*s) {
        Ok(g) => {
            let offset = page.offset.unwrap_or(0);
            let list = audit_list(
                &s,
                &crate::ledger::keys::audits_by_enterprise(&uscc),
                offset,
                page.limit,
            )?;
            Ok((
                g,
                json!({
                    "uscc": uscc,
                    "as_of_height": s.store.tip().height,
                    "offset": offset,
                    "queries": list,
                    "not_yet_on_chain": "reads served in the last few seconds reach the chain within audit.ship_interval_ms plus a block",
                }),
            ))
        }
        Err(e) => Err(e),
    };
    audited(&s, &caller, &uscc, AuditRoute::QueryLog, answer).await
}

#[derive(Deserialize)]
struct ByRequester {
    requester: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn queries_by(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    q: Result<Query<ByRequester>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::bad("bad_query", validate::truncate(&e.body_text())))?;
    let Some(me) = caller.0.as_ref().map(|p| p.key) else {
        return Err(access::signature_required());
    };
    let requester = match &q.requester {
        Some(k) => PublicKey::from_hex(k)
            .map_err(|e| ApiError::bad("bad_key", format!("requester: {e}")))?,
        None => me,
    };
    decide(
        &caller,
        &Resource::QueriesBy {
            requester: &requester,
        },
        &*s,
    )?;
    let offset = q.offset.unwrap_or(0);
    let list = audit_list(
        &s,
        &crate::ledger::keys::audits_by_requester(&requester),
        offset,
        q.limit,
    )?;
    ok(json!({"requester": requester, "offset": offset, "queries": list}))
}

/// Every consent an enterprise gave (so it can find and revoke them): for
/// the enterprise itself and regulators.
async fn enterprise_consents(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(uscc): PathStr,
) -> ApiResult {
    let uscc = uscc_of(&s, &uscc)?;
    decide(&caller, &Resource::Consents { uscc: &uscc }, &*s)?;
    let today = today(&s);
    let bound = s.store.enterprise_key(&uscc)?;
    let list: Vec<Value> = s
        .store
        .consents_of(&uscc, 1000)?
        .iter()
        .map(|r| {
            json!({
                "consent": r.signed.consent,
                "signer": r.signer,
                "height": r.height,
                "revoked_height": r.revoked_height,
                "active": r.active(today, bound.as_ref()),
            })
        })
        .collect();
    ok(json!({"uscc": uscc, "as_of": today, "consents": list}))
}

/// A consent: for its enterprise, its grantee and regulators.
async fn consent(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(id): PathStr,
    q: Result<Query<proofs::ProofQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = query_of(q)?;
    let proof = q.wanted()?;
    let Some(p) = caller.0.as_deref() else {
        return Err(access::signature_required());
    };
    let not_found =
        || ApiError::not_found(format!("no consent {} of yours", validate::truncate(&id)));
    let rec = s.store.consent(&id)?.ok_or_else(not_found)?;
    let c = &rec.signed.consent;
    let party = p.is_regulator()
        || c.grantee == p.key
        || p.enterprise.as_deref() == Some(c.enterprise.as_str());
    if !party {
        return Err(not_found());
    }
    if proof {
        let key = crate::ledger::keys::consent(&id);
        let answer = proofs::answer(&s, q.height, &[key])?;
        let at: Option<crate::ledger::ConsentRecord> = proofs::single(&answer, "consent")?;
        return ok(json!({
            "consent_id": id,
            "as_of_height": answer.height,
            "record": at,
            "proof": answer,
        }));
    }
    let today = today(&s);
    let bound = s.store.enterprise_key(&c.enterprise)?;
    ok(json!({
        "consent": c,
        "signature": rec.signed.signature,
        "signer": rec.signer,
        "tx_hash": rec.tx_hash,
        "height": rec.height,
        "revoked_height": rec.revoked_height,
        "revoked_tx": rec.revoked_tx,
        "active": rec.active(today, bound.as_ref()),
        "as_of": today,
    }))
}

async fn ip(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(ip_id): PathStr,
    q: Result<Query<proofs::ProofQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let ip_id = validate::normalize_ip_id(&ip_id);
    deltachain_protocol::ip_id(&ip_id, None)
        .map_err(|e| ApiError::bad("invalid_ip_id", e.to_string()))?;
    let q = query_of(q)?;
    let proof = q.wanted()?;
    if caller.0.is_none() {
        return Err(access::signature_required());
    }
    if proof {
        let current = s.store.ip(&ip_id)?;
        decide(
            &caller,
            &Resource::Ip {
                owner: current.as_ref().map_or("", |r| r.owner.as_str()),
            },
            &*s,
        )?;
        let mut answer = proofs::answer(&s, q.height, &[crate::ledger::keys::ip(&ip_id)])?;
        let at: Option<crate::ledger::IpRecord> = proofs::single(&answer, "ip record")?;
        // The pledgee's member record, proven at the same height, so the
        // client can name the bank without taking the node's word for it.
        if let Some(p) = at.as_ref().and_then(|r| r.pledge.as_ref()) {
            proofs::add(&s, &mut answer, crate::ledger::keys::member(&p.pledgee))?;
        }
        let day = Date::from_unix_ms(answer.header.time_ms);
        let mut names = Names::new(&s.store, &s.genesis);
        let mut v = match &at {
            Some(r) => views::ip(&mut names, r, day, None)?,
            None => json!({"ip_id": ip_id}),
        };
        v["registered"] = json!(at.is_some());
        v["as_of_height"] = json!(answer.height);
        v["proof"] = json!(answer);
        return ok(v);
    }
    let Some(record) = s.store.ip(&ip_id)? else {
        // Whether an IP exists is for those who may read the registry.
        decide(&caller, &Resource::Ip { owner: "" }, &*s)?;
        return Err(ApiError::not_found(format!(
            "IP {ip_id} is not registered on this chain"
        )));
    };
    decide(
        &caller,
        &Resource::Ip {
            owner: &record.owner,
        },
        &*s,
    )?;
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

async fn members(State(s): State<Arc<Shared>>, caller: Caller) -> ApiResult {
    decide(&caller, &Resource::Members, &*s)?;
    let list = s.store.members(10_000)?;
    ok(json!({"members": list}))
}

/// One member, by key; with `proof=true`, proven at a height (a key that
/// is not a member gets a proof of absence).
async fn member(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(key): PathStr,
    q: Result<Query<proofs::ProofQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let key = PublicKey::from_hex(&key)
        .map_err(|e| ApiError::bad("bad_key", format!("public key: {e}")))?;
    let q = query_of(q)?;
    let proof = q.wanted()?;
    decide(&caller, &Resource::Members, &*s)?;
    if proof {
        let answer = proofs::answer(&s, q.height, &[crate::ledger::keys::member(&key)])?;
        let at: Option<crate::ledger::Member> = proofs::single(&answer, "member")?;
        return ok(json!({
            "public_key": key,
            "member": at,
            "as_of_height": answer.height,
            "proof": answer,
        }));
    }
    let member = s
        .store
        .member(&key)?
        .ok_or_else(|| ApiError::not_found(format!("{key} is not a member of this chain")))?;
    ok(json!({
        "public_key": key,
        "member": member,
        "as_of_height": s.store.tip().height,
    }))
}

async fn account(State(s): State<Arc<Shared>>, caller: Caller, PathStr(key): PathStr) -> ApiResult {
    let key = PublicKey::from_hex(&key)
        .map_err(|e| ApiError::bad("bad_key", format!("public key: {e}")))?;
    decide(&caller, &Resource::Account { key: &key }, &*s)?;
    let member = s.store.member(&key)?;
    let enterprise = s.store.enterprise_of(&key)?;
    let committed = s.store.nonce(&key)?;
    let pending = s
        .mempool
        .lock()
        .expect("mempool lock")
        .max_pending_nonce(&key);
    ok(json!({
        "public_key": key,
        "member": member,
        "enterprise": enterprise,
        "committed_nonce": committed,
        "next_nonce": pending.unwrap_or(committed).max(committed) + 1,
    }))
}

/// Committed blocks as server-sent events: height, hash and time for
/// everyone, the receipts of the subscriber's own transactions for a
/// signed subscriber, every receipt for regulators and validator operators.
async fn events(
    State(s): State<Arc<Shared>>,
    caller: Caller,
) -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let rx = s.events.subscribe();
    let everything = decide(&caller, &Resource::AllEvents, &*s).is_ok();
    let me = caller.0.as_ref().map(|p| p.key);
    let stream = futures::stream::unfold(rx, move |mut rx| async move {
        let event = match rx.recv().await {
            Ok(ev) => {
                let receipts: Vec<&deltachain_protocol::Receipt> = ev
                    .receipts
                    .iter()
                    .zip(&ev.senders)
                    .filter(|(_, sender)| everything || Some(**sender) == me)
                    .map(|(r, _)| r)
                    .collect();
                let json = json!({
                    "height": ev.height,
                    "hash": ev.hash,
                    "time_ms": ev.time_ms,
                    "tx_count": ev.receipts.len(),
                    "receipts": receipts,
                });
                Event::default().event("block").data(json.to_string())
            }
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
    let text = s.metrics.render(&crate::metrics::Snapshot {
        mempool_txs: txs,
        mempool_bytes: bytes,
        peers: (s.peers)(),
        syncing: s.status().syncing,
        audit_waiting: s.audit.waiting(),
        storage_bytes: s.store.size_on_disk(),
    });
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Loads a PEM certificate chain and private key into a TLS acceptor
/// (rustls, TLS 1.2 and 1.3, ring). Errors name the file and what is wrong.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("api.tls_cert {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("api.tls_cert {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "api.tls_cert {} holds no PEM certificate",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "api.tls_key {}: no usable PEM private key: {e}",
            key.display()
        )
    })?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("api.tls_cert and api.tls_key do not make a usable pair: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// Serves `/metrics` alone on its own address (plain HTTP, counts only)
/// until `shutdown`.
pub async fn serve_metrics(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("only /metrics is served here") })
        .with_state(shared);
    let stop = async move {
        let _ = shutdown.wait_for(|v| *v).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!(error = %e, "the metrics listener stopped");
    }
}

/// How long a client may take to send a request's headers, and how long a
/// keep-alive connection may sit idle between requests (hyper runs one
/// timer for both).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in flight (event streams never end
/// on their own).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Serves the API until `shutdown` turns true.
///
/// The accept loop is ours rather than `axum::serve` so that connections
/// get a header-read and idle timeout and go through [`conn::Connections`],
/// which keeps room for new clients when the set is full.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    cfg: ApiConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => match tls_acceptor(cert, key) {
            Ok(a) => Some(a),
            Err(e) => {
                // Checked at startup (`check_tls`); a file that went bad
                // since must not fall back to plain HTTP.
                tracing::error!(error = %e, "cannot load the TLS certificate; the API is not served");
                return;
            }
        },
        _ => None,
    };
    let app = router(shared, &cfg);
    let connections = conn::Connections::new(cfg.max_connections);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut refused = crate::lograte::Summary::new();
    loop {
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off, do not spin.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = async { let _ = shutdown.wait_for(|v| *v).await; } => break,
        };
        let _ = stream.set_nodelay(true);
        let tracked = match connections.admit(stream) {
            Ok(t) => t,
            Err(conn::Full) => {
                refused.record(|n| {
                    tracing::warn!(count = n, last_from = %addr, max = cfg.max_connections,
                        "refused API connections: every connection is busy (one line a minute)")
                });
                continue;
            }
        };
        let router = app.clone();
        let ip = ClientIp(addr.ip());
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ip);
                let mut router = router.clone();
                // A Router is always ready; its error type is Infallible.
                async move { tower_service::Service::call(&mut router, req).await }
            });
        match &tls {
            None => {
                let connection =
                    http.serve_connection(hyper_util::rt::TokioIo::new(tracked), service);
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = watched.await {
                        tracing::trace!(error = %e, "API connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let http = http.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    // The handshake gets the same bound as a request's headers.
                    let stream =
                        match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(tracked))
                            .await
                        {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => return,
                        };
                    let connection =
                        http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(connection).await {
                        tracing::trace!(error = %e, "API connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("API shutdown: left connections still open after the grace period");
    }
}
