"""The Python client against docs/vectors.json: the same bytes, hashes,
signatures and verdicts as the Rust code."""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from deltachain import crypto, httpsig, tx, verify  # noqa: E402
from deltachain.encoding import DecodeError, decode, encode  # noqa: E402

VECTORS = os.path.join(HERE, "..", "..", "..", "docs", "vectors.json")


def load():
    with open(VECTORS, encoding="utf-8") as f:
        return json.load(f)


class Vectors(unittest.TestCase):
    v = load()

    def test_keys(self):
        for k in self.v["keys"]:
            self.assertEqual(crypto.Key(bytes.fromhex(k["secret"])).public_hex, k["public"])

    def test_every_transaction(self):
        self.assertGreaterEqual(len(self.v["transactions"]), 23)
        for t in self.v["transactions"]:
            with self.subTest(t["name"]):
                key = crypto.Key(bytes.fromhex(t["signer_secret"]))
                body = encode("Transaction", t["tx"])
                self.assertEqual(body.hex(), t["tx_bytes"])
                self.assertEqual(
                    crypto.signing_bytes(crypto.DOMAIN_TX, t["tx"]["chain_id"], body).hex(),
                    t["signing_bytes"])
                signed_json, signed, h = tx.sign_transaction(
                    key, t["tx"]["chain_id"], t["tx"]["nonce"], t["tx"]["payload"])
                self.assertEqual(signed_json["signature"], t["signature"])
                self.assertEqual(signed.hex(), t["signed_tx_bytes"])
                self.assertEqual(h, t["tx_hash"])
                back = decode("SignedTransaction", signed)
                self.assertEqual(back["tx"], t["tx"])

    def test_signed_objects(self):
        chain = self.v["chain_id"]
        objs = {o["name"]: o for o in self.v["signed_objects"]}
        c = objs["consent"]
        key = crypto.Key(bytes.fromhex(c["signer_secret"]))
        self.assertEqual(encode("Consent", c["object"]).hex(), c["bytes"])
        self.assertEqual(tx.sign_consent(key, c["object"])["signature"], c["signature"])
        r = objs["consent_revoke"]
        self.assertEqual(
            tx.sign_consent_revoke(key, chain, r["object"]["consent_id"])["signature"],
            r["signature"])
        self.assertEqual(encode("string", r["object"]["consent_id"]).hex(), r["bytes"])
        d = objs["receivable_confirmation"]
        debtor = crypto.Key(bytes.fromhex(d["signer_secret"]))
        self.assertEqual(encode("ReceivableTerms", d["object"]).hex(), d["bytes"])
        self.assertEqual(
            tx.confirm_receivable(debtor, chain, d["object"])["debtor_signature"],
            d["signature"])
        for o in objs.values():
            self.assertEqual(
                crypto.signing_bytes(o["domain"], chain, bytes.fromhex(o["bytes"])).hex(),
                o["signing_bytes"])

    def test_request_signatures(self):
        for r in self.v["request_signatures"]:
            with self.subTest(r["name"]):
                key = crypto.Key(bytes.fromhex(r["signer_secret"]))
                headers = {k: v for k, v in r["headers"].items() if v is not None}
                body = r["body"].encode() if r["body"] is not None else None
                if body is not None:
                    self.assertEqual(httpsig.content_digest(body), headers["content-digest"])
                    del headers["content-digest"]
                out = httpsig.sign_request(
                    key, r["method"], r["path"], r["query"], headers, body,
                    created=r["created"], validity=r["expires"] - r["created"],
                    nonce=r["nonce"], tag=r["tag"])
                self.assertEqual(out["Signature-Input"], r["signature_input"])
                self.assertEqual(out["Signature"], r["signature"])

    def test_genesis_validators_hash(self):
        self.assertEqual(verify.validators_hash(self.v["genesis"]).hex(),
                         self.v["validators_hash"])

    def test_tx_proofs(self):
        for p in self.v["tx_proofs"]:
            with self.subTest(p["name"]):
                try:
                    verify.verify_tx_proof(p["proof"], p["expected_tx_hash"], self.v["genesis"])
                    ok = True
                except (verify.ProofError, ValueError, KeyError):
                    ok = False
                self.assertEqual(ok, p["valid"], p.get("why"))

    def test_decode_failures(self):
        types = {"signed_transaction": "SignedTransaction", "vote": "Vote"}
        for f in self.v["decode_failures"]:
            with self.subTest(f["name"]):
                with self.assertRaises(DecodeError):
                    decode(types[f["type"]], bytes.fromhex(f["bytes"]))


if __name__ == "__main__":
    unittest.main()
