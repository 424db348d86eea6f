//! The OpenAPI 3.1 description of the API, served at `/v1/openapi.json`.

use serde_json::{json, Value};

fn op(summary: &str, params: Value, ok_schema: &str, errors: &[u16]) -> Value {
    let mut responses = json!({
        "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{ok_schema}")}}}}
    });
    for code in errors {
        responses[code.to_string()] = json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    }
    json!({"summary": summary, "parameters": params, "responses": responses})
}

fn path_param(name: &str, description: &str, schema: Value) -> Value {
    json!([{"name": name, "in": "path", "required": true, "description": description, "schema": schema}])
}

/// A 32-byte hash or key in hex, as the node parses it.
fn hex64() -> Value {
    json!({"type": "string", "pattern": "^[0-9a-fA-F]{64}$", "minLength": 64, "maxLength": 64})
}

/// A USCC: 18 characters of GB 32100-2015's alphabet (the check character
/// is verified by the node; lower case and separators are normalised).
fn uscc() -> Value {
    json!({"type": "string", "pattern": "^[0-9A-HJ-NP-RTUWXY]{18}$", "minLength": 18, "maxLength": 18})
}

/// A patent number with check digit, or a registration id.
fn ip_id() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 64,
        "pattern": "^(ZL([0-9]{8}|[0-9]{12})\\.[0-9X]|[A-Za-z0-9._-]{1,64})$"})
}

/// `proof` and `height`, the query of a provable read.
fn proof_params() -> [Value; 2] {
    [
        json!({"name": "proof", "in": "query", "schema": {"type": "boolean", "default": false}, "description": "attach the certified header, commit certificate and Merkle proofs (see StateAnswer)"}),
        json!({"name": "height", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 18_446_744_073_709_551_615u64}, "description": "answer about this past height (with proof=true; 410 outside the node's window)"}),
    ]
}

fn with_proof(path: Value) -> Value {
    let mut v = path;
    let list = v.as_array_mut().expect("parameters are a list");
    list.extend(proof_params());
    v
}

/// Routes that need a signed request, and whether they also answer 403
/// (a signed caller who may not read it).
const SIGNED: &[(&str, &str)] = &[
    ("/v1/txs/{hash}", "get"),
    ("/v1/txs/{hash}/proof", "get"),
    ("/v1/enterprises/{uscc}", "get"),
    ("/v1/enterprises/{uscc}/queries", "get"),
    ("/v1/queries", "get"),
    ("/v1/consents/{id}", "get"),
    ("/v1/enterprises/{uscc}/consents", "get"),
    ("/v1/ip/{ip_id}", "get"),
    ("/v1/members", "get"),
    ("/v1/members/{key}", "get"),
    ("/v1/accounts/{key}", "get"),
    ("/v1/receivables/{id}", "get"),
    ("/v1/enterprises/{uscc}/receivables", "get"),
    ("/v1/enterprises/{uscc}/report", "get"),
    ("/v1/objections", "get"),
    ("/v1/objections/{id}", "get"),
    ("/v1/uscc-exceptions", "get"),
    ("/v1/uscc-exceptions/{code}", "get"),
];

