#!/usr/bin/env bash
# The large-scale figures of BENCHMARKS.md, on one fresh 4-validator network:
# bulk import of N credit records (default 1,000,000), a mixed load that adds
# patents, query latency at that size, catch-up of a fresh full node from
# height 0, restart time of a validator, disk and memory per node.
#
#   scripts/bench-scale.sh [--records 1000000] [--max-in-flight 30000]
#
# The import keeps at most --max-in-flight records submitted but not yet
# committed (0: as many as the mempools admit), as a real import would.
#
# Prints one JSON line per phase. Every process it starts is stopped on exit.
# DELTACHAIN_BENCH_PORT moves its ports (default 9270).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NET="$ROOT/target/bench-scale"
# BENCH_BIN=DIR runs binaries built elsewhere (an older commit, for
# alternating comparisons) instead of building this tree.
BIN="${BENCH_BIN:-$ROOT/target/release}"
PORT=${DELTACHAIN_BENCH_PORT:-9270}
RECORDS=1000000
IN_FLIGHT=30000
while [ $# -gt 0 ]; do
    case "$1" in
        --records) RECORDS=${2:?}; shift 2 ;;
        --max-in-flight) IN_FLIGHT=${2:?}; shift 2 ;;
        *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
[[ "$RECORDS" =~ ^[0-9]+$ ]] || { echo "error: --records must be a number" >&2; exit 2; }
[[ "$IN_FLIGHT" =~ ^[0-9]+$ ]] || { echo "error: --max-in-flight must be a number" >&2; exit 2; }
command -v python3 >/dev/null || { echo "error: python3 is required" >&2; exit 1; }
if [ -z "${BENCH_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked -p deltachain-node -p deltachain-client --bins >&2)
fi

declare -A PID
cleanup() {
    for p in "${PID[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 2
    for p in "${PID[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

start() { # name
    RUST_LOG=warn nohup "$BIN/deltachain-node" run --home "$NET/$1" >>"$NET/$1.log" 2>&1 &
    PID[$1]=$!
}
height() { ("$BIN/deltachain" --node "$1" --json status 2>/dev/null || echo '{}') | python3 -c 'import json,sys; print(json.load(sys.stdin).get("height", -1))'; }
now() { python3 -c 'import time; print(time.time())'; }

rm -rf "$NET"
"$BIN/deltachain-node" testnet --nodes 4 --full-nodes 1 --out "$NET" --base-port "$PORT" --block-interval-ms 1000 >/dev/null
for n in shanghai nanjing hangzhou hefei; do start $n; done
until [ "$(height http://127.0.0.1:$PORT)" -ge 1 ]; do sleep 0.5; done
URLS="http://127.0.0.1:$PORT,http://127.0.0.1:$((PORT + 1)),http://127.0.0.1:$((PORT + 2)),http://127.0.0.1:$((PORT + 3))"
procs() { for n in shanghai nanjing hangzhou hefei; do printf -- "--node-proc %s:%s " "${PID[$n]}" "$NET/$n/data"; done; }

echo "== import of $RECORDS credit records" >&2
# shellcheck disable=SC2046
"$BIN/deltachain-bench" --nodes "$URLS" --regulator-key "$NET/members/regulator.key" --import \
    --txs "$RECORDS" --senders 512 --max-in-flight "$IN_FLIGHT" --progress $(procs) | tail -1 | sed 's/^{/{"phase":"import",/'

echo "== mixed load (adds patents and pledges)" >&2
# shellcheck disable=SC2046
"$BIN/deltachain-bench" --nodes "$URLS" --regulator-key "$NET/members/regulator.key" \
    --txs 20000 --senders 64 $(procs) | tail -1 | sed 's/^{/{"phase":"mixed",/'

echo "== queries" >&2
"$BIN/deltachain-bench" --nodes "http://127.0.0.1:$((PORT + 1))" --regulator-key "$NET/members/regulator.key" --query 4000 | sed 's/^{/{"phase":"query",/'

TIP=$(height "http://127.0.0.1:$PORT")
echo "== catch-up of a fresh full node to height $TIP" >&2
T0=$(now)
start full1
until [ "$(height "http://127.0.0.1:$((PORT + 4))")" -ge "$TIP" ]; do sleep 0.2; done
T1=$(now)
python3 -c "import json; s=$T1-$T0; print(json.dumps({'phase':'catch_up','height':$TIP,'seconds':round(s,1),'records':$RECORDS,'tx_per_s':round(($RECORDS+20000)/s)}))"

echo "== restart of a validator" >&2
kill -TERM "${PID[hefei]}"
while kill -0 "${PID[hefei]}" 2>/dev/null; do sleep 0.05; done
T0=$(now)
start hefei
until [ "$(height "http://127.0.0.1:$((PORT + 3))")" -ge 1 ]; do sleep 0.02; done
T1=$(now)
python3 -c "import json; print(json.dumps({'phase':'restart','seconds_to_api':round($T1-$T0,2)}))"
for n in shanghai hefei full1; do
    rss=$(awk '/VmHWM/ {print $2 * 1024}' "/proc/${PID[$n]}/status")
    disk=$(du -sb "$NET/$n/data" | cut -f1)
    echo "{\"phase\":\"footprint\",\"node\":\"$n\",\"peak_rss_bytes\":$rss,\"disk_bytes\":$disk}"
done
