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
pub mod answers;
pub mod auth;
pub mod conn;
pub mod limits;
pub mod openapi;
pub mod proofs;
pub mod registry;
pub mod schema;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use deltachain_protocol::{
    merkle, validate, AuditEntry, AuditOutcome, AuditRoute, Date, Hash, PublicKey, Purpose, Scope,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::ApiConfig;
use crate::mempool::AdmitError;
use crate::node::Shared;
use crate::storage::StoreError;
use access::{decide, Resource};
use answers::{
    AccountView, AuditView, BatchAnswer, BatchItem, BlockEvent, ConsentAnswer, ConsentEntry,
    ConsentList, ConsentView, EnterpriseAnswer, EnterpriseView, IpAbsent, IpAnswer, MemberAnswer,
    MembersView, ProvenConsent, ProvenEnterprise, QueriesBy, QueryLog, StatusView, Submitted,
    TxAnswer, TxProofAnswer, TxState, ValidatorView, ValidatorsView,
};
use auth::Caller;
pub use schema::ErrorBody;
use schema::{AuditUnavailable, Forbidden, Pruned, SubmitBatch, SubmitTx};
use views::{BlockAnswer, Names};

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
        let mut r = (self.status, Json(ErrorBody::new(self.code, &self.message))).into_response();
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

fn ok<T: serde::Serialize>(v: T) -> ApiResult {
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
/// at least one and at most [`MAX_BATCH_TXS`].
pub fn parse_batch_body(bytes: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let v = json_body(bytes)?;
    let list = v
        .get("txs")
        .and_then(|t| t.as_array())
        .ok_or_else(|| ApiError::bad("bad_request", "body must be {\"txs\": [\"<hex>\", ...]}"))?;
    if list.is_empty() {
        return Err(ApiError::bad(
            "empty_batch",
            "a batch carries at least one transaction",
        ));
    }
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

/// Builds the router. Its routes and `/v1/openapi.json` come from the same
/// `routes!` calls (see [`openapi`]), so the document lists exactly the
/// routes this node serves.
pub fn router(shared: Arc<Shared>, cfg: &ApiConfig) -> Router {
    let auth = auth::AuthState {
        shared: shared.clone(),
        max_body: cfg.max_body_bytes,
    };
    let (app, doc) = api_router(cfg.metrics_listen.is_none()).split_for_parts();
    let doc = OpenApiDocument(Bytes::from(
        serde_json::to_vec(&openapi::finish(doc)).unwrap_or_default(),
    ));
    app.fallback(|| async { ApiError::not_found("no such route; see /v1/openapi.json") })
        .layer(axum::Extension(doc))
        .layer(axum::middleware::from_fn_with_state(
            auth,
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), timed))
        .with_state(shared)
}

/// Every route, each registered with its OpenAPI description.
fn api_router(metrics_on_api: bool) -> OpenApiRouter<Arc<Shared>> {
    let app = OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(submit))
        .routes(routes!(submit_batch))
        .routes(routes!(get_tx))
        .routes(routes!(get_proof))
        .routes(routes!(latest_block))
        .routes(routes!(get_block))
        .routes(routes!(enterprise))
        .routes(routes!(enterprise_queries))
        .routes(routes!(queries_by))
        .routes(routes!(consent))
        .routes(routes!(enterprise_consents))
        .routes(routes!(ip))
        .routes(routes!(registry::receivable))
        .routes(routes!(registry::enterprise_receivables))
        .routes(routes!(registry::report))
        .routes(routes!(registry::objections))
        .routes(routes!(registry::objection))
        .routes(routes!(registry::uscc_exceptions))
        .routes(routes!(registry::uscc_exception))
        .routes(routes!(status))
        .routes(routes!(validators))
        .routes(routes!(members))
        .routes(routes!(member))
        .routes(routes!(account))
        .routes(routes!(events))
        .routes(routes!(openapi_json));
    if metrics_on_api {
        app.routes(routes!(metrics))
    } else {
        app
    }
}

/// The serialised OpenAPI document, built once with the router.
#[derive(Clone)]
struct OpenApiDocument(Bytes);

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "node",
    summary = "This document",
    description = "OpenAPI 3.1, derived from the handlers' own types.",
    security(()),
    responses(
        (status = 200, description = "OpenAPI 3.1", body = Object)
    )
)]
async fn openapi_json(axum::Extension(doc): axum::Extension<OpenApiDocument>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        doc.0,
    )
        .into_response()
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
async fn audited<T: serde::Serialize>(
    s: &Shared,
    caller: &Caller,
    uscc: &str,
    route: AuditRoute,
    answer: Result<(access::Grant, T), ApiError>,
) -> ApiResult {
    let Some(p) = caller.0.as_deref() else {
        // Unsigned: refused before any enterprise data was looked at, and
        // there is no requester to record.
        return match answer {
            Ok(_) => Err(access::signature_required()),
            Err(e) => Err(e),
        };
    };
    let (status, bytes, basis, purpose, outcome) = match answer {
        Ok((g, v)) => (
            StatusCode::OK,
            serde_json::to_vec(&v),
            g.basis,
            g.purpose,
            AuditOutcome::Granted,
        ),
        Err(e) if e.status == StatusCode::FORBIDDEN => (
            e.status,
            serde_json::to_vec(&ErrorBody::new(e.code, &e.message)),
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
    let bytes = bytes.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("the answer could not be encoded: {e}"),
        )
    })?;
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
fn known_status(s: &Shared, raw: &[u8], e: &AdmitError) -> Result<Option<Submitted>, ApiError> {
    if !matches!(e, AdmitError::Duplicate | AdmitError::StaleNonce { .. }) {
        return Ok(None);
    }
    let Ok(tx) = deltachain_protocol::SignedTransaction::decode(raw) else {
        return Ok(None);
    };
    let hash = tx.hash();
    if let Some(loc) = s.store.tx_location(&hash)? {
        return Ok(Some(Submitted {
            tx_hash: hash,
            status: Some(TxState::Committed),
            height: Some(loc.height),
            outcome: Some(loc.receipt.outcome),
        }));
    }
    let pending = s.mempool.lock().expect("mempool lock").get(&hash).is_some();
    Ok(pending.then(|| Submitted::pending(hash)))
}