/// The document.
pub fn document() -> Value {
    let mut doc = base();
    let err = json!({"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    for (path, method) in SIGNED {
        let op = &mut doc["paths"][*path][*method];
        op["security"] = json!([{"memberSignature": []}]);
        let mut e401 = err.clone();
        e401["description"] = json!("No signature, or a refused one: signature_required, malformed_signature, component_not_covered, bad_signature, unknown_key, clock_skew, signature_expired, signature_validity_too_long, replayed_nonce, content_digest_mismatch");
        let mut e403 = err.clone();
        e403["description"] = json!("Signed, but not entitled: forbidden, not_your_transaction, consent_required, purpose_required, unknown_purpose, purpose_not_allowed. A refusal never says whether records exist.");
        op["responses"]["401"] = e401;
        op["responses"]["403"] = e403;
    }
    for path in ["/v1/blocks/latest", "/v1/blocks/{id}", "/v1/events"] {
        doc["paths"][path]["get"]["security"] = json!([{}, {"memberSignature": []}]);
    }
    registry_paths(&mut doc);
    doc
}

fn purpose_header() -> Value {
    json!({"name": "Deltachain-Purpose", "in": "header", "required": true, "schema": {"type": "string", "enum": ["loan_approval", "post_loan_management", "guarantee_review", "supervision", "self_inquiry"], "pattern": "^[a-z_]{1,32}$", "maxLength": 32}, "description": "why the caller reads; covered by the signature and recorded in the query log"})
}

/// Receivables, objections, admitted codes and the report.
fn registry_paths(doc: &mut Value) {
    let audited = json!({"description": "audit_unavailable: the read could not be recorded, so it is not answered"});
    let id = json!({"type": "string", "pattern": "^[A-Za-z0-9._/-]{1,64}$", "maxLength": 64});
    let mut p = json!({
        "/v1/receivables/{id}": {"get": op(
            "A receivable or part: parties, balance, what is financed and by whom, dispute status and history. For regulators, its registrar and financier, an enterprise party to it, or a member holding the consent (scope receivables or all) of its holder, debtor or creditor. With proof=true, as of a height with a proof of presence or absence.",
            with_proof(json!([{"name": "id", "in": "path", "required": true, "schema": id.clone()}, purpose_header()])),
            "Receivable", &[400, 404, 410])},
        "/v1/enterprises/{uscc}/receivables": {"get": op(
            "The receivables an enterprise is creditor, debtor or holder of, with totals of balance and financed amounts. For regulators, the enterprise, or a member holding its consent with scope receivables (or all).",
            json!([{"name": "uscc", "in": "path", "required": true, "schema": uscc()}, purpose_header()]),
            "EnterpriseReceivables", &[400])},
        "/v1/enterprises/{uscc}/report": {"get": op(
            "The enterprise report: identity (code, bound key, regulator's exception), credit summary (loans outstanding per city and bank, overdue, default, guarantees, latest rating per agency), public records by category, IP owned and pledged, receivables (when the reader may see them; else listed under withheld), objections, and the number of reads in the last 90 days. Same access as /v1/enterprises/{uscc}.",
            json!([{"name": "uscc", "in": "path", "required": true, "schema": uscc()}, purpose_header()]),
            "Report", &[400])},
        "/v1/objections": {"get": op(
            "Objections: every open one, or with overdue=true those past their deadline by block time (regulators); with enterprise=USCC, one enterprise's (the enterprise itself and regulators).",
            json!([
                {"name": "overdue", "in": "query", "schema": {"type": "boolean", "default": false}},
                {"name": "enterprise", "in": "query", "schema": uscc()},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 4_294_967_295u64}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}}
            ]),
            "Objections", &[400])},
        "/v1/objections/{id}": {"get": op(
            "One objection and its answer: for the enterprise, the member that filed it, the reporter that answers it and regulators; 404 for anyone else.",
            path_param("id", "the objection's transaction hash, 64 hex", hex64()),
            "Objection", &[400, 404])},
        "/v1/uscc-exceptions": {"get": op(
            "Pilot-era codes admitted by regulators (codes issued before GB 32100-2015 whose only fault is the check character).",
            json!([
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 4_294_967_295u64}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}}
            ]),
            "UsccExceptions", &[400])},
        "/v1/uscc-exceptions/{code}": {"get": op(
            "Whether a pilot-era code was admitted, by whom and why.",
            path_param("code", "the 18-character code", uscc()),
            "UsccException", &[400, 404])}
    });
    for path in [
        "/v1/receivables/{id}",
        "/v1/enterprises/{uscc}/receivables",
        "/v1/enterprises/{uscc}/report",
    ] {
        p[path]["get"]["responses"]["503"] = audited.clone();
    }
    if let (Some(paths), Some(new)) = (doc["paths"].as_object_mut(), p.as_object()) {
        for (k, v) in new {
            paths.insert(k.clone(), v.clone());
        }
    }
    let obj = json!({"type": "object"});
    let schemas = &mut doc["components"]["schemas"];
    schemas["Receivable"] = json!({"type": "object", "required": ["receivable_id"], "properties": {
        "receivable_id": {"type": "string"}, "creditor": {"type": "string"}, "debtor": {"type": "string"}, "holder": {"type": "string"},
        "amount_fen": {"type": "integer"}, "balance_fen": {"type": "integer"}, "financed_fen": {"type": "integer"}, "unfinanced_fen": {"type": "integer"},
        "financing": {}, "status": {"enum": ["live", "settled", "split"]}, "disputed": {"type": "boolean"}, "registered": {"type": "boolean"},
        "history": {"type": "array"}, "proof": {"$ref": "#/components/schemas/StateAnswer"}}});
    schemas["EnterpriseReceivables"] = json!({"type": "object", "required": ["as_creditor", "as_debtor", "as_holder", "totals"], "properties": {
        "uscc": {"type": "string"}, "as_creditor": {"type": "array"}, "as_debtor": {"type": "array"}, "as_holder": {"type": "array"}, "totals": obj.clone()}});
    schemas["Report"] = json!({"type": "object", "required": ["identity", "credit", "public_records", "ip", "receivables", "objections", "queries"], "properties": {
        "identity": obj.clone(), "credit": obj.clone(), "public_records": obj.clone(), "ip": obj.clone(), "receivables": {"type": ["object", "null"]},
        "objections": obj.clone(), "queries": obj.clone(), "withheld": obj.clone()}});
    schemas["Objection"] = json!({"type": "object", "required": ["objection_id", "status"], "properties": {
        "objection_id": {"$ref": "#/components/schemas/Hash"}, "target": {}, "enterprise": {"type": "string"}, "reason": {"type": "string"},
        "deadline": {"type": "string"}, "status": {"enum": ["open", "overdue", "answered"]}, "answer": {}}});
    schemas["Objections"] = json!({"type": "object", "required": ["objections"], "properties": {"objections": {"type": "array", "items": {"$ref": "#/components/schemas/Objection"}}}});
    schemas["UsccException"] = json!({"type": "object", "required": ["code", "name", "reason"], "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "reason": {"type": "string"}, "admitted_by": obj.clone(), "height": {"type": "integer"}}});
    schemas["UsccExceptions"] = json!({"type": "object", "required": ["exceptions"], "properties": {"exceptions": {"type": "array", "items": {"$ref": "#/components/schemas/UsccException"}}}});
}

fn base() -> Value {
    let hex =
        json!({"type": "string", "pattern": "^[0-9a-f]{64}$", "minLength": 64, "maxLength": 64});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Deltachain node API",
            "version": "1",
            "description": "Submit signed credit and IP records, query the cross-city view, and fetch proofs a bank can verify against the validators' signatures. Reads of record content need a request signed by a member or enterprise key (security scheme memberSignature). Errors are {\"error\": {\"code\", \"message\"}}."
        },
        "paths": {
            "/v1/txs": {"post": {
                "summary": "Submit one signed transaction (hex of its canonical bytes).",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitTx"}}}},
                "responses": {
                    "200": {"description": "Already committed (a resubmission of the same signed bytes): its height and outcome", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TxHash"}}}},
                    "202": {"description": "Admitted to the mempool, or already pending", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TxHash"}}}},
                    "400": {"description": "Invalid transaction", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "409": {"description": "Duplicate or nonce already pending"},
                    "413": {"description": "Body too large"},
                    "503": {"description": "Mempool full; retry after the Retry-After header"}
                }
            }},
            "/v1/txs/batch": {"post": {
                "summary": "Submit up to 10000 signed transactions; one result per transaction.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitBatch"}}}},
                "responses": {"202": {"description": "Per-transaction results", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchResult"}}}}, "400": {"description": "Invalid request"}}
            }},
            "/v1/txs/{hash}": {"get": op("A transaction: pending or committed with its receipt.", path_param("hash", "transaction hash, 64 hex", hex64()), "TxStatus", &[400, 404])},
            "/v1/txs/{hash}/proof": {"get": op("Merkle proofs of a committed transaction and its receipt, the block header and the commit certificate.", path_param("hash", "transaction hash, 64 hex", hex64()), "TxProof", &[400, 404])},
            "/v1/blocks/latest": {"get": op("The last committed block.", json!([]), "Block", &[404])},
            "/v1/blocks/{id}": {"get": op("A block by height or by hash.", path_param("id", "height or 64-hex block hash", json!({"type": "string", "maxLength": 64, "pattern": "^([0-9]{1,19}|[0-9a-fA-F]{64})$"})), "Block", &[400, 404])},
            "/v1/enterprises/{uscc}": {"get": {
                "summary": "An enterprise's credit records from every city (newest first, with corrections) and the IP it owns with pledges. For a regulator, the enterprise itself, or a credit_reporter/lender/reader holding the enterprise's active consent (scope credit or all) for the signed purpose; with own=true, only the records the caller reported (no consent needed). Every read, granted or refused, is recorded in the enterprise's query log on chain.",
                "parameters": [
                    {"name": "uscc", "in": "path", "required": true, "schema": uscc(), "description": "Unified Social Credit Code"},
                    {"name": "Deltachain-Purpose", "in": "header", "required": false, "schema": {"type": "string", "enum": ["loan_approval", "post_loan_management", "guarantee_review", "supervision", "self_inquiry"], "pattern": "^[a-z_]{1,32}$", "maxLength": 32}, "description": "why the caller reads; required unless own=true, and covered by the signature"},
                    {"name": "own", "in": "query", "schema": {"type": "boolean", "default": false}, "description": "only the records the caller reported itself"},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 4_294_967_295u64}, "description": "records to skip, newest first"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
                    proof_params()[0].clone(), proof_params()[1].clone()
                ],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"anyOf": [{"$ref": "#/components/schemas/Enterprise"}, {"$ref": "#/components/schemas/ProvenEnterprise"}]}}}}, "410": {"description": "state_pruned: the height is older than this node keeps"}, "400": {"description": "Invalid USCC"}, "503": {"description": "audit_unavailable: the read could not be recorded (not a validator, or the audit outbox is full), so it is not answered"}}
            }},
            "/v1/enterprises/{uscc}/queries": {"get": {
                "summary": "The enterprise's query log on chain: who read its data, when, through which node, for what purpose, on what ground, and the outcome. For the enterprise itself and regulators.",
                "parameters": [
                    {"name": "uscc", "in": "path", "required": true, "schema": uscc()},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 4_294_967_295u64}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}}
                ],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Queries"}}}}, "400": {"description": "Invalid USCC"}}
            }},
            "/v1/queries": {"get": {
                "summary": "The reads one requester made (regulators; or the requester itself).",
                "parameters": [
                    {"name": "requester", "in": "query", "schema": hex64(), "description": "public key; the caller's own by default"},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 4_294_967_295u64}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}}
                ],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Queries"}}}}, "400": {"description": "Bad key"}}
            }},
            "/v1/enterprises/{uscc}/consents": {"get": op("Every consent the enterprise gave, and whether each is in force (a consent lapses when revoked, past its dates, or when the enterprise's key is replaced): for the enterprise itself and regulators.", json!([{"name": "uscc", "in": "path", "required": true, "schema": uscc()}]), "Consents", &[400])},
            "/v1/consents/{id}": {"get": op("A consent and whether it is in force (judged at the latest block, and only while its signer is still the enterprise's bound key): for its enterprise, its grantee and regulators; 404 for anyone else.", with_proof(path_param("id", "consent id", json!({"type": "string", "pattern": "^[A-Za-z0-9._/-]{1,64}$", "maxLength": 64}))), "Consent", &[400, 404, 410])},
            "/v1/ip/{ip_id}": {"get": op("An IP right: owner, active pledge and full history. With proof=true: the right as of a height (no history), or registered=false, with the proof of presence or absence.", with_proof(path_param("ip_id", "patent number (ZL...) or registration id", ip_id())), "IpAnswer", &[400, 404, 410])},
            "/v1/status": {"get": op("Node and chain status.", json!([]), "Status", &[])},
            "/v1/validators": {"get": op("The validator set from genesis.", json!([]), "Validators", &[])},
            "/v1/members": {"get": op("Current members and roles.", json!([]), "Members", &[])},
            "/v1/members/{key}": {"get": op("One member and its roles; with proof=true as of a height, with a proof of presence or of absence (member null).", with_proof(path_param("key", "public key, 64 hex", hex64())), "MemberAnswer", &[400, 404, 410])},
            "/v1/accounts/{key}": {"get": op("A key's membership and next nonce.", path_param("key", "public key, 64 hex", hex64()), "Account", &[400])},
            "/v1/events": {"get": {"summary": "Server-sent events: one `block` event per committed block with its receipts.", "responses": {"200": {"description": "text/event-stream of CommittedBlock JSON"}}}},
            "/v1/openapi.json": {"get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (OpenMetrics text): height, round, timeouts, mempool, storage, peers, committed transactions, commit latency, API request durations by route and status, libp2p swarm and gossipsub series.", "responses": {"200": {"description": "application/openmetrics-text; version=1.0.0"}}}}
        },
        "components": components(hex),
    })
}

