//! Who is asking: RFC 9421 request signatures checked against the ledger's
//! members, enterprise keys and validators, and a bounded cache of nonces
//! that makes each signed request single-use.
//!
//! [`authenticate`] runs before every route. A request without signature
//! headers goes on as anonymous and the route decides (most refuse); a
//! request with them is verified completely or refused with 401 and a code
//! saying why. What a verified caller may read is decided in
//! [`super::access`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use deltachain_protocol::httpsig::{self, SigError, PURPOSE_HEADER};
use deltachain_protocol::{crypto, PublicKey, Purpose};

use super::{ApiError, ClientIp};
use crate::ledger::Member;
use crate::node::Shared;

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The signing key.
    pub key: PublicKey,
    /// Its membership, if it is a member's key.
    pub member: Option<Member>,
    /// The enterprise it is bound to, if it is an enterprise key.
    pub enterprise: Option<String>,
    /// True for a validator's key (its operator).
    pub validator: bool,
    /// The signed purpose header: absent, or parsed (or why not).
    pub purpose: Option<Result<Purpose, String>>,
}

impl Principal {
    /// True if the caller has `role`.
    pub fn has(&self, role: deltachain_protocol::Role) -> bool {
        self.member.as_ref().is_some_and(|m| m.roles.has(role))
    }
    /// True for regulators.
    pub fn is_regulator(&self) -> bool {
        self.has(deltachain_protocol::Role::Regulator)
    }
    /// A short description for error messages.
    pub fn describe(&self) -> String {
        match (&self.member, &self.enterprise) {
            (Some(m), _) => format!("member {} ({})", m.name, m.roles),
            (None, Some(u)) => format!("enterprise {u}"),
            (None, None) if self.validator => "this network's validator operator".into(),
            (None, None) => format!("key {}", self.key),
        }
    }
}

/// The caller of a request (set by [`authenticate`]): `None` is anonymous.
#[derive(Debug, Clone)]
pub struct Caller(pub Option<Arc<Principal>>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller(None)))
    }
}

/// Most nonces remembered. Each is forgotten when its signature expires
/// (at most [`httpsig::MAX_VALIDITY_SECS`]); when the cache is full, new
/// signed requests are refused with 503 rather than risk a replay.
pub const MAX_REPLAY_ENTRIES: usize = 500_000;
/// Most nonces one key may have remembered at once, so that one key (a
/// leaked enterprise key, a runaway script) cannot fill the cache for
/// everyone: about 800 requests a second with 60-second signatures.
pub const MAX_REPLAY_PER_KEY: usize = 50_000;

/// Nonces seen, until their signatures expire.
#[derive(Default)]
pub struct ReplayCache {
    inner: Mutex<ReplayInner>,
}

#[derive(Default)]
struct ReplayInner {
    by_expiry: BTreeSet<(i64, u128, [u8; 32])>,
    seen: HashSet<u128>,
    per_key: HashMap<[u8; 32], usize>,
}

/// Why a nonce was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// Seen before.
    Replayed,
    /// No room.
    Full,
    /// This key has too many signatures outstanding.
    KeyFull,
}

impl ReplayCache {
    /// Remembers `nonce` of `key` until `expires`, refusing one already
    /// remembered.
    pub fn check(
        &self,
        key: &PublicKey,
        nonce: &str,
        expires: i64,
        now: i64,
    ) -> Result<(), ReplayError> {
        let digest = crypto::sha256_parts(&[&key.0, nonce.as_bytes()]);
        let id = u128::from_be_bytes(digest.0[..16].try_into().expect("16 bytes"));
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(&(exp, old, k)) = c.by_expiry.first() {
            if exp >= now {
                break;
            }
            c.by_expiry.pop_first();
            c.seen.remove(&old);
            if let Some(n) = c.per_key.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    c.per_key.remove(&k);
                }
            }
        }
        if c.seen.contains(&id) {
            return Err(ReplayError::Replayed);
        }
        if c.seen.len() >= MAX_REPLAY_ENTRIES {
            return Err(ReplayError::Full);
        }
        if c.per_key.get(&key.0).copied().unwrap_or(0) >= MAX_REPLAY_PER_KEY {
            return Err(ReplayError::KeyFull);
        }
        c.seen.insert(id);
        c.by_expiry.insert((expires, id, key.0));
        *c.per_key.entry(key.0).or_insert(0) += 1;
        Ok(())
    }

    /// Nonces remembered.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn unauthorized(e: SigError) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string())
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// State for [`authenticate`].
#[derive(Clone)]
pub struct AuthState {
    /// The node.
    pub shared: Arc<Shared>,
    /// Largest body buffered to check its digest.
    pub max_body: usize,
}