#[utoipa::path(
    post,
    path = "/v1/txs",
    tag = "transactions",
    request_body = SubmitTx,
    summary = "Submit one signed transaction",
    description = "The body is `{\"tx\": \"<hex>\"}`, the hex of the canonical bytes of a SignedTransaction (docs/SPEC.md §6.2). A resubmission of the same signed bytes is answered with the transaction's status, never applied twice.",
    params(),
    security((), ("memberSignature" = [])),
    responses(
        (status = 200, description = "already committed: its height and outcome", body = Submitted),
        (status = 202, description = "admitted to the mempool, or already pending", body = Submitted),
        (status = 400, description = "invalid transaction: the code names the check that failed (bad_json, bad_hex, decode, bad_signature, wrong_chain, invalid_payload, uscc_not_admitted, unknown_sender, stale_nonce, nonce_too_far, ...)", body = ErrorBody),
        (status = 409, description = "duplicate or nonce_taken: another transaction holds this nonce", body = ErrorBody),
        (status = 413, description = "body_too_large", body = ErrorBody),
        (status = 503, description = "mempool_full: retry after the Retry-After header", body = ErrorBody)
    )
)]
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
        Ok(hash) => Ok((StatusCode::ACCEPTED, Json(Submitted::pending(hash))).into_response()),
        Err(e) => match known_status(&s, &raw, &e)? {
            Some(v) if v.status == Some(TxState::Committed) => ok(v),
            Some(v) => Ok((StatusCode::ACCEPTED, Json(v)).into_response()),
            None => Err(e.into()),
        },
    }
}

