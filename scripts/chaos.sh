#!/usr/bin/env bash
# The chaos soak on release binaries: a testnet under steady load while
# validators are SIGKILLed and restarted and, as root with iproute2, cut off
# in network namespaces, at random. It ends with every node on the same
# blocks and state root, every acknowledged transaction in the chain exactly
# once, and `deltachain-node audit` passing on every node.
#
#   scripts/chaos.sh [--minutes N] [--seed S]
#
# --minutes N   length of the soak (default 10); CI runs 2 (inside cargo test)
# --seed S      replay the fault sequence of an earlier run (it prints its seed)
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=10
SEED=""
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) MINUTES=${2:?}; shift 2 ;;
        --seed) SEED=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
case "$MINUTES" in ''|*[!0-9]*) echo "--minutes takes a whole number, got '$MINUTES'" >&2; exit 2 ;; esac
[ "$MINUTES" -ge 1 ] || { echo "--minutes must be at least 1" >&2; exit 2; }

export DELTACHAIN_CHAOS_SECS=$((MINUTES * 60))
[ -n "$SEED" ] && export DELTACHAIN_CHAOS_SEED="$SEED"
if [ "$(id -u)" != 0 ]; then
    echo "not root: validators are killed but not partitioned (network namespaces need root)" >&2
fi
cargo build --release --bin deltachain-node --bin deltachain
exec cargo test --release -p deltachain-tests --test chaos -- --nocapture
