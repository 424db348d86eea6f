"""Checking a transaction proof without trusting the node (SPEC.md,
section 6): Merkle inclusion (RFC 6962 / RFC 9162), the header, and the
commit certificate against the genesis validators."""

from . import crypto
from .encoding import encode


class ProofError(Exception):
    """Why a proof is not trusted."""


def leaf_hash(data):
    return crypto.sha256(b"\x00" + data)


def node_hash(left, right):
    return crypto.sha256(b"\x01" + left + right)


def verify_inclusion(item, index, tree_size, path, root):
    """RFC 9162 section 2.1.3.2, over leaf data `item` (a 32-byte hash)."""
    if index >= tree_size:
        raise ProofError(f"index {index} is outside a tree of {tree_size}")
    f, s, r = index, tree_size - 1, leaf_hash(item)
    for p in path:
        if s == 0:
            raise ProofError("the path is longer than the tree allows")
        if f & 1 == 1 or f == s:
            r = node_hash(p, r)
            if f & 1 == 0:
                while f & 1 == 0 and f != 0:
                    f >>= 1
                    s >>= 1
        else:
            r = node_hash(r, p)
        f >>= 1
        s >>= 1
    if s != 0:
        raise ProofError("the path is shorter than the tree needs")
    if r != root:
        raise ProofError("the path does not lead to the root")


def validators_hash(genesis):
    keys = [v["public_key"] for v in genesis["validators"]]
    return crypto.sha256(encode(("vec", "public_key"), keys))


def quorum(n):
    return 2 * n // 3 + 1


def verify_certificate(cert, chain_id, height, block_hash, validator_keys):
    if cert["height"] != height or cert["block_hash"] != block_hash:
        raise ProofError("the certificate is for another block")
    sigs = cert["signatures"]
    need = quorum(len(validator_keys))
    if len(sigs) < need:
        raise ProofError(f"{len(sigs)} signatures, a quorum is {need} of {len(validator_keys)}")
    last = -1
    for s in sigs:
        i = s["validator"]
        if i <= last or i >= len(validator_keys):
            raise ProofError(f"validator index {i} is out of order or unknown")
        last = i
        vote = {"height": height, "round": cert["round"], "kind": "precommit",
                "block": block_hash, "validator": i}
        ok = crypto.verify(bytes.fromhex(validator_keys[i]), crypto.DOMAIN_VOTE, chain_id,
                           encode("Vote", vote), bytes.fromhex(s["signature"]))
        if not ok:
            raise ProofError(f"the signature of validator {i} does not verify")


def verify_tx_proof(proof, expected_hash, genesis):
    """Returns the height; raises ProofError naming what failed."""
    if proof["tx_hash"] != expected_hash:
        raise ProofError("the proof is for another transaction")
    expected = bytes.fromhex(expected_hash)
    if proof.get("tx") is not None and crypto.sha256(bytes.fromhex(proof["tx"])) != expected:
        raise ProofError("the transaction bytes do not hash to the transaction hash")
    receipt = proof["receipt"]
    if receipt["tx_hash"] != expected_hash:
        raise ProofError("the receipt belongs to another transaction")
    h = proof["header"]
    if h["chain_id"] != genesis["chain_id"]:
        raise ProofError(f"the block is from chain {h['chain_id']!r}")
    if bytes.fromhex(h["validators_hash"]) != validators_hash(genesis):
        raise ProofError("the block was made by another validator set than the genesis lists")
    height = proof["height"]
    if h["height"] != height or proof["certificate"]["height"] != height:
        raise ProofError("heights in the proof disagree")
    if crypto.sha256(encode("BlockHeader", h)).hex() != proof["block_hash"]:
        raise ProofError("the header does not hash to the certified block hash")
    for name in ("tx_proof", "receipt_proof"):
        if proof[name]["index"] != proof["index"]:
            raise ProofError("the proofs are for another position in the block")
    tp, rp = proof["tx_proof"], proof["receipt_proof"]
    try:
        verify_inclusion(expected, tp["index"], tp["tree_size"],
                         [bytes.fromhex(p) for p in tp["path"]], bytes.fromhex(h["tx_root"]))
    except ProofError as e:
        raise ProofError(f"transaction inclusion: {e}") from None
    receipt_hash = crypto.sha256(encode("Receipt", receipt))
    try:
        verify_inclusion(receipt_hash, rp["index"], rp["tree_size"],
                         [bytes.fromhex(p) for p in rp["path"]],
                         bytes.fromhex(h["results_root"]))
    except ProofError as e:
        raise ProofError(f"receipt inclusion: {e}") from None
    keys = [v["public_key"] for v in genesis["validators"]]
    verify_certificate(proof["certificate"], genesis["chain_id"], height,
                       proof["block_hash"], keys)
    return height