#[utoipa::path(
    post,
    path = "/v1/txs/batch",
    tag = "transactions",
    request_body = SubmitBatch,
    summary = "Submit up to 10,000 signed transactions",
    description = "The body is `{\"txs\": [\"<hex>\", ...]}`. Each transaction gets its own result, in order; one refusal does not refuse the others.",
    params(),
    security((), ("memberSignature" = [])),
    responses(
        (status = 202, description = "one result per transaction", body = BatchAnswer),
        (status = 400, description = "bad_json, bad_request, empty_batch or batch_too_large", body = ErrorBody),
        (status = 413, description = "body_too_large", body = ErrorBody)
    )
)]
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
                BatchItem::Admitted(Submitted {
                    tx_hash: h,
                    status: None,
                    height: None,
                    outcome: None,
                })
            }
            Err(e) => match known_status(&s, bytes, &e)? {
                Some(v) => BatchItem::Admitted(v),
                None => {
                    let e = ApiError::from(e);
                    BatchItem::Refused(ErrorBody::new(e.code, &e.message))
                }
            },
        });
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(BatchAnswer {
            accepted,
            results: items,
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/txs/{hash}",
    tag = "transactions",
    summary = "A transaction, pending or committed with its receipt",
    description = "For its sender, regulators (a regulator's read of another's enterprise data goes to that enterprise's query log) and validator operators; others see it with enterprise data withheld, when they may see it at all.",
    params(("hash" = String, Path, description = "transaction hash, 64 hex digits", pattern = "^[0-9a-fA-F]{64}$", max_length = 64), ("Deltachain-Purpose" = Option<String>, Header, description = "why a regulator reads another party's enterprise data in this transaction; covered by the signature and recorded in the enterprise's query log", pattern = "^[a-z_]{1,32}$", max_length = 32)),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "the transaction", body = TxAnswer),
        (status = 400, description = "bad_hash", body = ErrorBody),
        Forbidden,
        (status = 404, description = "neither pending nor committed on this node", body = ErrorBody),
        AuditUnavailable
    )
)]
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
        let block_hash = s
            .store
            .block_hash(loc.height)?
            .ok_or_else(|| ApiError::not_found("block missing"))?;
        let full = caller_key(&caller) == Some(t.tx.sender) || regulator_reads(&caller, &t);
        let body = TxAnswer {
            tx_hash: hash,
            status: TxState::Committed,
            height: Some(loc.height),
            index: Some(loc.index),
            block_hash: Some(block_hash),
            receipt: Some(loc.receipt),
            tx: views::tx(&mut names, &t, &hash, full)?,
        };
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
            let body = TxAnswer {
                tx_hash: hash,
                status: TxState::Pending,
                height: None,
                index: None,
                block_hash: None,
                receipt: None,
                tx: views::tx(&mut names, &t, &hash, full)?,
            };
            answer_tx(&s, &caller, &t, body).await
        }
        None => Err(ApiError::not_found(format!(
            "transaction {hash} is neither pending nor committed on this node"
        ))),
    }
}

#[utoipa::path(
    get,
    path = "/v1/txs/{hash}/proof",
    tag = "transactions",
    summary = "Proof that a transaction and its receipt were committed",
    description = "Merkle proofs of the transaction and its receipt, the block header and the commit certificate: `deltachain verify HASH` checks them against the validators' keys without trusting the node.",
    params(("hash" = String, Path, description = "transaction hash, 64 hex digits", pattern = "^[0-9a-fA-F]{64}$", max_length = 64), ("Deltachain-Purpose" = Option<String>, Header, description = "why a regulator reads another party's enterprise data in this transaction; covered by the signature and recorded in the enterprise's query log", pattern = "^[a-z_]{1,32}$", max_length = 32)),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "the proof", body = TxProofAnswer),
        (status = 400, description = "bad_hash", body = ErrorBody),
        Forbidden,
        (status = 404, description = "not committed", body = ErrorBody),
        AuditUnavailable
    )
)]
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
    let body = TxProofAnswer {
        tx_hash: hash,
        height: loc.height,
        index: loc.index,
        tx: bytes,
        receipt: loc.receipt,
        tx_proof,
        receipt_proof,
        header: block.header.clone(),
        block_hash: block.hash(),
        certificate: cert,
    };
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
async fn answer_tx<T: serde::Serialize>(
    s: &Shared,
    caller: &Caller,
    t: &deltachain_protocol::SignedTransaction,
    body: T,
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
        return ok(BlockAnswer::Redacted(views::BlockHeaderView {
            height: block.header.height,
            hash: block.hash(),
            header: views::header(&block.header),
            commit: cert,
            redacted:
                "transactions and receipts are shown to regulators and validator operators only"
                    .into(),
        }));
    }
    let mut names = Names::new(&s.store, &s.genesis);
    ok(BlockAnswer::Whole(views::block(
        &mut names,
        &block,
        &receipts,
        cert.as_ref(),
        caller_key(caller).as_ref(),
    )?))
}

