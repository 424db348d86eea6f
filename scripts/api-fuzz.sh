#!/usr/bin/env bash
# Schemathesis, the schema-based API fuzzer, against a fresh dev node and
# its own /v1/openapi.json: every operation, with requests signed (RFC
# 9421) by a regulator and then by a bank, so the signed routes are fuzzed
# too, not only refused with 401.
#
#   scripts/api-fuzz.sh [--examples N]
#
# --examples N  examples per operation and phase (default 40)
#
# Needs `pip install schemathesis` and a built deltachain-node (debug or
# release). Known findings that are not faults (see BENCHMARKS.md):
# a batch over the body limit is refused with 413, which Schemathesis does
# not list among rejections; the checks that assume the fuzzer's own
# authentication (ignored_auth, missing_required_header) and that every
# schema-valid request succeeds (positive_data_acceptance: a schema cannot
# say what a valid signature or check character is) are left out.
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES=40
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --examples) EXAMPLES=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
case "$EXAMPLES" in ''|*[!0-9]*) echo "--examples takes a whole number, got '$EXAMPLES'" >&2; exit 2 ;; esac
command -v st >/dev/null || { echo "schemathesis is not installed: python3 -m pip install schemathesis" >&2; exit 2; }
# The newer of the release and debug builds, so a stale build is not fuzzed.
NODE_BIN=""
for b in target/release/deltachain-node target/debug/deltachain-node; do
    if [ -x "$b" ] && { [ -z "$NODE_BIN" ] || [ "$b" -nt "$NODE_BIN" ]; }; then NODE_BIN=$b; fi
done
[ -n "$NODE_BIN" ] || { echo "build the node first: cargo build --release" >&2; exit 2; }
echo "fuzzing $NODE_BIN"

DIR=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
"$NODE_BIN" dev --home "$DIR/home" --api-port "$PORT" --p2p-port $((PORT + 1)) >"$DIR/node.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
    curl -sf "$URL/v1/status" >/dev/null 2>&1 && break
    sleep 0.2
done

status=0
for who in "regulator supervision" "bank-shanghai loan_approval"; do
    set -- $who
    echo "== signed by $1 (purpose $2)"
    DELTACHAIN_SIGN_KEY="$DIR/home/members/$1.key" DELTACHAIN_SIGN_PURPOSE="$2" \
        SCHEMATHESIS_HOOKS=schemathesis_sign PYTHONPATH="$PWD/scripts" \
        st run "$URL/v1/openapi.json" --checks all \
        --exclude-checks ignored_auth,missing_required_header,positive_data_acceptance \
        --max-examples "$EXAMPLES" --workers 2 || status=1
done
exit $status
