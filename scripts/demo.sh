#!/usr/bin/env bash
# Tell a realistic credit-chain story against the network started by
# `scripts/testnet.sh up` (5 cities), printing what each party sees:
#
#   1. The Hangzhou IP office registers two patents of a Hefei battery maker.
#   2. Banks in Nanjing and Hefei report loans, an overdue payment and a default.
#   3. Bank of Shanghai takes a patent as security for a loan (pledge).
#   4. A Nanjing bank, unaware, tries to take the same patent: the chain
#      refuses the second pledge and names the first pledgee.
#   5. Bank of Shanghai asks for the enterprise's credit history: refused
#      until the enterprise signs a consent; then it sees every city's records.
#   6. The regulator views the enterprise across all cities, and verifies a
#      record against the validators' signatures without trusting any node.
#   7. The enterprise sees who read its data, and revokes the consent.
#
# Usage: scripts/demo.sh   (DELTACHAIN_BASE_PORT as for testnet.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NET="$ROOT/target/testnet"
BIN="$ROOT/target/release/deltachain"
BASE_PORT=${DELTACHAIN_BASE_PORT:-7070}
[ $# -eq 0 ] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ -x "$BIN" ] || { echo "error: $BIN not built; run scripts/testnet.sh up first" >&2; exit 1; }
[ -f "$NET/genesis.json" ] || { echo "error: no network in $NET; run scripts/testnet.sh up first" >&2; exit 1; }
NODES=$(wc -l <"$NET/names")
[ "$NODES" -ge 1 ] || { echo "error: $NET/names is empty" >&2; exit 1; }
node() { echo "http://127.0.0.1:$((BASE_PORT + ($1 % NODES)))"; }
SHANGHAI=$(node 0) NANJING=$(node 1) HANGZHOU=$(node 2) HEFEI=$(node 3) JIAXING=$(node 4)
"$BIN" --node "$SHANGHAI" status >/dev/null 2>&1 || { echo "error: the network is not answering at $SHANGHAI; run scripts/testnet.sh up" >&2; exit 1; }
KEYS="$NET/members"

# A battery maker in Hefei (USCC with a valid GB 32100-2015 check character)
# and two of its patents (CNIPA numbers with valid check digits). The run's
# own second stamp keeps references unique when the demo is repeated.
ENTERPRISE=91350100M000100Y43
RUN=$(date +%s)
PATENT_A=ZL202010345678.9
PATENT_B=ZL201921100873.4

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
    local shown=() a
    for a in "$@"; do shown+=("${a#"$KEYS"/}"); done
    printf '$ deltachain'
    printf ' %q' "${shown[@]}"
    echo
    "$BIN" "$@"
}
# Like run, but a business-rule rejection (exit 1) is part of the story.
expect_rejected() {
    local code=0
    run "$@" || code=$?
    [ "$code" = 1 ] || { echo "error: expected the chain to refuse this (exit 1), got exit $code" >&2; exit 1; }
}

