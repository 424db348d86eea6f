"""Schemathesis hook: signs every request with a Deltachain member key
(RFC 9421, via the project's Python client), so the fuzzer reaches the
signed routes. DELTACHAIN_SIGN_KEY=path to the key file."""
import os
import sys
import urllib.parse

import requests
import schemathesis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client", "python"))
from deltachain import crypto, httpsig  # noqa: E402

KEY = crypto.Key.from_file(os.environ["DELTACHAIN_SIGN_KEY"])
PURPOSE = os.environ.get("DELTACHAIN_SIGN_PURPOSE")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = dict(case.headers or {})
    headers = {k: v for k, v in headers.items()
               if k.lower() not in ("signature", "signature-input", "content-digest")}
    if PURPOSE and httpsig.PURPOSE_HEADER not in {k.lower() for k in headers}:
        headers[httpsig.PURPOSE_HEADER] = PURPOSE
    case.headers = headers
    prepared = requests.Request(**case.as_transport_kwargs(base_url=case.operation.base_url)).prepare()
    u = urllib.parse.urlsplit(prepared.url)
    body = prepared.body
    if isinstance(body, str):
        body = body.encode()
    purpose = {k.lower(): v for k, v in prepared.headers.items()
               if k.lower() == httpsig.PURPOSE_HEADER}
    signed = httpsig.sign_request(KEY, prepared.method, u.path, u.query or None, purpose,
                                  body or None)
    headers.update(signed)
    case.headers = headers
