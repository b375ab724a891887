#!/usr/bin/env bash
# Three gossip peers learn a regression task (mean squared error) from one CSV file, split iid. See README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib.sh"

ROUNDS=12
VARIANCE=$(node "$HERE/make-data.mjs" "$OUT/data" 3000 1000 | tail -n 1)

swarmgrad keygen --out "$OUT/peer0.key" >"$OUT/peer0.id" 2>/dev/null
PORT=$(free_port)
FIRST="/ip4/127.0.0.1/tcp/$PORT/p2p/$(cat "$OUT/peer0.id")"

peer_args() {
  echo --config "$HERE/peer.yaml" --rounds "$ROUNDS" --gossip-start-peers 2 --data-index "$1" \
    --data-path "$OUT/data/train.csv" --data-test-path "$OUT/data/test.csv" --history-file "$OUT/peer$1.jsonl"
}
# shellcheck disable=SC2046 # peer_args prints words without spaces
start peer0 node $(peer_args 0) --host-identity-file "$OUT/peer0.key" --host-listen "/ip4/127.0.0.1/tcp/$PORT"
P0=$LAST_PID
# shellcheck disable=SC2046
start peer1 node $(peer_args 1) --host-bootstrap "$FIRST"
P1=$LAST_PID
# shellcheck disable=SC2046
start peer2 node $(peer_args 2) --host-bootstrap "$FIRST"
P2=$LAST_PID
wait_exit 120 "$P0" "$P1" "$P2"

swarmgrad plot "$OUT"/peer*.jsonl --out "$OUT/regression.svg" --title "regression, 3 gossip peers"
echo "histories and plot in $OUT (regression.svg)"
# the test MSE of the first and of the last evaluated round, each the mean over the peers, and the last round
read -r first last round < <(node -e '
  const { readFileSync } = require("node:fs")
  const files = process.argv.slice(1)
  let first = 0, last = 0, round = 0
  for (const file of files) {
    const rows = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
    const evaluated = rows.filter((r) => typeof r.mse === "number")
    if (evaluated.length === 0) throw new Error(`${file}: no evaluated round`)
    first += evaluated[0].mse / files.length
    last += evaluated.at(-1).mse / files.length
    round = Math.max(round, rows.at(-1).round)
  }
  console.log(`${first.toFixed(3)} ${last.toFixed(3)} ${round}`)
' "$OUT"/peer*.jsonl)
echo "result: regression: 3 peers, test mse $first -> $last (mean), variance of y $VARIANCE, after round $round"