#[utoipa::path(
    get,
    path = "/v1/blocks/latest",
    tag = "blocks",
    summary = "The last committed block",
    description = "Whole for regulators and validator operators; header and certificate only for everyone else.",
    params(),
    security((), ("memberSignature" = [])),
    responses(
        (status = 200, description = "the block", body = BlockAnswer),
        (status = 404, description = "no block has been committed yet", body = ErrorBody)
    )
)]
async fn latest_block(State(s): State<Arc<Shared>>, caller: Caller) -> ApiResult {
    let tip = s.store.tip().height;
    if tip == 0 {
        return Err(ApiError::not_found("no block has been committed yet"));
    }
    block_view(&s, &caller, tip).await
}

#[utoipa::path(
    get,
    path = "/v1/blocks/{id}",
    tag = "blocks",
    summary = "A block by height or hash",
    description = "Whole for regulators and validator operators; header and certificate only for everyone else.",
    params(("id" = String, Path, description = "height, or 64-hex block hash", pattern = "^([0-9]{1,20}|[0-9a-fA-F]{64})$", max_length = 64)),
    security((), ("memberSignature" = [])),
    responses(
        (status = 200, description = "the block", body = BlockAnswer),
        (status = 400, description = "bad_height or bad_hash", body = ErrorBody),
        (status = 404, description = "no such block", body = ErrorBody)
    )
)]
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
    let page = query_of(page)?;
    check_paging(page.offset, page.limit)?;
    Ok(page)
}

/// Paging as `/v1/openapi.json` documents it: an offset that fits in 32
/// bits and a limit from 1 to [`MAX_PAGE`]; anything else is named, not
/// silently clamped.
pub(crate) fn check_paging(offset: Option<usize>, limit: Option<usize>) -> Result<(), ApiError> {
    if offset.is_some_and(|o| o > u32::MAX as usize) {
        return Err(ApiError::bad(
            "bad_query",
            format!("offset must be at most {}", u32::MAX),
        ));
    }
    if let Some(l) = limit.filter(|l| !(1..=MAX_PAGE).contains(l)) {
        return Err(ApiError::bad(
            "bad_query",
            format!("limit must be from 1 to {MAX_PAGE}, got {l}"),
        ));
    }
    Ok(())
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
/// the request is signed. `paged` routes also check offset and limit;
/// the others ignore them.
fn enterprise_request(
    s: &Shared,
    caller: &Caller,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
    uscc: &str,
    paged: bool,
) -> Result<(Page, String), ApiError> {
    let page = if paged {
        page_of(page)?
    } else {
        query_of(page)?
    };
    let uscc = uscc_of(s, uscc)?;
    if caller.0.is_none() {
        return Err(access::signature_required());
    }
    Ok((page, uscc))
}

/// Most records scanned to find the ones a reporter sent itself.
const MAX_OWN_SCAN: usize = 10_000;

#[utoipa::path(
    get,
    path = "/v1/enterprises/{uscc}",
    tag = "enterprises",
    summary = "An enterprise's records from every city",
    description = "Credit records (newest first, with corrections and dispute marks), public-credit records and the IP it owns with pledges. For regulators, the enterprise itself, or a credit_reporter/lender/reader holding its active consent (scope credit or all) for the signed purpose; with own=true, only the records the caller reported (no consent needed). With proof=true, every credit record at a height with the proof of their commitment (`deltachain verify enterprise`). Every read, granted or refused, goes to the enterprise's query log on chain.",
    params(("uscc" = String, Path, description = "Unified Social Credit Code (GB 32100-2015; the node also normalises lower case and separators)", pattern = "^[0-9A-HJ-NP-RTUWXY]{18}$", min_length = 18, max_length = 18), ("Deltachain-Purpose" = Option<String>, Header, description = "why the caller reads: loan_approval, post_loan_management, guarantee_review, supervision or self_inquiry; covered by the signature, recorded in the query log, and required of anyone reading on a consent", pattern = "^[a-z_]{1,32}$", max_length = 32), ("own" = Option<bool>, Query, description = "only the records the caller reported itself"), ("offset" = Option<u64>, Query, description = "entries to skip", minimum = 0, maximum = 4294967295u64), ("limit" = Option<u32>, Query, description = "entries to return, at most 500 (default 100)", minimum = 1, maximum = 500), proofs::ProofQuery),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "the records (or, with proof=true, all of them with a proof)", body = EnterpriseAnswer),
        (status = 400, description = "invalid_uscc, bad_query, proof_needs_all_records, future_height (above the tip), no_certified_height, height_needs_proof (height without proof=true)", body = ErrorBody),
        Forbidden,
        Pruned,
        (status = 422, description = "too_many_to_prove: more records than one proof carries", body = ErrorBody),
        AuditUnavailable
    )
)]
async fn enterprise(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(uscc): PathStr,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let (page, uscc) = enterprise_request(&s, &caller, page, &uscc, true)?;
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
        Ok(g) if proof => proven_enterprise(&s, &uscc, page.height)
            .map(|v| (g, EnterpriseAnswer::Proven(Box::new(v)))),
        Ok(g) => enterprise_body(&s, &caller, &uscc, &page, own)
            .map(|v| (g, EnterpriseAnswer::Records(Box::new(v)))),
        Err(e) => Err(e),
    };
    audited(&s, &caller, &uscc, route, answer).await
}

