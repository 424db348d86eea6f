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

/// The document.
pub fn document() -> Value {
    let hex =
        json!({"type": "string", "pattern": "^[0-9a-f]{64}$", "minLength": 64, "maxLength": 64});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Deltachain node API",
            "version": "1",
            "description": "Submit signed credit and IP records, query the cross-city view, and fetch proofs a bank can verify against the validators' signatures. Errors are {\"error\": {\"code\", \"message\"}}."
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
                "summary": "An enterprise's credit records from every city (newest first, with corrections) and the IP it owns with pledges.",
                "parameters": [
                    {"name": "uscc", "in": "path", "required": true, "schema": uscc(), "description": "Unified Social Credit Code"},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 4_294_967_295u64}, "description": "records to skip, newest first"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}}
                ],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Enterprise"}}}}, "400": {"description": "Invalid USCC"}}
            }},
            "/v1/ip/{ip_id}": {"get": op("An IP right: owner, active pledge and full history.", path_param("ip_id", "patent number (ZL...) or registration id", ip_id()), "Ip", &[400, 404])},
            "/v1/status": {"get": op("Node and chain status.", json!([]), "Status", &[])},
            "/v1/validators": {"get": op("The validator set from genesis.", json!([]), "Validators", &[])},
            "/v1/members": {"get": op("Current members and roles.", json!([]), "Members", &[])},
            "/v1/accounts/{key}": {"get": op("A key's membership and next nonce.", path_param("key", "public key, 64 hex", hex64()), "Account", &[400])},
            "/v1/events": {"get": {"summary": "Server-sent events: one `block` event per committed block with its receipts.", "responses": {"200": {"description": "text/event-stream of CommittedBlock JSON"}}}},
            "/v1/openapi.json": {"get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics: height, round, mempool, peers, committed transactions, commit latency histogram.", "responses": {"200": {"description": "text/plain; version=0.0.4"}}}}
        },
        "components": {"schemas": {
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
            "Account": {"type": "object", "properties": {"public_key": {"$ref": "#/components/schemas/Hash"}, "member": {}, "committed_nonce": {"type": "integer"}, "next_nonce": {"type": "integer"}}}
        }}
    })
}
