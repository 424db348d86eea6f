"""A Deltachain node over HTTP (SPEC.md, section 7), with the standard
library only. Reads are signed with the member's key (RFC 9421) and
bound to the node they are sent to."""

import json
import time
import urllib.error
import urllib.parse
import urllib.request

from . import httpsig
from .tx import sign_transaction

# Longest answer read from a node; proofs and enterprise pages are far smaller.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class ApiError(Exception):
    """The node refused a request: HTTP status, the error code of its JSON
    body and its message."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Client:
    def __init__(self, url, key=None, timeout=30):
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self._status = None

    # -- plumbing ---------------------------------------------------------

    def _prepare(self, method, path, query=None, body=None, purpose=None, signed=True):
        """The request, signed when there is a key: `path` unencoded; each
        segment is percent-encoded here."""
        enc_path = "/".join(urllib.parse.quote(seg, safe="") for seg in path.split("/"))
        qs = urllib.parse.urlencode(query) if query else None
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if purpose is not None:
            headers[httpsig.PURPOSE_HEADER] = purpose
        if signed and self.key is not None:
            status = self.status()
            tag = httpsig.target_tag(status["chain_id"], status.get("node_key"))
            headers.update(httpsig.sign_request(
                self.key, method, enc_path, qs,
                {k.lower(): v for k, v in headers.items() if k.lower() == httpsig.PURPOSE_HEADER},
                body, tag=tag))
        url = self.url + enc_path + (f"?{qs}" if qs else "")
        return urllib.request.Request(url, data=body, method=method, headers=headers)

    def raw(self, method, path, query=None, body=None, purpose=None, signed=True):
        """Any answer, error or not, as (status, content type, bytes): for
        tools that check answers against /v1/openapi.json."""
        req = self._prepare(method, path, query, body, purpose, signed)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.headers.get("Content-Type", ""), resp.read(
                    MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read(MAX_RESPONSE_BYTES + 1)

    def _request(self, method, path, query=None, body=None, purpose=None, signed=True):
        req = self._prepare(method, path, query, body, purpose, signed)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = resp.read(MAX_RESPONSE_BYTES + 1)
                status = resp.status
        except urllib.error.HTTPError as e:
            self._raise_api_error(e)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ApiError(0, "unreachable", f"cannot reach the node at {self.url}: {reason}") from None
        if len(data) > MAX_RESPONSE_BYTES:
            raise ApiError(status, "too_large", f"answer over {MAX_RESPONSE_BYTES} bytes")
        try:
            return status, json.loads(data)
        except ValueError:
            raise ApiError(status, "bad_answer", "the node's answer is not JSON") from None

    @staticmethod
    def _raise_api_error(e):
        """The node's error body `{"error": {"code", "message"}}` as an ApiError."""
        data = e.read(MAX_RESPONSE_BYTES + 1)
        try:
            err = json.loads(data)["error"]
            code, message = err["code"], err["message"]
        except (ValueError, KeyError, TypeError):
            code, message = "error", data[:200].decode("utf-8", "replace")
        raise ApiError(e.code, code, message) from None

    def get(self, path, query=None, purpose=None, signed=True):
        return self._request("GET", path, query, None, purpose, signed)[1]

    # -- reads ------------------------------------------------------------

    def status(self):
        if self._status is None:
            self._status = self._request("GET", "/v1/status", signed=False)[1]
        return self._status

    def next_nonce(self, public_hex=None):
        return self.get(f"/v1/accounts/{public_hex or self.key.public_hex}")["next_nonce"]

    def tx(self, tx_hash):
        return self.get(f"/v1/txs/{tx_hash}")

    def proof(self, tx_hash):
        return self.get(f"/v1/txs/{tx_hash}/proof")

    def enterprise(self, uscc, purpose, **query):
        return self.get(f"/v1/enterprises/{uscc}", query or None, purpose=purpose)

    # -- writes -----------------------------------------------------------

    def submit_signed(self, signed_bytes):
        body = json.dumps({"tx": signed_bytes.hex()}).encode()
        return self._request("POST", "/v1/txs", body=body, signed=False)[1]

    def submit(self, payload, nonce=None):
        """Signs `payload` (JSON form) with the next nonce and submits it;
        returns the transaction hash."""
        chain = self.status()["chain_id"]
        nonce = self.next_nonce() if nonce is None else nonce
        _, signed, tx_hash = sign_transaction(self.key, chain, nonce, payload)
        answer = self.submit_signed(signed)
        if answer.get("tx_hash") != tx_hash:
            raise ApiError(200, "wrong_hash", f"node answered for {answer.get('tx_hash')}")
        return tx_hash

    def wait(self, tx_hash, timeout=60):
        """Follows a transaction to its receipt; returns the committed
        answer (status, height, receipt)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                t = self.tx(tx_hash)
                if t.get("status") == "committed":
                    return t
            except ApiError as e:
                if e.status != 404:
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"transaction {tx_hash} not committed within {timeout} s")
            time.sleep(0.2)
