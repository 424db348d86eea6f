"""Every answer a live node gives matches its own /v1/openapi.json.

Runs after test_live.py has filled a dev node with every record kind (its
identifiers are used here). For each documented operation it sends real
requests, as a regulator, a bank, an enterprise, an unknown key and no key
at all, with good and bad input, and requires that

* the status code is one the operation documents, and
* the body validates against the schema documented for that status
  (JSON Schema 2020-12, which OpenAPI 3.1 uses), and
* every operation in the document answered at least once with success.

Needs `jsonschema` (CI installs it with pip).
    DELTACHAIN_NODE=http://127.0.0.1:7070 DELTACHAIN_HOME=... \
        python3 -m unittest tests/test_openapi.py
"""

import json
import os
import re
import sys
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from devnode import ENT, HOME, NODE, key  # noqa: E402
from deltachain import crypto, tx  # noqa: E402
from deltachain.client import Client  # noqa: E402

PILOT = "91350211M0000XUF46"
IP = "ZL202310123456.6"


def template_of(doc, path):
    """The documented path template a concrete path matches; literal
    segments win over parameters (`/v1/blocks/latest` over `{id}`)."""
    best = None
    for template in doc["paths"]:
        pattern = "^" + re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            params = template.count("{")
            if best is None or params < best[0]:
                best = (params, template)
    return best and best[1]


