//! The OpenAPI 3.1 description of the API, served at `/v1/openapi.json`.
//!
//! Nothing here lists routes or fields by hand. Every route is registered
//! through utoipa-axum's `routes!`, which takes the path from the handler's
//! `#[utoipa::path]` and adds the handler to the router and the document
//! together; every answer's schema is derived from the Rust type the
//! handler serialises. What this module adds is what belongs to no one
//! handler: the title, the signature scheme, and the answers the
//! middleware gives on any route (a refused signature, a spent budget, a
//! storage fault).

use serde_json::{json, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::schema::ErrorBody;

/// The signature scheme every signed read uses (docs/SPEC.md §5).
const SIGNATURE_SCHEME: &str = "HTTP Message Signatures (RFC 9421), ed25519. Signature-Input covers at least \"@method\" \"@path\" \"@query\", plus \"content-digest\" (RFC 9530, sha-256) with a body and \"deltachain-purpose\" when that header is sent; parameters created, expires (at most 300 s after created; created within 60 s of the node's clock), nonce (single use), keyid = the member's or enterprise's public key in hex, alg=\"ed25519\" optional, tag=\"deltachain/<chain id>/<node key>\" recommended. The Signature-Input header must accompany Signature. See docs/SPEC.md §5.";

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "memberSignature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Signature",
                SIGNATURE_SCHEME,
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Deltachain node API",
        version = "1",
        description = "Submit signed credit, IP, receivable and public-credit records, query the cross-city view, and fetch proofs a bank can verify against the validators' signatures. Reads of record content need a request signed by a member or enterprise key (security scheme memberSignature); every read of an enterprise's data is recorded in its query log on chain. Errors are `{\"error\": {\"code\", \"message\"}}` with a stable code. The wire formats are specified in docs/SPEC.md.",
        license(name = "Apache-2.0")
    ),
    modifiers(&Security),
    components(schemas(ErrorBody)),
    tags(
        (name = "transactions", description = "Submitting and following signed transactions"),
        (name = "blocks", description = "Blocks and the stream of committed blocks"),
        (name = "enterprises", description = "An enterprise's records, report and query log: consent-checked and audited"),
        (name = "consents", description = "Consents enterprises give to members"),
        (name = "registry", description = "IP rights, receivables, members, objections and admitted codes"),
        (name = "node", description = "The node itself")
    )
)]
struct ApiDoc;

/// The document's title, security scheme and tags; routes are added to it
/// as they are registered.
pub(super) fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Answers any route can give, from the middleware in front of every
/// handler, with the codes a client will see.
const COMMON: &[(&str, &str)] = &[
    ("401", "A Signature header was sent and refused: signature_required, malformed_signature, component_not_covered, bad_signature, unknown_key, clock_skew, signature_expired, signature_validity_too_long, replayed_nonce, content_digest_mismatch or wrong_target"),
    ("413", "body_too_large"),
    ("429", "too_many_bad_requests (this address spent its budget of bad signatures) or too_many_signed_requests; retry after the Retry-After header"),
    ("500", "storage_error (the node could not read its database) or internal_error (an answer could not be encoded)"),
    ("503", "replay_cache_full; retry after the Retry-After header"),
];

/// One server-sent event of `/v1/events` as a client sees it: a `block`
/// event whose data is a `BlockEvent` in JSON, or a `lagged` event whose
/// data is how many blocks a slow subscriber skipped.
fn sse_frame() -> Value {
    json!({"oneOf": [
        {"type": "object", "required": ["event", "data"], "properties": {
            "event": {"const": "block"},
            "data": {"type": "string", "contentMediaType": "application/json",
                     "contentSchema": {"$ref": "#/components/schemas/BlockEvent"}},
            "id": {"type": "string"}, "retry": {"type": "integer"}}},
        {"type": "object", "required": ["event", "data"], "properties": {
            "event": {"const": "lagged"},
            "data": {"type": "string", "pattern": "^[0-9]+$"},
            "id": {"type": "string"}, "retry": {"type": "integer"}}}
    ]})
}