say "Hangzhou IP office registers the enterprise's patents (through the Hangzhou node)"
for p in "$PATENT_A:Solid-state electrolyte membrane for lithium cells" "$PATENT_B:Thermal runaway detection circuit"; do
    id=${p%%:*} title=${p#*:}
    code=0
    run --node "$HANGZHOU" submit --key "$KEYS/ipo-hangzhou.key" --wait ip-register \
        --ip-id "$id" --kind patent --title "$title" --owner "$ENTERPRISE" --date 2021-04-12 || code=$?
    [ "$code" = 0 ] || [ "$code" = 1 ] || exit "$code" # 1: already registered by an earlier run
done

say "Banks in Nanjing and Hefei report their credit history with the enterprise"
run --node "$NANJING" submit --key "$KEYS/bank-nanjing.key" --wait credit --enterprise "$ENTERPRISE" \
    --kind loan --reference "NJ-LN-$RUN" --amount 12000000 --date 2025-03-01 --note "working capital, 24 months"
run --node "$HEFEI" submit --key "$KEYS/bank-hefei.key" --wait credit --enterprise "$ENTERPRISE" \
    --kind loan --reference "HF-LN-$RUN" --amount 4500000.00 --date 2025-07-15
run --node "$HEFEI" submit --key "$KEYS/bank-hefei.key" --wait credit --enterprise "$ENTERPRISE" \
    --kind overdue --reference "HF-LN-$RUN" --amount 380000 --date 2026-09-30 --note "Q3 instalment unpaid"
run --node "$HEFEI" submit --key "$KEYS/bank-hefei.key" --wait credit --enterprise "$ENTERPRISE" \
    --kind default --reference "HF-LN-$RUN" --amount 4120000 --date 2026-11-20

say "Bank of Shanghai lends against patent $PATENT_A and records the pledge"
code=0
run --node "$SHANGHAI" submit --key "$KEYS/bank-shanghai.key" --wait ip-pledge --ip-id "$PATENT_A" \
    --amount 8000000 --contract "SH-PL-$RUN" --until 2028-06-30 || code=$?
[ "$code" = 0 ] || [ "$code" = 1 ] || exit "$code"

say "A Nanjing bank tries to take the same patent as security: the chain refuses"
expect_rejected --node "$NANJING" submit --key "$KEYS/bank-nanjing.key" --wait ip-pledge --ip-id "$PATENT_A" \
    --amount 6000000 --contract "NJ-PL-$RUN" --until 2028-12-31

say "What the Nanjing bank sees about the patent"
run --node "$NANJING" --key "$KEYS/bank-nanjing.key" query ip "$PATENT_A"

ENT_KEY="$KEYS/enterprise-$ENTERPRISE.key"
say "Bank of Shanghai asks for the enterprise's credit history: no consent yet"
expect_rejected --node "$SHANGHAI" --key "$KEYS/bank-shanghai.key" query enterprise "$ENTERPRISE" --purpose loan_approval

say "The enterprise consents (signed with its own key); the bank puts the consent on chain"
CONSENT="$NET/consent-$RUN.json"
CONSENT_ID="demo-$RUN"
UNTIL=$(python3 -c 'import datetime; print(datetime.date.today() + datetime.timedelta(days=90))')
run --node "$SHANGHAI" consent sign --enterprise-key "$ENT_KEY" --grantee bank-shanghai --scope credit \
    --purpose loan_approval --until "$UNTIL" --consent-id "$CONSENT_ID" --out "$CONSENT"
run --node "$SHANGHAI" --key "$KEYS/bank-shanghai.key" submit --wait consent-grant --file "$CONSENT"
run --node "$SHANGHAI" --key "$KEYS/bank-shanghai.key" query enterprise "$ENTERPRISE" --purpose loan_approval --limit 10

say "The regulator's cross-city view of the enterprise (through the Jiaxing node)"
run --node "$JIAXING" --key "$KEYS/regulator.key" query enterprise "$ENTERPRISE" --purpose supervision --limit 10

say "The regulator verifies the pledge record against the validators in genesis"
PLEDGE_TX=$("$BIN" --node "$SHANGHAI" --key "$KEYS/regulator.key" --json query ip "$PATENT_A" | python3 -c 'import json,sys; print(json.load(sys.stdin)["active_pledge"]["tx_hash"])')
run --node "$JIAXING" --key "$KEYS/regulator.key" verify "$PLEDGE_TX" --genesis "$NET/genesis.json"

say "The enterprise revokes the consent, then reads who looked at its data (from any city)"
run --node "$HEFEI" submit --wait consent-revoke --consent-id "$CONSENT_ID" --enterprise-key "$ENT_KEY"
expect_rejected --node "$SHANGHAI" --key "$KEYS/bank-shanghai.key" query enterprise "$ENTERPRISE" --purpose loan_approval
sleep 3 # the last reads reach the chain within a second and a block
run --node "$HANGZHOU" --key "$ENT_KEY" query queries "$ENTERPRISE" --limit 8

say "Done. The network keeps running; stop it with scripts/testnet.sh down"
