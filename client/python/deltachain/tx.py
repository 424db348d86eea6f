"""Transactions and the objects an enterprise signs (SPEC.md, section 4)."""

from . import crypto
from .encoding import encode


def sign_transaction(key, chain_id, nonce, payload):
    """The signed transaction in JSON form, its canonical bytes and hash.
    `payload` is the JSON form, e.g. {"credit": {...}}."""
    tx = {"chain_id": chain_id, "sender": key.public_hex, "nonce": nonce, "payload": payload}
    body = encode("Transaction", tx)
    sig = key.sign(crypto.DOMAIN_TX, chain_id, body)
    signed = body + sig
    return {"tx": tx, "signature": sig.hex()}, signed, crypto.sha256(signed).hex()


def sign_consent(enterprise_key, consent):
    """A SignedConsent (JSON form) from a Consent (JSON form)."""
    body = encode("Consent", consent)
    sig = enterprise_key.sign(crypto.DOMAIN_CONSENT, consent["chain_id"], body)
    return {"consent": consent, "signature": sig.hex()}


def sign_consent_revoke(enterprise_key, chain_id, consent_id):
    body = encode("string", consent_id)
    sig = enterprise_key.sign(crypto.DOMAIN_CONSENT_REVOKE, chain_id, body)
    return {"consent_id": consent_id, "signature": sig.hex()}


def confirm_receivable(debtor_key, chain_id, terms):
    """A ReceivableRegister payload body: the terms and the debtor's
    signature over them."""
    body = encode("ReceivableTerms", terms)
    sig = debtor_key.sign(crypto.DOMAIN_RECEIVABLE, chain_id, body)
    return {"terms": terms, "debtor_signature": sig.hex()}