@unittest.skipUnless(NODE and HOME, "set DELTACHAIN_NODE and DELTACHAIN_HOME to a dev node")
class OpenApiConformance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import jsonschema  # noqa: F401  (fail here, naming the package)

        cls.jsonschema = jsonschema
        status, ctype, body = Client(NODE).raw("GET", "/v1/openapi.json", signed=False)
        assert status == 200 and ctype.startswith("application/json"), (status, ctype)
        cls.doc = json.loads(body)
        cls.covered = set()
        cls.checked = 0

    def check(self, client, method, path, query=None, body=None, purpose=None, signed=True,
              expect=None):
        """Sends one request and checks its answer against the document;
        returns the JSON body (or None)."""
        status, ctype, data = client.raw(method, path, query, body, purpose, signed)
        template = template_of(self.doc, path)
        where = f"{method} {path}{'?' + urllib.parse.urlencode(query) if query else ''} -> {status}"
        self.assertIsNotNone(template, f"{where}: no documented path matches")
        op = self.doc["paths"][template].get(method.lower())
        self.assertIsNotNone(op, f"{where}: {method} is not documented for {template}")
        if expect is not None:
            self.assertEqual(status, expect, f"{where}: {data[:300]!r}")
        response = op["responses"].get(str(status))
        self.assertIsNotNone(response, f"{where}: status not documented ({sorted(op['responses'])})"
                             f": {data[:300]!r}")
        content = response.get("content", {})
        value = None
        if "application/json" in content:
            self.assertTrue(ctype.startswith("application/json"), f"{where}: {ctype}")
            value = json.loads(data)
            schema = dict(content["application/json"]["schema"])
            schema["components"] = self.doc["components"]
            errors = sorted(
                self.jsonschema.Draft202012Validator(schema).iter_errors(value),
                key=lambda e: list(e.path))
            self.assertFalse(errors, f"{where}: the answer does not match the document:\n" +
                             "\n".join(f"  at {list(e.path)}: {e.message[:300]}"
                                       for e in errors[:5]))
        if 200 <= status < 300:
            self.covered.add((template, method.lower()))
        type(self).checked += 1
        return value

    def test_every_operation_answers_as_documented(self):
        doc = self.doc
        self.assertEqual(doc["openapi"][:4], "3.1.")
        self.assertIn("memberSignature", doc["components"]["securitySchemes"])
        regulator = Client(NODE, key("regulator"))
        bank = Client(NODE, key("bank-shanghai"))
        hangzhou = Client(NODE, key("bank-hangzhou"))
        ent = Client(NODE, key(f"enterprise-{ENT}"))
        anyone = Client(NODE)
        stranger = Client(NODE, crypto.Key(os.urandom(32)))
        c = self.check

        # The node, the chain, the document itself.
        status = c(anyone, "GET", "/v1/status", signed=False, expect=200)
        c(anyone, "GET", "/v1/validators", signed=False, expect=200)
        c(anyone, "GET", "/v1/openapi.json", signed=False, expect=200)
        c(anyone, "GET", "/v1/blocks/latest", signed=False, expect=200)
        c(regulator, "GET", "/v1/blocks/latest", expect=200)
        c(regulator, "GET", "/v1/blocks/1", expect=200)
        c(anyone, "GET", f"/v1/blocks/{status['latest_block_hash']}", signed=False, expect=200)
        c(anyone, "GET", "/v1/blocks/99999999999", signed=False, expect=404)
        c(anyone, "GET", "/v1/blocks/not-a-block", signed=False, expect=400)
        c(stranger, "GET", "/v1/status", expect=401)

        # Enterprise reads: granted, refused, malformed, proven.
        page = c(regulator, "GET", f"/v1/enterprises/{ENT}", purpose="supervision", expect=200)
        c(bank, "GET", f"/v1/enterprises/{ENT}", purpose="loan_approval", expect=200)
        c(bank, "GET", f"/v1/enterprises/{ENT}", {"own": "true"}, expect=200)
        c(hangzhou, "GET", f"/v1/enterprises/{ENT}", purpose="loan_approval", expect=403)
        c(anyone, "GET", f"/v1/enterprises/{ENT}", signed=False, expect=401)
        c(stranger, "GET", f"/v1/enterprises/{ENT}", purpose="loan_approval", expect=401)
        c(regulator, "GET", "/v1/enterprises/91110108551385082A", purpose="supervision",
          expect=400)
        c(regulator, "GET", f"/v1/enterprises/{ENT}", {"limit": "abc"}, purpose="supervision",
          expect=400)
        c(regulator, "GET", f"/v1/enterprises/{ENT}", {"proof": "true"}, purpose="supervision",
          expect=200)
        c(regulator, "GET", f"/v1/enterprises/{ENT}", {"proof": "true", "height": "0"},
          purpose="supervision", expect=400)
        c(ent, "GET", f"/v1/enterprises/{ENT}/queries", expect=200)
        c(bank, "GET", f"/v1/enterprises/{ENT}/queries", expect=403)
        c(bank, "GET", "/v1/queries", expect=200)
        c(regulator, "GET", "/v1/queries", {"requester": bank.key.public_hex}, expect=200)
        c(regulator, "GET", "/v1/queries", {"requester": "zz"}, expect=400)
        c(regulator, "GET", "/v1/queries", {"limit": "501"}, expect=400)
        c(regulator, "GET", "/v1/queries", {"limit": "0"}, expect=400)
        c(regulator, "GET", "/v1/objections", {"offset": str(2 ** 32)}, expect=400)
        c(bank, "GET", "/v1/uscc-exceptions", {"offset": str(2 ** 32)}, expect=400)
        c(ent, "GET", f"/v1/enterprises/{ENT}/consents", expect=200)
        c(bank, "GET", f"/v1/enterprises/{ENT}/consents", expect=403)
        c(regulator, "GET", f"/v1/enterprises/{ENT}/report", purpose="supervision", expect=200)
        # Paging does not apply to the report: a stray limit is ignored.
        c(regulator, "GET", f"/v1/enterprises/{ENT}/report", {"limit": "0"},
          purpose="supervision", expect=200)
        c(regulator, "GET", f"/v1/enterprises/{ENT}", {"limit": "0"}, purpose="supervision",
          expect=400)
        c(bank, "GET", f"/v1/enterprises/{ENT}/report", purpose="loan_approval", expect=200)
        c(regulator, "GET", f"/v1/enterprises/{ENT}/receivables", purpose="supervision",
          expect=200)
        c(hangzhou, "GET", f"/v1/enterprises/{ENT}/receivables", purpose="loan_approval",
          expect=403)

        # Transactions: a record from the enterprise's page, its proof.
        h = page["credit_records"][0]["tx_hash"]
        c(regulator, "GET", f"/v1/txs/{h}", purpose="supervision", expect=200)
        c(bank, "GET", f"/v1/txs/{h}", expect=200)
        c(bank, "GET", f"/v1/txs/{h}/proof", expect=200)
        c(anyone, "GET", f"/v1/txs/{h}", signed=False, expect=401)
        c(bank, "GET", f"/v1/txs/{'0' * 64}", expect=404)
        c(bank, "GET", "/v1/txs/1234", expect=400)
        c(bank, "GET", f"/v1/txs/{'0' * 64}/proof", expect=404)

        # Consents, IP, receivables.
        c(bank, "GET", "/v1/consents/PY-CONSENT-1", expect=200)
        c(bank, "GET", "/v1/consents/PY-CONSENT-1", {"proof": "true"}, expect=200)
        c(hangzhou, "GET", "/v1/consents/PY-CONSENT-1", expect=404)
        c(bank, "GET", f"/v1/ip/{IP}", expect=200)
        c(bank, "GET", f"/v1/ip/{IP}", {"proof": "true"}, expect=200)
        c(bank, "GET", f"/v1/ip/{IP}", {"proof": "true", "height": "1"}, expect=200)
        c(bank, "GET", "/v1/ip/ZL202310999999.1", {"proof": "true"})
        c(bank, "GET", "/v1/ip/ZL202310123456.0", expect=400)
        c(bank, "GET", "/v1/ip/TM-NOT-THERE", expect=404)
        c(regulator, "GET", "/v1/receivables/AR-PY-1", purpose="supervision", expect=200)
        c(regulator, "GET", "/v1/receivables/AR-PY-2-A", {"proof": "true"},
          purpose="supervision", expect=200)
        c(bank, "GET", "/v1/receivables/AR-PY-1", purpose="post_loan_management", expect=200)
        c(regulator, "GET", "/v1/receivables/AR-NOT-THERE", purpose="supervision", expect=404)
        c(regulator, "GET", "/v1/receivables/bad id!", purpose="supervision", expect=400)

        # Objections and admitted codes.
        listed = c(regulator, "GET", "/v1/objections", expect=200)
        c(regulator, "GET", "/v1/objections", {"overdue": "true"}, expect=200)
        mine = c(ent, "GET", "/v1/objections", {"enterprise": ENT}, expect=200)
        c(bank, "GET", "/v1/objections", expect=403)
        ids = [o["objection_id"] for o in mine["objections"] + listed["objections"]]
        self.assertTrue(ids, "test_live files objections")
        c(ent, "GET", f"/v1/objections/{ids[0]}", expect=200)
        c(hangzhou, "GET", f"/v1/objections/{ids[0]}", expect=404)
        c(ent, "GET", "/v1/objections/xyz", expect=400)
        c(bank, "GET", "/v1/uscc-exceptions", expect=200)
        c(bank, "GET", f"/v1/uscc-exceptions/{PILOT}", expect=200)
        c(bank, "GET", "/v1/uscc-exceptions/91350100M0001TGQXM", expect=404)
        c(bank, "GET", "/v1/uscc-exceptions/123", expect=400)

        # Members and accounts.
        c(bank, "GET", "/v1/members", expect=200)
        c(anyone, "GET", "/v1/members", signed=False, expect=401)
        c(bank, "GET", f"/v1/members/{regulator.key.public_hex}", expect=200)
        c(bank, "GET", f"/v1/members/{regulator.key.public_hex}", {"proof": "true"}, expect=200)
        c(bank, "GET", f"/v1/members/{'ab' * 32}", {"proof": "true"}, expect=200)
        c(bank, "GET", f"/v1/members/{'ab' * 32}", expect=404)
        c(bank, "GET", f"/v1/accounts/{bank.key.public_hex}", expect=200)
        c(bank, "GET", "/v1/accounts/nothex", expect=400)

        # Submissions: admitted, resubmitted after commit, refused, batches.
        chain = status["chain_id"]
        nonce = bank.next_nonce()
        payload = {"credit": {
            "enterprise": ENT, "kind": "rating", "reference": "OA-RT-1", "amount_fen": None,
            "currency": "CNY", "date": "2026-11-05", "rating": "AA", "note": "OpenAPI 一致性"}}
        _, signed_tx, tx_hash = tx.sign_transaction(bank.key, chain, nonce, payload)
        body = json.dumps({"tx": signed_tx.hex()}).encode()
        c(anyone, "POST", "/v1/txs", body=body, signed=False, expect=202)
        bank.wait(tx_hash)
        c(anyone, "POST", "/v1/txs", body=body, signed=False, expect=200)
        c(anyone, "POST", "/v1/txs", body=b'{"tx": "zz"}', signed=False, expect=400)
        c(anyone, "POST", "/v1/txs", body=b"not json", signed=False, expect=400)
        _, second, _ = tx.sign_transaction(bank.key, chain, nonce + 1, payload)
        batch = json.dumps({"txs": [second.hex(), "00"]}).encode()
        answer = c(anyone, "POST", "/v1/txs/batch", body=batch, signed=False, expect=202)
        self.assertEqual(answer["accepted"], 1, answer)
        c(anyone, "POST", "/v1/txs/batch", body=b'{"txs": 1}', signed=False, expect=400)

        # Metrics: OpenMetrics text, as documented.
        status_code, ctype, _ = anyone.raw("GET", "/metrics", signed=False)
        self.assertEqual(status_code, 200)
        documented = self.doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
        self.assertIn(ctype.split(";")[0], [k.split(";")[0] for k in documented])
        self.covered.add(("/metrics", "get"))

        # Server-sent events: one block event, whose data is a BlockEvent.
        self.assertEqual(self.block_event(), "ok")
        self.covered.add(("/v1/events", "get"))

        # Every operation in the document was exercised with success.
        every = {(p, m) for p, item in doc["paths"].items() for m in item}
        self.assertEqual(every - self.covered, set(), "operations never answered with success")
        self.assertGreater(self.checked, 70)

    def block_event(self):
        """Reads /v1/events until one `block` event, and validates it."""
        req = urllib.request.Request(NODE.rstrip("/") + "/v1/events",
                                     headers={"Accept": "text/event-stream"})
        with urllib.request.urlopen(req, timeout=20) as resp:
            self.assertIn("text/event-stream", resp.headers.get("Content-Type", ""))
            event = None
            for _ in range(1000):
                line = resp.readline().decode().rstrip("\r\n")
                if line.startswith("event:"):
                    event = line[len("event:"):].strip()
                elif line.startswith("data:") and event == "block":
                    value = json.loads(line[len("data:"):].strip())
                    break
            else:
                self.fail("no block event in 1000 lines")
        # The documented frame, then its data against BlockEvent.
        content = self.doc["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]
        frame = dict(content["text/event-stream"]["schema"])
        frame["components"] = self.doc["components"]
        self.jsonschema.validate({"event": "block", "data": json.dumps(value)}, frame,
                                 cls=self.jsonschema.Draft202012Validator)
        self.jsonschema.validate({"event": "lagged", "data": "3"}, frame,
                                 cls=self.jsonschema.Draft202012Validator)
        data = {"$ref": "#/components/schemas/BlockEvent", "components": self.doc["components"]}
        self.jsonschema.validate(value, data, cls=self.jsonschema.Draft202012Validator)
        return "ok"

if __name__ == "__main__":
    unittest.main()
