#!/usr/bin/env bash
# A federated run whose coordinator is killed mid-run (SIGKILL) and restarted from its journal. See README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib.sh"

ROUNDS=10
RUN=(--mode fl --rounds "$ROUNDS" --train-steps 15 --train-lr 0.1 --exchange-heartbeat-ms 300)
PORT=$(free_port)
# the same identity, listen address and journal before and after the kill: the clients redial the same address
COORDINATOR=("${RUN[@]}" --fl-min-clients 2 --data-test-limit 500 --journal "$OUT/run.journal"
  --host-identity-file "$OUT/coordinator.key" --host-listen "/ip4/127.0.0.1/tcp/$PORT"
  --history-file "$OUT/coordinator.jsonl")
swarmgrad keygen --out "$OUT/coordinator.key" >"$OUT/coordinator.id" 2>/dev/null
ADDR="/ip4/127.0.0.1/tcp/$PORT/p2p/$(cat "$OUT/coordinator.id")"

start coordinator coordinator "${COORDINATOR[@]}"
FIRST=$LAST_PID
CLIENTS=()
for i in 0 1; do
  start "client$i" node "${RUN[@]}" --data-peers 2 --data-index "$i" --data-train-limit 600 \
    --train-eval-every 0 --host-bootstrap "$ADDR"
  CLIENTS+=("$LAST_PID")
done

# two rounds done (the journal is written before a round is logged), then the coordinator dies without a word
wait_log 120 "$OUT/coordinator.jsonl" '"round":2[,}]'
kill -KILL "$FIRST"
{ wait "$FIRST"; } 2>/dev/null || true
KILLED_AFTER=$(wc -l <"$OUT/coordinator.jsonl")
echo "coordinator killed (SIGKILL) after round $KILLED_AFTER"

start coordinator-restarted coordinator "${COORDINATOR[@]}"
wait_exit 180 "$LAST_PID" "${CLIENTS[@]}"
RESUMED=$(grep -m1 'coordinator started' "$OUT/coordinator-restarted.log" | sed -nE 's/.* round=([0-9]+).*/\1/p')
[[ -n $RESUMED ]] || { echo "the restarted coordinator logged no round to resume at" >&2; exit 1; }
echo "restarted coordinator resumed at round $RESUMED from $OUT/run.journal"
read -r first last round < <(accuracies "$OUT/coordinator.jsonl")
echo "result: fl-resume: killed after round $KILLED_AFTER, resumed at round $RESUMED, finished round $round, test accuracy $first -> $last"
