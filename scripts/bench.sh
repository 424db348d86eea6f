#!/usr/bin/env bash
# Measure a fresh local network under load and print the load generator's
# JSON summary (its last line).
#
#   scripts/bench.sh [--nodes 4] [--txs 20000] [--rate 0] [--senders 64] [--import]
#                    [--max-block-txs N] [--max-in-flight N] [--queries N]
#
# --rate 0 submits as fast as the network admits; --import submits credit
# records only (bulk import); --queries N also runs N signed enterprise
# reads against the first node during the load (their summary goes to
# stderr), each audited on chain. BENCH_AUDIT_SHIP_MS sets
# [audit] ship_interval_ms (60000 keeps audit batches off the chain for the
# run). The network lives under target/bench/ and is
# stopped (every process, by pid) when the script exits, whatever happens.
# DELTACHAIN_BENCH_PORT moves its ports (default 9070).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NET="$ROOT/target/bench"
# BENCH_BIN=DIR runs binaries built elsewhere (an older commit, for
# alternating comparisons) instead of building this tree.
BIN="${BENCH_BIN:-$ROOT/target/release}"
PORT=${DELTACHAIN_BENCH_PORT:-9070}
NODES=4 TXS=20000 RATE=0 SENDERS=64 IMPORT="" BLOCK_TXS=() IN_FLIGHT=0 QUERIES=0

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) NODES=${2:?}; shift 2 ;;
        --txs) TXS=${2:?}; shift 2 ;;
        --rate) RATE=${2:?}; shift 2 ;;
        --senders) SENDERS=${2:?}; shift 2 ;;
        --import) IMPORT=--import; shift ;;
        --max-block-txs) BLOCK_TXS=(--max-block-txs "${2:?}"); shift 2 ;;
        --max-in-flight) IN_FLIGHT=${2:?}; shift 2 ;;
        --queries) QUERIES=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "error: unknown argument '$1'" >&2; usage ;;
    esac
done
for v in "$NODES" "$TXS" "$RATE" "$SENDERS" "$IN_FLIGHT" "$QUERIES" "${BENCH_AUDIT_SHIP_MS:-0}"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "error: '$v' is not a number" >&2; usage; }
done
[ "$NODES" -ge 1 ] && [ "$NODES" -le 20 ] || { echo "error: --nodes must be 1..20" >&2; exit 2; }
command -v cargo >/dev/null || { echo "error: cargo is required" >&2; exit 1; }

if [ -z "${BENCH_BIN:-}" ]; then
    echo "building release binaries..." >&2
    (cd "$ROOT" && cargo build --release --locked -p deltachain-node -p deltachain-client --bins >&2)
fi

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
        local any=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && any=1; done
        [ $any = 0 ] && return
        sleep 0.2
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

rm -rf "$NET"
"$BIN/deltachain-node" testnet --nodes "$NODES" --out "$NET" --base-port "$PORT" --block-interval-ms 1000 "${BLOCK_TXS[@]}" >/dev/null
if [ -n "${BENCH_AUDIT_SHIP_MS:-}" ]; then
    sed -i "s/^ship_interval_ms = .*/ship_interval_ms = $BENCH_AUDIT_SHIP_MS/" "$NET"/*/config.toml
fi
URLS=() PROCS=()
i=0
for home in $(ls -d "$NET"/*/ | grep -v members); do
    home=${home%/}
    RUST_LOG=${BENCH_RUST_LOG:-warn} nohup "$BIN/deltachain-node" run --home "$home" >"$home.log" 2>&1 &
    PIDS+=($!)
    PROCS+=(--node-proc "$!:$home/data")
done
for ((i = 0; i < NODES; i++)); do URLS+=("http://127.0.0.1:$((PORT + i))"); done
deadline=$((SECONDS + 60))
until "$BIN/deltachain" --node "${URLS[0]}" --json status 2>/dev/null | grep -qE '"height": *[1-9]'; do
    [ $SECONDS -lt $deadline ] || { echo "error: the bench network did not start; see $NET/*.log" >&2; exit 1; }
    sleep 0.5
done
echo "network of $NODES validators is up; loading it..." >&2
QPID=""
if [ "$QUERIES" -gt 0 ]; then
    # After the first records are committed, so there is something to read.
    (sleep 6; "$BIN/deltachain-bench" --nodes "${URLS[0]}" --regulator-key "$NET/members/regulator.key" \
        --query "$QUERIES" | sed 's/^{/{"phase":"queries during load",/' >&2) &
    QPID=$!
fi
"$BIN/deltachain-bench" --nodes "$(IFS=,; echo "${URLS[*]}")" --regulator-key "$NET/members/regulator.key" \
    --txs "$TXS" --rate "$RATE" --senders "$SENDERS" --max-in-flight "$IN_FLIGHT" $IMPORT "${PROCS[@]}" --progress
[ -z "$QPID" ] || wait "$QPID"
