"""Keys, domain-separated signatures and hashes (SPEC.md, section 4)."""

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DOMAIN_TX = "deltachain/tx/v1"
DOMAIN_VOTE = "deltachain/vote/v1"
DOMAIN_PROPOSAL = "deltachain/proposal/v1"
DOMAIN_CONSENT = "deltachain/consent/v1"
DOMAIN_CONSENT_REVOKE = "deltachain/consent-revoke/v1"
DOMAIN_RECEIVABLE = "deltachain/receivable/v1"


def sha256(data):
    return hashlib.sha256(data).digest()


def signing_bytes(domain, chain_id, body):
    """u8 tag length, tag, u8 chain id length, chain id, body."""
    tag = domain.encode()
    chain = chain_id.encode()
    return bytes([len(tag)]) + tag + bytes([min(len(chain), 255)]) + chain + body


class Key:
    """An ed25519 key pair; `secret` is the 32-byte seed (a key file holds
    it as 64 hex characters)."""

    def __init__(self, secret):
        if len(secret) != 32:
            raise ValueError("an ed25519 secret is 32 bytes")
        self._sk = Ed25519PrivateKey.from_private_bytes(bytes(secret))
        self.public = self._sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def from_file(cls, path):
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
        if len(text) != 64:
            raise ValueError(f"key file {path} must hold 64 hex characters")
        return cls(bytes.fromhex(text))

    @property
    def public_hex(self):
        return self.public.hex()

    def sign(self, domain, chain_id, body):
        return self._sk.sign(signing_bytes(domain, chain_id, body))

    def sign_raw(self, message):
        return self._sk.sign(message)


def verify(public, domain, chain_id, body, signature):
    """True when `signature` is `public`'s over the tagged message."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(
            signature, signing_bytes(domain, chain_id, body)
        )
        return True
    except (InvalidSignature, ValueError):
        return False