/// All of an enterprise's credit records at a height, in order, with the
/// proof of the commitment they must recompute to.
fn proven_enterprise(
    s: &Shared,
    uscc: &str,
    height: Option<u64>,
) -> Result<ProvenEnterprise, ApiError> {
    let (answer, records) = proofs::credits(s, uscc, height)?;
    let mut names = Names::new(&s.store, &s.genesis);
    let mut shown = Vec::with_capacity(records.len());
    for r in &records {
        let mut v = serde_json::to_value(r).unwrap_or_default();
        v["reporter_name"] = json!(names.party(&r.reporter)?.name);
        shown.push(v);
    }
    Ok(ProvenEnterprise {
        uscc: uscc.to_string(),
        as_of_height: answer.height,
        total_credit_records: records.len(),
        credit_records: shown,
        proof: answer,
    })
}

fn enterprise_body(
    s: &Shared,
    caller: &Caller,
    uscc: &str,
    page: &Page,
    own: bool,
) -> Result<EnterpriseView, ApiError> {
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
        let mark = s
            .store
            .dispute(&deltachain_protocol::ObjectionTarget::Record(e.tx_hash))?;
        credit_records.push(views::credit(&mut names, e, mark.map(|m| m.objection))?);
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
    Ok(EnterpriseView {
        uscc: uscc.to_string(),
        as_of_height: s.store.tip().height,
        total_credit_records: total,
        offset,
        credit_records,
        total_public_records: total_public,
        public_records,
        ip,
        only_reported_by_you: own.then_some(true),
    })
}

fn audit_view(names: &mut Names, r: &crate::ledger::AuditRecord) -> Result<AuditView, StoreError> {
    let e = &r.entry;
    Ok(AuditView {
        time: deltachain_protocol::time::format_unix_ms(e.time_ms),
        requester: e.requester,
        requester_name: names.party(&e.requester)?.name,
        enterprise: e.enterprise.clone(),
        route: e.route,
        purpose: e.purpose,
        basis: e.basis.clone(),
        outcome: e.outcome.clone(),
        response_hash: e.response_hash,
        serving_node: r.node,
        serving_node_name: names.party(&r.node)?.name,
        height: r.height,
    })
}

/// A page of audit entries under an index prefix, most recently recorded first, as JSON.
fn audit_list(
    s: &Shared,
    prefix: &[u8],
    offset: usize,
    limit: Option<usize>,
) -> Result<Vec<AuditView>, ApiError> {
    let rows = s
        .store
        .audits(prefix, offset, limit.unwrap_or(100).min(MAX_PAGE))?;
    let mut names = Names::new(&s.store, &s.genesis);
    Ok(rows
        .iter()
        .map(|r| audit_view(&mut names, r))
        .collect::<Result<Vec<_>, _>>()?)
}

