"""Signed reads: RFC 9421 HTTP Message Signatures with ed25519 (SPEC.md,
section 5). The signature base is signed as is, with no domain tag."""

import base64
import hashlib
import os

LABEL = "sig1"
PURPOSE_HEADER = "deltachain-purpose"


def content_digest(body):
    """RFC 9530 Content-Digest, sha-256."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def target_tag(chain_id, node_key_hex=None):
    """Binds a signature to one network, or to one node of it."""
    return f"deltachain/{chain_id}" + (f"/{node_key_hex}" if node_key_hex else "")


def signature_params(components, created, expires, nonce, keyid, tag=None):
    out = "(" + " ".join(_quote(c) for c in components) + ")"
    out += f";created={created};expires={expires};nonce={_quote(nonce)}"
    out += f";keyid={_quote(keyid)};alg={_quote('ed25519')}"
    if tag is not None:
        out += f";tag={_quote(tag)}"
    return out


def signature_base(method, path, query, headers, params, components):
    """`path` as sent (percent-encoding kept); `query` without '?', or None;
    `headers` by lowercase name."""
    lines = []
    for c in components:
        if c == "@method":
            v = method
        elif c == "@path":
            v = path or "/"
        elif c == "@query":
            v = "?" + (query or "")
        else:
            v = headers[c].strip()
        if "\n" in v or "\r" in v:
            raise ValueError(f"component {c} contains a line break")
        lines.append(f"{_quote(c)}: {v}")
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines).encode()


def sign_request(key, method, path, query=None, headers=None, body=None,
                 created=None, validity=60, nonce=None, tag=None):
    """The headers to add to a request: Signature-Input, Signature, and
    Content-Digest when there is a body."""
    import time

    headers = {k.lower(): v for k, v in (headers or {}).items()}
    extra = {}
    if body is not None:
        extra["Content-Digest"] = headers["content-digest"] = content_digest(body)
    components = ["@method", "@path", "@query"]
    if PURPOSE_HEADER in headers:
        components.append(PURPOSE_HEADER)
    if "content-digest" in headers:
        components.append("content-digest")
    created = int(time.time()) if created is None else created
    nonce = nonce or os.urandom(16).hex()
    params = signature_params(components, created, created + validity, nonce,
                              key.public_hex, tag)
    base = signature_base(method, path, query, headers, params, components)
    sig = key.sign_raw(base)
    extra["Signature-Input"] = f"{LABEL}={params}"
    extra["Signature"] = f"{LABEL}=:{base64.b64encode(sig).decode()}:"
    return extra