fn components(hex: Value) -> Value {
    let mut c = json!({
      "securitySchemes": {"memberSignature": {
        "type": "apiKey", "in": "header", "name": "Signature",
        "description": "HTTP Message Signatures (RFC 9421), ed25519. Signature-Input covers at least \"@method\" \"@path\" \"@query\", plus \"content-digest\" (RFC 9530, sha-256) with a body and \"deltachain-purpose\" when that header is sent; parameters created, expires (at most 300 s after created; created within 60 s of the node's clock), nonce (single use), keyid = the member's or enterprise's public key in hex, alg=\"ed25519\" optional."
      }},
      "schemas": {
        "Hash": hex,
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
        "SubmitTx": {"type": "object", "required": ["tx"], "properties": {"tx": {"type": "string", "pattern": "^([0-9a-fA-F]{2})+$", "minLength": 2, "maxLength": 8192, "description": "hex of the canonical bincode encoding of a SignedTransaction (at most 4096 bytes)"}}},
        "SubmitBatch": {"type": "object", "required": ["txs"], "properties": {"txs": {"type": "array", "minItems": 1, "maxItems": 10000, "items": {"type": "string", "pattern": "^([0-9a-fA-F]{2})+$", "minLength": 2, "maxLength": 8192}}}},
        "TxHash": {"type": "object", "required": ["tx_hash"], "properties": {"tx_hash": {"$ref": "#/components/schemas/Hash"}, "status": {"enum": ["pending", "committed"]}, "height": {"type": "integer"}, "outcome": {"enum": ["applied", "rejected"]}}},
        "BatchResult": {"type": "object", "properties": {"accepted": {"type": "integer"}, "results": {"type": "array", "items": {"oneOf": [{"$ref": "#/components/schemas/TxHash"}, {"$ref": "#/components/schemas/Error"}]}}}},
        "Receipt": {"type": "object", "required": ["tx_hash", "outcome"], "properties": {"tx_hash": {"$ref": "#/components/schemas/Hash"}, "outcome": {"enum": ["applied", "rejected"]}, "reason": {"type": ["string", "null"]}}},
        "TxStatus": {"type": "object", "required": ["tx_hash", "status", "tx"], "properties": {"tx_hash": {"$ref": "#/components/schemas/Hash"}, "status": {"enum": ["pending", "committed"]}, "height": {"type": "integer"}, "index": {"type": "integer"}, "receipt": {"$ref": "#/components/schemas/Receipt"}, "tx": {"type": "object"}}},
        "InclusionProof": {"type": "object", "properties": {"index": {"type": "integer"}, "tree_size": {"type": "integer"}, "path": {"type": "array", "items": {"$ref": "#/components/schemas/Hash"}}}},
        "TxProof": {"type": "object", "required": ["tx_hash", "height", "tx_proof", "receipt_proof", "header", "certificate"], "properties": {
            "tx_hash": {"$ref": "#/components/schemas/Hash"}, "height": {"type": "integer"}, "index": {"type": "integer"}, "tx": {"type": "string"},
            "receipt": {"$ref": "#/components/schemas/Receipt"}, "tx_proof": {"$ref": "#/components/schemas/InclusionProof"}, "receipt_proof": {"$ref": "#/components/schemas/InclusionProof"},
            "header": {"type": "object"}, "block_hash": {"$ref": "#/components/schemas/Hash"}, "certificate": {"type": "object"}}},
        "Block": {"type": "object", "required": ["height", "hash", "header", "txs", "receipts"], "properties": {"height": {"type": "integer"}, "hash": {"$ref": "#/components/schemas/Hash"}, "header": {"type": "object"}, "txs": {"type": "array"}, "receipts": {"type": "array", "items": {"$ref": "#/components/schemas/Receipt"}}, "last_commit": {}, "commit": {}}},
        "Pledge": {"type": "object", "properties": {"pledgee": {"type": "string"}, "pledgee_key": {"$ref": "#/components/schemas/Hash"}, "amount_fen": {"type": "integer"}, "contract": {"type": "string"}, "until": {"type": "string", "format": "date"}, "tx_hash": {"$ref": "#/components/schemas/Hash"}}},
        "Ip": {"type": "object", "required": ["ip_id", "kind", "title", "owner", "active_pledge"], "properties": {"ip_id": {"type": "string"}, "kind": {"enum": ["patent", "trademark", "copyright", "software_copyright"]}, "title": {"type": "string"}, "owner": {"type": "string"}, "registered_on": {"type": "string", "format": "date"}, "active_pledge": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Pledge"}]}, "history": {"type": "array"}}},
        "Enterprise": {"type": "object", "required": ["uscc", "credit_records", "ip"], "properties": {"uscc": {"type": "string"}, "total_credit_records": {"type": "integer"}, "credit_records": {"type": "array"}, "ip": {"type": "array", "items": {"$ref": "#/components/schemas/Ip"}}}},
        "Status": {"type": "object", "required": ["chain_id", "node", "height", "latest_block_hash", "peers", "syncing"], "properties": {"chain_id": {"type": "string"}, "node": {"type": "string"}, "height": {"type": "integer"}, "latest_block_hash": {"$ref": "#/components/schemas/Hash"}, "peers": {"type": "integer"}, "syncing": {"type": "boolean"}}},
        "Validators": {"type": "object", "properties": {"validators": {"type": "array"}, "quorum": {"type": "integer"}}},
        "Members": {"type": "object", "properties": {"members": {"type": "array"}}},
        "Queries": {"type": "object", "properties": {"queries": {"type": "array", "items": {"type": "object", "properties": {
            "time": {"type": "string"}, "requester": {"$ref": "#/components/schemas/Hash"}, "requester_name": {"type": "string"}, "enterprise": {"type": "string"},
            "route": {"enum": ["enterprise_records", "own_records", "query_log", "transaction", "receivables", "report"]}, "purpose": {"type": ["string", "null"]},
            "basis": {}, "outcome": {}, "response_hash": {"$ref": "#/components/schemas/Hash"}, "serving_node": {"$ref": "#/components/schemas/Hash"}, "height": {"type": "integer"}}}}}},
        "Consents": {"type": "object", "properties": {"uscc": {"type": "string"}, "as_of": {"type": "string", "format": "date"}, "consents": {"type": "array", "items": {"type": "object"}}}},
        "Consent": {"type": "object", "properties": {"consent": {"type": "object"}, "signature": {"type": "string"}, "tx_hash": {"$ref": "#/components/schemas/Hash"}, "height": {"type": "integer"}, "revoked_height": {"type": ["integer", "null"]}, "active": {"type": "boolean"}}},
        "Account": {"type": "object", "properties": {"public_key": {"$ref": "#/components/schemas/Hash"}, "member": {}, "committed_nonce": {"type": "integer"}, "next_nonce": {"type": "integer"}}}
    }});
    c["schemas"]["StateProof"] = json!({"type": "object", "required": ["leaf", "siblings"], "properties": {"leaf": {"oneOf": [{"type": "null"}, {"type": "object", "required": ["key_hash", "value_hash"], "properties": {"key_hash": {"$ref": "#/components/schemas/Hash"}, "value_hash": {"$ref": "#/components/schemas/Hash"}}}]}, "siblings": {"type": "array", "maxItems": 256, "items": {"$ref": "#/components/schemas/Hash"}}}});
    c["schemas"]["StateAnswer"] = json!({"type": "object", "required": ["height", "header", "certificate", "entries"], "properties": {"height": {"type": "integer"}, "header": {"type": "object"}, "certificate": {"type": "object"}, "entries": {"type": "array", "items": {"type": "object", "required": ["key", "value", "proof"], "properties": {"key": {"type": "string"}, "value": {"type": ["string", "null"], "description": "hex of the value's canonical encoding"}, "proof": {"$ref": "#/components/schemas/StateProof"}}}}}});
    c["schemas"]["IpAnswer"] = json!({"anyOf": [{"$ref": "#/components/schemas/Ip"}, {"type": "object", "required": ["ip_id", "registered", "proof"], "properties": {"ip_id": {"type": "string"}, "registered": {"type": "boolean"}, "as_of_height": {"type": "integer"}, "proof": {"$ref": "#/components/schemas/StateAnswer"}}}]});
    c["schemas"]["MemberAnswer"] = json!({"type": "object", "required": ["public_key", "member", "as_of_height"], "properties": {"public_key": {"$ref": "#/components/schemas/Hash"}, "member": {}, "as_of_height": {"type": "integer"}, "proof": {"$ref": "#/components/schemas/StateAnswer"}}});
    c["schemas"]["ProvenEnterprise"] = json!({"type": "object", "required": ["uscc", "as_of_height", "credit_records", "proof"], "properties": {"uscc": {"type": "string"}, "as_of_height": {"type": "integer"}, "total_credit_records": {"type": "integer"}, "credit_records": {"type": "array"}, "proof": {"$ref": "#/components/schemas/StateAnswer"}}});
    c
}