#[utoipa::path(
    get,
    path = "/v1/enterprises/{uscc}/queries",
    tag = "enterprises",
    summary = "The enterprise's query log",
    description = "Who read its data, when, through which node, for what purpose, on what ground, and the outcome. For the enterprise itself and regulators; this read is itself logged.",
    params(("uscc" = String, Path, description = "Unified Social Credit Code (GB 32100-2015; the node also normalises lower case and separators)", pattern = "^[0-9A-HJ-NP-RTUWXY]{18}$", min_length = 18, max_length = 18), ("offset" = Option<u64>, Query, description = "entries to skip", minimum = 0, maximum = 4294967295u64), ("limit" = Option<u32>, Query, description = "entries to return, at most 500 (default 100)", minimum = 1, maximum = 500)),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "most recent first", body = QueryLog),
        (status = 400, description = "invalid_uscc or bad_query", body = ErrorBody),
        Forbidden,
        AuditUnavailable
    )
)]
async fn enterprise_queries(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(uscc): PathStr,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let (page, uscc) = enterprise_request(&s, &caller, page, &uscc, true)?;
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
                QueryLog {
                    uscc: uscc.clone(),
                    as_of_height: s.store.tip().height,
                    offset,
                    queries: list,
                    not_yet_on_chain: "reads served in the last few seconds reach the chain within audit.ship_interval_ms plus a block".into(),
                },
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

#[utoipa::path(
    get,
    path = "/v1/queries",
    tag = "enterprises",
    summary = "The reads one requester made",
    description = "For regulators, or the requester itself (the default).",
    params(("requester" = Option<String>, Query, description = "public key in hex; the caller's own by default", pattern = "^[0-9a-fA-F]{64}$", max_length = 64), ("offset" = Option<u64>, Query, description = "entries to skip", minimum = 0, maximum = 4294967295u64), ("limit" = Option<u32>, Query, description = "entries to return, at most 500 (default 100)", minimum = 1, maximum = 500)),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "most recent first", body = QueriesBy),
        (status = 400, description = "bad_key or bad_query", body = ErrorBody),
        Forbidden
    )
)]
async fn queries_by(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    q: Result<Query<ByRequester>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(|e| ApiError::bad("bad_query", validate::truncate(&e.body_text())))?;
    check_paging(q.offset, q.limit)?;
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
    ok(QueriesBy {
        requester,
        offset,
        queries: list,
    })
}

/// Every consent an enterprise gave (so it can find and revoke them): for
/// the enterprise itself and regulators.
#[utoipa::path(
    get,
    path = "/v1/enterprises/{uscc}/consents",
    tag = "consents",
    summary = "Every consent an enterprise gave",
    description = "And whether each is in force (a consent lapses when revoked, past its dates, or when the enterprise's key is replaced). For the enterprise itself and regulators.",
    params(("uscc" = String, Path, description = "Unified Social Credit Code (GB 32100-2015; the node also normalises lower case and separators)", pattern = "^[0-9A-HJ-NP-RTUWXY]{18}$", min_length = 18, max_length = 18)),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "its consents", body = ConsentList),
        (status = 400, description = "invalid_uscc", body = ErrorBody),
        Forbidden
    )
)]
async fn enterprise_consents(
    State(s): State<Arc<Shared>>,
    caller: Caller,
    PathStr(uscc): PathStr,
) -> ApiResult {
    let uscc = uscc_of(&s, &uscc)?;
    decide(&caller, &Resource::Consents { uscc: &uscc }, &*s)?;
    let today = today(&s);
    let bound = s.store.enterprise_key(&uscc)?;
    let consents = s
        .store
        .consents_of(&uscc, 1000)?
        .iter()
        .map(|r| ConsentEntry {
            consent: r.signed.consent.clone(),
            signer: r.signer,
            height: r.height,
            revoked_height: r.revoked_height,
            active: r.active(today, bound.as_ref()),
        })
        .collect();
    ok(ConsentList {
        uscc,
        as_of: today,
        consents,
    })
}