/// The finished document: the derived one plus the middleware's answers
/// on every operation that does not describe them itself, and the framing
/// of the event stream.
pub(super) fn finish(doc: utoipa::openapi::OpenApi) -> Value {
    let mut v = serde_json::to_value(&doc).unwrap_or(Value::Null);
    let stream = &mut v["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]
        ["text/event-stream"]["schema"];
    if stream.is_object() {
        *stream = sse_frame();
    }
    let error = json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
    if let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let Some(ops) = item.as_object_mut() else {
                continue;
            };
            for op in ops.values_mut() {
                // An optional parameter is one left out: a URL or header
                // has no JSON null, so `Option<T>` is just T here.
                for p in op
                    .get_mut("parameters")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if let Some(types) = p["schema"]["type"].as_array() {
                        let named: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                        if let [one] = named[..] {
                            p["schema"]["type"] = one.clone();
                        }
                    }
                }
                let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                    continue;
                };
                for (code, description) in COMMON {
                    responses
                        .entry(code.to_string())
                        .or_insert_with(|| json!({"description": description, "content": error}));
                }
            }
        }
    }
    v
}

/// The document a node serves, without starting one: the same routes,
/// with `/metrics` when the API serves it.
pub fn document(metrics_on_api: bool) -> Value {
    let (_, doc) = super::api_router(metrics_on_api).split_for_parts();
    finish(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    /// The router is built only from `routes!` calls, which put each route
    /// in the document; a plain `.route(` would add a route the document
    /// does not know. Only the separate metrics listener may use one.
    #[test]
    fn no_route_is_registered_past_the_document() {
        for (file, text) in [
            ("mod.rs", include_str!("mod.rs")),
            ("registry.rs", include_str!("registry.rs")),
        ] {
            let plain: Vec<&str> = text
                .lines()
                .filter(|l| l.contains(".route(") && !l.contains("// metrics listener"))
                .collect();
            assert!(plain.is_empty(), "{file}: {plain:?}");
        }
    }

    #[test]
    fn every_operation_is_described_secured_and_answered_by_a_schema() {
        let doc = document(true);
        let paths = doc["paths"].as_object().unwrap();
        assert_eq!(paths.len(), 27, "{:?}", paths.keys().collect::<Vec<_>>());
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let at = format!("{method} {path}");
                assert!(
                    op["summary"].is_string() && op["description"].is_string(),
                    "{at}"
                );
                assert!(op["security"].is_array(), "{at}: no security requirement");
                assert!(op["tags"].is_array(), "{at}");
                let responses = op["responses"].as_object().unwrap();
                let ok = responses
                    .iter()
                    .find(|(code, _)| code.starts_with('2'))
                    .unwrap_or_else(|| panic!("{at}: no success answer"));
                assert!(
                    ok.1["content"].is_object(),
                    "{at}: success without a schema"
                );
                for (code, _) in COMMON {
                    assert!(responses.contains_key(*code), "{at}: lacks {code}");
                }
                for name in path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                {
                    let declared =
                        op["parameters"].as_array().into_iter().flatten().any(|p| {
                            p["name"] == name && p["in"] == "path" && p["required"] == true
                        });
                    assert!(declared, "{at}: path parameter {name} not declared");
                }
            }
        }
        let schemes = &doc["components"]["securitySchemes"]["memberSignature"];
        assert_eq!(schemes["type"], "apiKey");
        assert_eq!(schemes["in"], "header");
        assert_eq!(schemes["name"], "Signature");
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document(true);
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 50, "{}", all.len());
        for r in all {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r}"));
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} does not resolve"
            );
        }
    }

    #[test]
    fn metrics_are_documented_where_they_are_served() {
        assert!(document(true)["paths"]["/metrics"].is_object());
        assert!(document(false)["paths"].get("/metrics").is_none());
    }

    #[test]
    fn answers_name_their_fields_as_the_handlers_write_them() {
        let doc = document(true);
        let s = &doc["components"]["schemas"];
        // Spot checks of fields clients and the CLI rely on.
        for (schema, field) in [
            ("IpView", "active_pledge"),
            ("Report", "withheld"),
            ("ReceivableView", "unfinanced_fen"),
            ("AsOf", "as_of_height"),
            ("TxAnswer", "receipt"),
            ("StatusView", "latest_block_hash"),
            ("EnterpriseView", "credit_records"),
        ] {
            // A flattened part makes the schema an allOf of its parts.
            let parts: Vec<&Value> = match s[schema]["allOf"].as_array() {
                Some(all) => all.iter().collect(),
                None => vec![&s[schema]],
            };
            assert!(
                parts.iter().any(|p| p["properties"][field].is_object()),
                "{schema}.{field}"
            );
        }
        assert_eq!(s["HexHash"]["pattern"], "^[0-9a-f]{64}$");
    }
}
