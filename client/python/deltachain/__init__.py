"""Deltachain's second client, written from docs/SPEC.md: build, sign and
submit transactions, sign reads (RFC 9421), follow a transaction to its
receipt and verify its proof against the genesis."""

from .encoding import encode, decode, DecodeError, SCHEMA  # noqa: F401