/// A consent: for its enterprise, its grantee and regulators.
#[utoipa::path(
    get,
    path = "/v1/consents/{id}",
    tag = "consents",
    summary = "A consent and whether it is in force",
    description = "Judged at the latest block, and only while its signer is still the enterprise's bound key. For its enterprise, its grantee and regulators; 404 for anyone else. With proof=true, the consent record at a height with its proof.",
    params(("id" = String, Path, description = "consent id", pattern = "^[A-Za-z0-9._-]{1,64}$", max_length = 64), proofs::ProofQuery),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "the consent", body = ConsentAnswer),
        (status = 400, description = "bad_query, future_height (above the tip), no_certified_height, height_needs_proof (height without proof=true)", body = ErrorBody),
        (status = 404, description = "no such consent of yours", body = ErrorBody),
        Pruned
    )
)]
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
        return ok(ConsentAnswer::Proven(Box::new(ProvenConsent {
            consent_id: id,
            as_of_height: answer.height,
            record: at,
            proof: answer,
        })));
    }
    let today = today(&s);
    let bound = s.store.enterprise_key(&c.enterprise)?;
    ok(ConsentAnswer::Current(Box::new(ConsentView {
        consent: c.clone(),
        signature: rec.signed.signature,
        signer: rec.signer,
        tx_hash: rec.tx_hash,
        height: rec.height,
        revoked_height: rec.revoked_height,
        revoked_tx: rec.revoked_tx,
        active: rec.active(today, bound.as_ref()),
        as_of: today,
    })))
}

#[utoipa::path(
    get,
    path = "/v1/ip/{ip_id}",
    tag = "registry",
    summary = "An IP right: owner, active pledge and history",
    description = "With proof=true, the right as of a height (no history), or registered=false, with the proof of presence or absence (`deltachain verify ip`).",
    params(("ip_id" = String, Path, description = "patent number (ZL...) with its check digit, or a registration id", pattern = "^(ZL([0-9]{8}|[0-9]{12})\\.[0-9X]|[A-Za-z0-9._-]{1,64})$", max_length = 64), proofs::ProofQuery),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "the right", body = IpAnswer),
        (status = 400, description = "invalid_ip_id or bad_query, future_height (above the tip), no_certified_height, height_needs_proof (height without proof=true)", body = ErrorBody),
        Forbidden,
        (status = 404, description = "not registered on this chain", body = ErrorBody),
        Pruned
    )
)]
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
        return ok(match &at {
            Some(r) => {
                let mut v = views::ip(&mut names, r, day, None)?;
                v.at = views::AsOf::proven(answer);
                IpAnswer::Right(Box::new(v))
            }
            None => IpAnswer::Absent(Box::new(IpAbsent {
                ip_id,
                registered: false,
                as_of_height: answer.height,
                proof: answer,
            })),
        });
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
    v.at = views::AsOf::tip(s.store.tip().height);
    ok(IpAnswer::Right(Box::new(v)))
}

#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "node",
    summary = "Node and chain status",
    description = "Height, latest block, consensus round and step, peers, whether the node is catching up, and mempool size.",
    params(),
    security((), ("memberSignature" = [])),
    responses(
        (status = 200, description = "status", body = StatusView)
    )
)]
async fn status(State(s): State<Arc<Shared>>) -> ApiResult {
    let st = s.status();
    ok(StatusView {
        chain_id: s.genesis.chain_id.clone(),
        genesis_hash: s.genesis_hash,
        node: s.name.clone(),
        node_key: s.public_key,
        height: st.height,
        latest_block_hash: st.latest_block_hash,
        latest_block_time: deltachain_protocol::time::format_unix_ms(st.latest_block_time_ms),
        round: st.round,
        step: st.step,
        peers: (s.peers)(),
        syncing: st.syncing,
        mempool_txs: s.mempool.lock().expect("mempool lock").len(),
        validator: s
            .genesis
            .validators
            .iter()
            .any(|v| v.public_key == s.public_key),
    })
}

#[utoipa::path(
    get,
    path = "/v1/validators",
    tag = "node",
    summary = "The validator set",
    description = "From genesis, with each validator's libp2p peer id.",
    params(),
    security((), ("memberSignature" = [])),
    responses(
        (status = 200, description = "the set and the quorum", body = ValidatorsView)
    )
)]
async fn validators(State(s): State<Arc<Shared>>) -> ApiResult {
    let validators: Vec<ValidatorView> = s
        .genesis
        .validators
        .iter()
        .enumerate()
        .map(|(i, v)| ValidatorView {
            index: i,
            name: v.name.clone(),
            city: v.city.clone(),
            public_key: v.public_key,
            peer_id: crate::network::peer_id_of(&v.public_key)
                .map(|p| p.to_string())
                .unwrap_or_default(),
            p2p_addr: v.p2p_addr.clone(),
        })
        .collect();
    let quorum = deltachain_protocol::quorum(validators.len());
    ok(ValidatorsView { validators, quorum })
}

