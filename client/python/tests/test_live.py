"""The Python client against a live node: every step a bank's system takes.

Needs a running `deltachain-node dev` (its demo members and enterprise keys):
    DELTACHAIN_NODE=http://127.0.0.1:7070 DELTACHAIN_HOME=$PWD/../../.deltachain-dev \
        python3 -m unittest tests/test_live.py
`cargo test -p deltachain-tests --test python_client` starts a node and runs this.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from devnode import DEBTOR, ENT, HOME, NODE, key  # noqa: E402
from deltachain import crypto, tx, verify  # noqa: E402
from deltachain.client import ApiError, Client  # noqa: E402


@unittest.skipUnless(NODE and HOME, "set DELTACHAIN_NODE and DELTACHAIN_HOME to a dev node")
class Live(unittest.TestCase):
    def setUp(self):
        self.bank = Client(NODE, key("bank-shanghai"))
        self.chain = self.bank.status()["chain_id"]
        with open(os.path.join(HOME, "genesis.json"), encoding="utf-8") as f:
            self.genesis = json.load(f)

    def commit(self, client, payload):
        h = client.submit(payload)
        t = client.wait(h)
        self.assertEqual(t["receipt"]["outcome"], "applied", t)
        return h, t

    def test_records_signed_reads_and_proofs(self):
        bank = self.bank
        # A credit record, followed to its receipt.
        h, t = self.commit(bank, {"credit": {
            "enterprise": ENT, "kind": "loan", "reference": "PY-LN-1",
            "amount_fen": 250_000_000, "currency": "CNY", "date": "2026-11-02",
            "rating": None, "note": "Python 客户端"}})

        # Its proof verifies against the genesis; a spoiled one does not.
        proof = bank.proof(h)
        self.assertEqual(verify.verify_tx_proof(proof, h, self.genesis), t["height"])
        proof["receipt"]["outcome"] = "rejected"
        with self.assertRaises(verify.ProofError):
            verify.verify_tx_proof(proof, h, self.genesis)

        # The enterprise consents (signed in Python), the bank registers it
        # and reads the enterprise's records with that purpose.
        ent = crypto.Key.from_file(os.path.join(HOME, "members", f"enterprise-{ENT}.key"))
        consent = tx.sign_consent(ent, {
            "chain_id": self.chain, "enterprise": ENT, "grantee": bank.key.public_hex,
            "scope": "credit", "purpose": "loan_approval", "not_before": "2026-06-01",
            "until": "2027-05-31", "consent_id": "PY-CONSENT-1"})
        self.commit(bank, {"consent_grant": consent})
        page = bank.enterprise(ENT, "loan_approval")
        refs = json.dumps(page, ensure_ascii=False)
        self.assertIn("PY-LN-1", refs)

        # Unsigned, forged and replayed reads are refused.
        with self.assertRaises(ApiError) as e:
            Client(NODE).get(f"/v1/enterprises/{ENT}")
        self.assertEqual(e.exception.status, 401)
        stranger = Client(NODE, crypto.Key(os.urandom(32)))
        with self.assertRaises(ApiError) as e:
            stranger.enterprise(ENT, "loan_approval")
        self.assertEqual(e.exception.status, 401)

        # IP: registered by the IP office, pledged by the bank.
        ipo = Client(NODE, key("ipo-hangzhou"))
        self.commit(ipo, {"ip_register": {
            "ip_id": "ZL202310123456.6", "kind": "patent", "title": "一种电池热管理方法",
            "owner": ENT, "registered_on": "2024-03-15"}})
        self.commit(bank, {"ip_pledge": {
            "ip_id": "ZL202310123456.6", "amount_fen": 300_000_000, "contract": "PY-ZY-1",
            "until": "2030-10-31"}})
        ip = bank.get("/v1/ip/ZL202310123456.6")
        self.assertIn("PY-ZY-1", json.dumps(ip))

        # A receivable confirmed by the debtor's key (signed in Python),
        # then factored.
        scf = Client(NODE, key("scf-platform"))
        debtor = crypto.Key.from_file(os.path.join(HOME, "members", f"enterprise-{DEBTOR}.key"))
        register = tx.confirm_receivable(debtor, self.chain, {
            "receivable_id": "AR-PY-1", "creditor": ENT, "debtor": DEBTOR,
            "amount_fen": 500_000_000, "currency": "CNY", "issued_on": "2026-10-08",
            "due_on": "2030-04-08", "invoices": ["31009999"], "contract": "HT-PY-1",
            "collateral_registration": None})
        self.commit(scf, {"receivable_register": register})
        self.commit(bank, {"receivable_finance": {
            "receivable_id": "AR-PY-1", "kind": "factoring", "amount_fen": 100_000_000,
            "contract": "BL-PY-1", "until": "2030-04-08"}})
        # A second financing is refused with a receipt that names the first.
        hangzhou = Client(NODE, key("bank-hangzhou"))
        h2 = hangzhou.submit({"receivable_finance": {
            "receivable_id": "AR-PY-1", "kind": "pledge", "amount_fen": 1,
            "contract": "ZY-PY-2", "until": "2030-04-08"}})
        t2 = hangzhou.wait(h2)
        self.assertEqual(t2["receipt"]["outcome"], "rejected")
        self.assertIn("already financed", t2["receipt"]["reason"])

        # A public-credit record from the tax office, and the enterprise's
        # own objection to the loan record, signed with its key.
        tax = Client(NODE, key("tax-shanghai"))
        self.commit(tax, {"public_record": {
            "enterprise": ENT, "period": "2025-12", "data": {"tax_grade": {"grade": "A"}},
            "source": "国家税务总局上海市税务局", "note": None}})
        self.commit(Client(NODE, ent), {"objection": {
            "target": {"record": h}, "reason": "金额有误", "consent_id": None}})

    def test_every_other_record_kind(self):
        bank, chain = self.bank, self.chain
        regulator = Client(NODE, key("regulator"))
        ent = crypto.Key.from_file(os.path.join(HOME, "members", f"enterprise-{ENT}.key"))
        ent_client = Client(NODE, ent)

        # A correction of the bank's own record.
        h, _ = self.commit(bank, {"credit": {
            "enterprise": ENT, "kind": "overdue", "reference": "PY-OD-1",
            "amount_fen": 1_000, "currency": "CNY", "date": "2026-11-03",
            "rating": None, "note": None}})
        self.commit(bank, {"credit_correction": {
            "original_tx": h, "reason": "报送错误", "withdraw": True}})

        # Membership: add, change roles, remove.
        newcomer = crypto.Key(os.urandom(32))
        self.commit(regulator, {"add_member": {
            "name": "bank-suzhou-py", "public_key": newcomer.public_hex,
            "roles": ["credit_reporter"], "city": "苏州", "categories": []}})
        self.commit(regulator, {"set_roles": {
            "public_key": newcomer.public_hex, "roles": ["reader"], "categories": []}})
        self.commit(regulator, {"remove_member": {"public_key": newcomer.public_hex}})

        # An enterprise key bound by the registrar; a pilot-era code admitted.
        registrar = Client(NODE, key("amr-shanghai"))
        self.commit(regulator, {"uscc_exception": {
            "code": "91350211M0000XUF46", "name": "厦门某科技有限公司",
            "reason": "issued before GB 32100-2015 settled"}})
        self.commit(registrar, {"enterprise_key": {
            "uscc": "91350211M0000XUF46", "public_key": crypto.Key(os.urandom(32)).public_hex}})

        # IP: transfer, pledge, release.
        ipo = Client(NODE, key("ipo-hangzhou"))
        self.commit(ipo, {"ip_register": {
            "ip_id": "ZL201710601862.3", "kind": "patent", "title": "锂电池隔膜",
            "owner": ENT, "registered_on": "2017-08-01"}})
        self.commit(ipo, {"ip_transfer": {"ip_id": "ZL201710601862.3", "new_owner": DEBTOR}})
        self.commit(bank, {"ip_pledge": {
            "ip_id": "ZL201710601862.3", "amount_fen": 1_000_000, "contract": "PY-ZY-3",
            "until": "2030-01-01"}})
        self.commit(bank, {"ip_release": {"ip_id": "ZL201710601862.3"}})

        # A consent granted, then revoked by the enterprise.
        consent = tx.sign_consent(ent, {
            "chain_id": chain, "enterprise": ENT, "grantee": bank.key.public_hex,
            "scope": "all", "purpose": "post_loan_management", "not_before": "2026-06-01",
            "until": "2027-05-31", "consent_id": "PY-CONSENT-2"})
        self.commit(bank, {"consent_grant": consent})
        self.commit(ent_client, {"consent_revoke": tx.sign_consent_revoke(
            ent, chain, "PY-CONSENT-2")})

        # A receivable split, passed on, financed and released, paid.
        scf = Client(NODE, key("scf-platform"))
        debtor = crypto.Key.from_file(os.path.join(HOME, "members", f"enterprise-{DEBTOR}.key"))
        self.commit(scf, {"receivable_register": tx.confirm_receivable(debtor, chain, {
            "receivable_id": "AR-PY-2", "creditor": ENT, "debtor": DEBTOR,
            "amount_fen": 900_000, "currency": "CNY", "issued_on": "2026-10-08",
            "due_on": "2030-04-08", "invoices": ["31008888"], "contract": "HT-PY-2",
            "collateral_registration": None})})
        self.commit(ent_client, {"receivable_split": {"receivable_id": "AR-PY-2", "parts": [
            {"part_id": "AR-PY-2-A", "holder": ENT, "amount_fen": 300_000},
            {"part_id": "AR-PY-2-B", "holder": ENT, "amount_fen": 200_000}]}})
        self.commit(ent_client, {"receivable_transfer": {
            "receivable_id": "AR-PY-2-B", "new_holder": DEBTOR}})
        self.commit(bank, {"receivable_finance": {
            "receivable_id": "AR-PY-2-A", "kind": "pledge", "amount_fen": 100_000,
            "contract": "ZY-PY-4", "until": "2030-04-08"}})
        self.commit(bank, {"receivable_release": {"receivable_id": "AR-PY-2-A"}})
        self.commit(scf, {"receivable_settle": {
            "receivable_id": "AR-PY-2-A", "amount_fen": 50_000, "paid_on": "2026-11-20"}})

        # An objection and the reporter's answer.
        tax = Client(NODE, key("tax-shanghai"))
        rec, _ = self.commit(tax, {"public_record": {
            "enterprise": ENT, "period": "2026-10", "data": {"utilities": {
                "utility": "water", "status": "late", "months": 1}},
            "source": "上海城投水务", "note": None}})
        obj, _ = self.commit(ent_client, {"objection": {
            "target": {"record": rec}, "reason": "已按时缴纳", "consent_id": None}})
        self.commit(tax, {"objection_resolution": {
            "objection": obj, "outcome": "corrected", "explanation": "已更正",
            "withdraw": True}})


if __name__ == "__main__":
    unittest.main()
