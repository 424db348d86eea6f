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
#   8. Supply-chain finance: a core enterprise confirms its payable to the
#      battery maker, the supplier splits it, one part is factored in
#      Hangzhou, and a second financing of that part in Hefei is refused,
#      naming the first financier.
#   9. Public-credit data (tax grade, a court judgment), an objection to the
#      default record, a pilot-era code admitted by the regulator, and the
#      enterprise report a regulator reads.
#
# Usage: scripts/demo.sh   (DELTACHAIN_BASE_PORT as for testnet.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NET="$ROOT/target/testnet"
BIN="$ROOT/target/release/deltachain"
BASE_PORT=${DELTACHAIN_BASE_PORT:-7070}
[ $# -eq 0 ] || { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
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

# The core enterprise (a Beijing-registered group buying cells), the battery
# maker's own supplier that takes part of the receivable, and a Fujian firm
# whose code was issued before GB 32100-2015 settled.
CORE=91110108551385082Q
SUB_SUPPLIER=91110000802100433B
PILOT=91350100M0001TGQXM
AR="AR-$RUN"
say "Supply chain: the core enterprise confirms a payable of 3,000,000 yuan to the battery maker"
run --node "$SHANGHAI" submit --key "$KEYS/scf-platform.key" --wait receivable-register --id "$AR" \
    --creditor "$ENTERPRISE" --debtor "$CORE" --amount 3,000,000 --issued 2026-10-08 --due 2027-04-08 \
    --invoice "3100$RUN-01,3100$RUN-02" --contract "电芯采购-2026-$RUN" --debtor-key "$KEYS/enterprise-$CORE.key"

say "The battery maker splits it: 1,200,000 to its own supplier, 1,800,000 kept"
run --node "$HEFEI" --key "$ENT_KEY" submit --wait receivable-split --id "$AR" \
    --part "$AR-A:$SUB_SUPPLIER:1,200,000" --part "$AR-B:$ENTERPRISE:1,800,000"

say "A Hangzhou bank factors part $AR-B (through the Hangzhou node)"
run --node "$HANGZHOU" submit --key "$KEYS/bank-hangzhou.key" --wait receivable-finance --id "$AR-B" \
    --kind factoring --amount 1,700,000 --contract "HZ-FT-$RUN" --until 2027-04-08

say "A Hefei bank tries to take the same part as security: refused, naming the first financier"
expect_rejected --node "$HEFEI" submit --key "$KEYS/bank-hefei.key" --wait receivable-finance --id "$AR-B" \
    --kind pledge --amount 1,000,000 --contract "HF-PL-$RUN" --until 2027-03-31

say "What the core enterprise sees of the receivable it owes"
run --node "$JIAXING" --key "$KEYS/enterprise-$CORE.key" query receivable "$AR-B" --purpose self_inquiry

say "Public-credit data: the tax bureau's grade and a court judgment"
code=0
run --node "$SHANGHAI" submit --key "$KEYS/tax-shanghai.key" --wait public-record --enterprise "$ENTERPRISE" \
    --category tax_grade --period 2025-12 --grade B --source "沪税信-2025-$RUN" || code=$?
[ "$code" = 0 ] || [ "$code" = 1 ] || exit "$code"
run --node "$HEFEI" submit --key "$KEYS/court-hefei.key" --wait public-record --enterprise "$ENTERPRISE" \
    --category court_judgment --period 2026-10 --case-number "（2026）皖0104民初${RUN: -5}号" --amount 380,000 \
    --source "合肥蜀山法院-$RUN" --note "买卖合同纠纷，判决被告支付货款"

say "The enterprise objects to the default record; the Hefei bank must answer within 20 days"
DEFAULT_TX=$("$BIN" --node "$HEFEI" --key "$KEYS/bank-hefei.key" --json query enterprise "$ENTERPRISE" --own --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["credit_records"][0]["tx_hash"])')
run --node "$HEFEI" --key "$ENT_KEY" submit --wait objection --tx "$DEFAULT_TX" --reason "该笔贷款已于 2026-11-25 展期，不构成违约"

say "A Fujian firm with a pilot-era code is refused until the regulator admits it"
code=0
run --node "$SHANGHAI" submit --key "$KEYS/bank-shanghai.key" --wait credit --enterprise "$PILOT" \
    --kind loan --reference "SH-LN-$RUN" --amount 2,000,000 --date 2026-11-02 || code=$?
case "$code" in
2)  run --node "$SHANGHAI" submit --key "$KEYS/regulator.key" --wait uscc-exception --code "$PILOT" \
        --name "福州某电子科技有限公司" --reason "营业执照原件已核验，代码赋于 GB 32100-2015 施行前"
    run --node "$NANJING" submit --key "$KEYS/bank-shanghai.key" --wait credit --enterprise "$PILOT" \
        --kind loan --reference "SH-LN-$RUN" --amount 2,000,000 --date 2026-11-02 ;;
0)  echo "(the code was admitted by an earlier run of this demo)" ;;
*)  echo "error: expected the CLI to refuse the code (exit 2), got exit $code" >&2; exit 1 ;;
esac

say "The regulator reads the battery maker's report (through the Jiaxing node)"
run --node "$JIAXING" --key "$KEYS/regulator.key" report "$ENTERPRISE" --purpose supervision

say "Done. The network keeps running; stop it with scripts/testnet.sh down"
