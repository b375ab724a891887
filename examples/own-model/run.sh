#!/usr/bin/env bash
# Three gossip peers train a TF.js Layers model.json on the bundled MNIST digits, save it and export it. See README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib.sh"

# a small CNN for 28×28 digits, as `model.save('file://…')` writes it (weights beside it: the run starts from them)
MODEL="${MODEL_FILE:-$REPO_DIR/packages/trainer/fixtures/own-cnn/model.json}"
ROUNDS=5

swarmgrad keygen --out "$OUT/peer0.key" >"$OUT/peer0.id" 2>/dev/null
PORT=$(free_port)
FIRST="/ip4/127.0.0.1/tcp/$PORT/p2p/$(cat "$OUT/peer0.id")"

peer_args() {
  echo --model-file "$MODEL" --rounds "$ROUNDS" --train-steps 30 --train-lr 0.1 --gossip-start-peers 2 \
    --data-peers 3 --data-index "$1" --data-train-limit 3000 --data-test-limit 500 \
    --save-dir "$OUT/save/peer$1" --save-every "$ROUNDS" --history-file "$OUT/peer$1.jsonl"
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
wait_exit 180 "$P0" "$P1" "$P2"

# the last checkpoint of peer 0 as a Layers model folder (tf.loadLayersModel), and as raw float32
swarmgrad export --checkpoint "$OUT/save/peer0" --out "$OUT/peer0-model"
swarmgrad export --checkpoint "$OUT/save/peer0" --format raw --out "$OUT/peer0.f32"
test -s "$OUT/peer0-model/model.json"
echo "saved models in $OUT/save, peer 0's exported to $OUT/peer0-model and $OUT/peer0.f32"
read -r first last round < <(accuracies "$OUT"/peer*.jsonl)
echo "result: own-model: 3 peers, test accuracy $first -> $last (mean) after round $round; exported peer0-model/model.json"