/// Middleware: verifies a request's signature, if it has one, and sets the
/// [`Caller`].
pub async fn authenticate(State(a): State<AuthState>, req: Request, next: Next) -> Response {
    match verify(&a, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn verify(a: &AuthState, req: Request) -> Result<Request, ApiError> {
    let s = &a.shared;
    let (mut parts, body) = req.into_parts();
    let input = parts.headers.get("signature-input");
    let signature = parts.headers.get("signature");
    let (input, signature) = match (input, signature) {
        (None, None) => {
            parts.extensions.insert(Caller(None));
            return Ok(Request::from_parts(parts, body));
        }
        (Some(i), Some(s)) => (i, s),
        _ => {
            return Err(unauthorized(SigError::Malformed(
                "Signature-Input and Signature go together".into(),
            )))
        }
    };
    let text = |v: &axum::http::HeaderValue, name: &str| {
        v.to_str().map(str::to_string).map_err(|_| {
            unauthorized(SigError::Malformed(format!(
                "the {name} header is not ASCII"
            )))
        })
    };
    let parsed = httpsig::parse(
        &text(input, "Signature-Input")?,
        &text(signature, "Signature")?,
    )
    .map_err(unauthorized)?;
    let ip = parts.extensions.get::<ClientIp>().map(|c| c.0);
    if let Some(ip) = ip {
        super::within_budget(s, ip)?;
    }
    // Who claims to sign, before any curve arithmetic: a stranger's key
    // costs a database read, not a signature check.
    let key = PublicKey::from_hex(parsed.params.keyid().map_err(unauthorized)?).map_err(|e| {
        unauthorized(SigError::Malformed(format!(
            "keyid must be the signer's public key in hex: {e}"
        )))
    })?;
    let member = s.store.member(&key)?;
    let enterprise = match member {
        Some(_) => None,
        None => s.store.enterprise_of(&key)?,
    };
    let validator = s.genesis.validators.iter().any(|v| v.public_key == key);
    if member.is_none() && enterprise.is_none() && !validator {
        return Err(unauthorized(SigError::UnknownKey(key.to_hex())));
    }
    let has_body = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    let (bytes, body) = if has_body {
        let b = axum::body::to_bytes(body, a.max_body).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request bodies are limited to {} bytes", a.max_body),
            )
        })?;
        (b.clone(), Body::from(b))
    } else {
        (Bytes::new(), body)
    };
    let mut must = Vec::new();
    if !bytes.is_empty() {
        must.push("content-digest");
        let digest = parts
            .headers
            .get("content-digest")
            .ok_or_else(|| unauthorized(SigError::NotCovered("content-digest".into())))?;
        httpsig::check_content_digest(&text(digest, "Content-Digest")?, &bytes)
            .map_err(unauthorized)?;
    }
    if parts.headers.contains_key(PURPOSE_HEADER) {
        must.push(PURPOSE_HEADER);
    }
    let headers = &parts.headers;
    let lookup = |name: &str| -> Option<String> {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let authority = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
        .to_string();
    let request = httpsig::Request {
        method: parts.method.as_str(),
        authority: &authority,
        path: parts.uri.path(),
        query: parts.uri.query(),
        header: &lookup,
    };
    let now = now_secs();
    let verified = match parsed.verify(&request, now, &must) {
        Ok(v) => v,
        Err(e) => {
            if let (SigError::Bad(_), Some(ip)) = (&e, ip) {
                s.client_limits.charge(ip, 1);
            }
            return Err(unauthorized(e));
        }
    };
    if let Some(tag) = parsed.tag().map_err(unauthorized)? {
        let chain = &s.genesis.chain_id;
        if tag != httpsig::target_tag(chain, None)
            && tag != httpsig::target_tag(chain, Some(&s.public_key))
        {
            return Err(unauthorized(SigError::WrongTarget(
                deltachain_protocol::validate::truncate(tag),
            )));
        }
    }
    match s
        .replay
        .check(&verified.key, &verified.nonce, verified.expires, now)
    {
        Ok(()) => {}
        Err(ReplayError::Replayed) => return Err(unauthorized(SigError::Replayed)),
        Err(ReplayError::KeyFull) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_signed_requests",
                format!("this key has {MAX_REPLAY_PER_KEY} signed requests outstanding; slow down, or sign with shorter validity"),
            ))
        }
        Err(ReplayError::Full) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "replay_cache_full",
                "the node remembers too many signed requests right now; retry shortly",
            ))
        }
    }
    let purpose = lookup(PURPOSE_HEADER).map(|p| {
        p.parse::<Purpose>()
            .map_err(|e| deltachain_protocol::validate::truncate(&e))
    });
    parts.extensions.insert(Caller(Some(Arc::new(Principal {
        key,
        member,
        enterprise,
        validator,
        purpose,
    }))));
    Ok(Request::from_parts(parts, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_cache_refuses_a_second_use_and_forgets_after_expiry() {
        let c = ReplayCache::default();
        let k = deltachain_protocol::Keypair::from_secret([1; 32]).public();
        let k2 = deltachain_protocol::Keypair::from_secret([2; 32]).public();
        c.check(&k, "a", 100, 50).unwrap();
        assert_eq!(c.check(&k, "a", 100, 60), Err(ReplayError::Replayed));
        // Another key may use the same nonce.
        c.check(&k2, "a", 100, 60).unwrap();
        // After expiry the entry is gone (the signature itself is refused
        // as expired by then).
        c.check(&k, "a", 300, 101).unwrap();
        assert_eq!(c.len(), 1);
    }
}
