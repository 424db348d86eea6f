"""The dev node the live tests run against, and its demo identities."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from deltachain import crypto  # noqa: E402

NODE = os.environ.get("DELTACHAIN_NODE")
HOME = os.environ.get("DELTACHAIN_HOME")
ENT = "91110108551385082Q"
DEBTOR = "91350100M000100Y43"


def key(name):
    """A demo member's (or enterprise's) key from the dev node's home."""
    return crypto.Key.from_file(os.path.join(HOME, "members", f"{name}.key"))
