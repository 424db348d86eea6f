#!/usr/bin/env bash
# Start, inspect and stop a local multi-city Deltachain network.
#
#   scripts/testnet.sh up [N]     build release binaries, generate N validators
#                                 (default 5: Shanghai, Nanjing, Hangzhou, Hefei,
#                                 Jiaxing) under target/testnet/, start them, and
#                                 return once blocks are being committed
#   scripts/testnet.sh status     height, peers and last block hash of each node
#   scripts/testnet.sh down       stop every node this script started
#   scripts/testnet.sh logs CITY  follow one node's log
#
# Environment: DELTACHAIN_BASE_PORT (default 7070; node i serves its API on
# base+i and listens for peers on base+100+i), DELTACHAIN_BLOCK_INTERVAL_MS
# (default 1000), DELTACHAIN_FULL_NODES (default 0).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NET="$ROOT/target/testnet"
BIN="$ROOT/target/release"
BASE_PORT=${DELTACHAIN_BASE_PORT:-7070}
INTERVAL=${DELTACHAIN_BLOCK_INTERVAL_MS:-1000}
FULL=${DELTACHAIN_FULL_NODES:-0}

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is required but not installed" >&2; exit 1; }
}

names() {
    [ -f "$NET/names" ] && cat "$NET/names"
}

alive() {
    local pidfile="$NET/$1.pid"
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

port_of() {
    local i=0 n
    for n in $(names); do
        [ "$n" = "$1" ] && { echo $((BASE_PORT + i)); return; }
        i=$((i + 1))
    done
    return 1
}

json_field() {
    python3 -c 'import json,sys
try:
    d = json.load(sys.stdin)
    print(d.get(sys.argv[1], "-"))
except Exception:
    print("-")' "$1"
}

status() {
    [ -f "$NET/names" ] || { echo "no network in $NET; run: scripts/testnet.sh up" >&2; exit 1; }
    printf '%-10s %-6s %-8s %-6s %-66s\n' NODE STATE HEIGHT PEERS "LAST BLOCK HASH"
    local n port s
    for n in $(names); do
        port=$(port_of "$n")
        if alive "$n"; then
            s=$("$BIN/deltachain" --node "http://127.0.0.1:$port" --json status 2>/dev/null || echo '{}')
            printf '%-10s %-6s %-8s %-6s %-66s\n' "$n" up "$(echo "$s" | json_field height)" \
                "$(echo "$s" | json_field peers)" "$(echo "$s" | json_field latest_block_hash)"
        else
            printf '%-10s %-6s\n' "$n" down
        fi
    done
}

up() {
    local n=${1:-5}
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 20 ] || { echo "error: N must be 1..20, got '$n'" >&2; usage; }
    need cargo
    need python3
    for existing in $(names 2>/dev/null || true); do
        if alive "$existing"; then
            echo "error: a network is already running in $NET; run scripts/testnet.sh down first" >&2
            exit 1
        fi
    done
    echo "building release binaries (the first build takes a few minutes)..."
    (cd "$ROOT" && cargo build --release --locked -p deltachain-node -p deltachain-client --bins)
    rm -rf "$NET"
    "$BIN/deltachain-node" testnet --nodes "$n" --full-nodes "$FULL" --out "$NET" \
        --base-port "$BASE_PORT" --block-interval-ms "$INTERVAL" >/dev/null
    local cities=(shanghai nanjing hangzhou hefei jiaxing) i name
    : >"$NET/names"
    for ((i = 0; i < n; i++)); do
        name=${cities[$i]:-node$((i + 1))}
        echo "$name" >>"$NET/names"
    done
    for ((i = 1; i <= FULL; i++)); do echo "full$i" >>"$NET/names"; done
    for name in $(names); do
        nohup "$BIN/deltachain-node" run --home "$NET/$name" >"$NET/$name.log" 2>&1 &
        echo $! >"$NET/$name.pid"
    done
    echo "started $(names | wc -l) nodes under $NET; waiting for blocks..."
    local deadline=$((SECONDS + 90)) h
    while [ $SECONDS -lt $deadline ]; do
        h=$( ("$BIN/deltachain" --node "http://127.0.0.1:$BASE_PORT" --json status 2>/dev/null || echo "{}") | json_field height)
        if [ "$h" != "-" ] && [ "$h" -ge 2 ]; then
            status
            echo "network is committing blocks; member keys are in $NET/members"
            return 0
        fi
        for name in $(names); do
            alive "$name" || { echo "error: node $name exited; see $NET/$name.log" >&2; tail -5 "$NET/$name.log" >&2; exit 1; }
        done
        sleep 1
    done
    echo "error: no blocks after 90 s; see the logs in $NET" >&2
    exit 1
}

down() {
    [ -f "$NET/names" ] || { echo "no network in $NET"; return 0; }
    local name pid
    for name in $(names); do
        if alive "$name"; then
            kill -TERM "$(cat "$NET/$name.pid")" 2>/dev/null || true
        fi
    done
    for _ in $(seq 1 50); do
        local any=0
        for name in $(names); do alive "$name" && any=1; done
        [ $any = 0 ] && break
        sleep 0.2
    done
    for name in $(names); do
        if alive "$name"; then
            pid=$(cat "$NET/$name.pid")
            echo "node $name did not stop on SIGTERM; killing $pid" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$NET/$name.pid"
    done
    echo "stopped every node of $NET"
}

logs() {
    local city=${1:-}
    [ -n "$city" ] || { echo "error: logs needs a node name: $(names | tr '\n' ' ')" >&2; exit 2; }
    [ -f "$NET/$city.log" ] || { echo "error: no log for '$city'; nodes: $(names | tr '\n' ' ')" >&2; exit 2; }
    tail -n 50 -f "$NET/$city.log"
}

case "${1:-}" in
    up) shift; up "$@" ;;
    status) status ;;
    down) down ;;
    logs) shift; logs "$@" ;;
    *) usage ;;
esac