#[utoipa::path(
    get,
    path = "/v1/members",
    tag = "registry",
    summary = "Current members and roles",
    description = "For members, validators and enterprises.",
    params(),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "members", body = MembersView),
        Forbidden
    )
)]
async fn members(State(s): State<Arc<Shared>>, caller: Caller) -> ApiResult {
    decide(&caller, &Resource::Members, &*s)?;
    let list = s.store.members(10_000)?;
    ok(MembersView { members: list })
}

/// One member, by key; with `proof=true`, proven at a height (a key that
/// is not a member gets a proof of absence).
#[utoipa::path(
    get,
    path = "/v1/members/{key}",
    tag = "registry",
    summary = "One member and its roles",
    description = "With proof=true as of a height, with a proof of presence or of absence (member null): `deltachain verify member`.",
    params(("key" = String, Path, description = "public key, 64 hex digits", pattern = "^[0-9a-fA-F]{64}$", max_length = 64), proofs::ProofQuery),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "the member", body = MemberAnswer),
        (status = 400, description = "bad_key or bad_query, future_height (above the tip), no_certified_height, height_needs_proof (height without proof=true)", body = ErrorBody),
        Forbidden,
        (status = 404, description = "not a member", body = ErrorBody),
        Pruned
    )
)]
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
        return ok(MemberAnswer {
            public_key: key,
            member: at,
            as_of_height: answer.height,
            proof: Some(answer),
        });
    }
    let member = s
        .store
        .member(&key)?
        .ok_or_else(|| ApiError::not_found(format!("{key} is not a member of this chain")))?;
    ok(MemberAnswer {
        public_key: key,
        member: Some(member),
        as_of_height: s.store.tip().height,
        proof: None,
    })
}

#[utoipa::path(
    get,
    path = "/v1/accounts/{key}",
    tag = "transactions",
    summary = "A key's membership and next nonce",
    description = "For the key itself, regulators and validator operators.",
    params(("key" = String, Path, description = "public key, 64 hex digits", pattern = "^[0-9a-fA-F]{64}$", max_length = 64)),
    security(("memberSignature" = [])),
    responses(
        (status = 200, description = "the account", body = AccountView),
        (status = 400, description = "bad_key", body = ErrorBody),
        Forbidden
    )
)]
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
    ok(AccountView {
        public_key: key,
        member,
        enterprise,
        committed_nonce: committed,
        next_nonce: pending
            .unwrap_or(committed)
            .max(committed)
            .saturating_add(1),
    })
}

/// Committed blocks as server-sent events: height, hash and time for
/// everyone, the receipts of the subscriber's own transactions for a
/// signed subscriber, every receipt for regulators and validator operators.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "blocks",
    summary = "Committed blocks as server-sent events",
    description = "One `block` event per committed block: height, hash and time for everyone, the receipts of the subscriber's own transactions for a signed subscriber, every receipt for regulators and validator operators. A subscriber that falls behind gets a `lagged` event with the number of blocks skipped.",
    params(),
    security((), ("memberSignature" = [])),
    responses(
        (status = 200, description = "text/event-stream; each `block` event's data is one BlockEvent", body = BlockEvent, content_type = "text/event-stream")
    )
)]
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
                let receipts = ev
                    .receipts
                    .iter()
                    .zip(&ev.senders)
                    .filter(|(_, sender)| everything || Some(**sender) == me)
                    .map(|(r, _)| r.clone())
                    .collect();
                let json = BlockEvent {
                    height: ev.height,
                    hash: ev.hash,
                    time_ms: ev.time_ms,
                    tx_count: ev.receipts.len(),
                    receipts,
                };
                Event::default()
                    .event("block")
                    .data(serde_json::to_string(&json).unwrap_or_default())
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

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "node",
    summary = "Prometheus metrics",
    description = "OpenMetrics text: height, round, timeouts, mempool, storage, peers, committed transactions, commit latency, API request durations by route and status, and libp2p swarm and gossipsub series. Served here unless `[api] metrics_listen` moves it to its own address.",
    params(),
    security(()),
    responses(
        (status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")
    )
)]
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
        .route("/metrics", get(metrics)) // metrics listener: its own address, not the API
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
