#!/usr/bin/env bash
# Three gossip peers, each on its own CSV file, then a plot of their histories. See README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib.sh"

ROUNDS=8
node "$HERE/make-data.mjs" "$OUT/data" 3 1000

swarmgrad keygen --out "$OUT/peer0.key" >"$OUT/peer0.id" 2>/dev/null
PORT=$(free_port)
FIRST="/ip4/127.0.0.1/tcp/$PORT/p2p/$(cat "$OUT/peer0.id")"

peer_args() {
  echo --config "$HERE/peer.yaml" --rounds "$ROUNDS" --train-lr 0.1 --gossip-start-peers 2 \
    --data-path "$OUT/data/train-$1.csv" --data-test-path "$OUT/data/test.csv" \
    --history-file "$OUT/peer$1.jsonl"
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

swarmgrad plot "$OUT"/peer*.jsonl --out "$OUT/own-csv.svg" --title "own CSV, 3 gossip peers"
echo "histories and plot in $OUT (own-csv.svg)"
read -r first last round < <(accuracies "$OUT"/peer*.jsonl)
echo "result: own-csv: 3 peers, test accuracy $first -> $last (mean) after round $round"
