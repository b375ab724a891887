#!/usr/bin/env bash
# Three peers closed by a swarm key and an allow-list of their identities; an outsider without the key is refused.
# See README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib.sh"

ROUNDS=6
# the secrets, made once (mode 0600; keygen and psk never overwrite a file): the swarm key and each member's identity
swarmgrad psk --out "$OUT/swarm.key" 2>/dev/null
IDS=()
for i in 0 1 2; do
  IDS+=("$(swarmgrad keygen --out "$OUT/peer$i.key" 2>/dev/null)")
done
ALLOW=$(IFS=,; echo "${IDS[*]}")
PORT=$(free_port)
FIRST="/ip4/127.0.0.1/tcp/$PORT/p2p/${IDS[0]}"

member_args() {
  echo --rounds "$ROUNDS" --train-steps 20 --train-lr 0.1 --gossip-start-peers 2 \
    --data-peers 3 --data-index "$1" --data-train-limit 3000 --data-test-limit 500 \
    --host-psk-file "$OUT/swarm.key" --host-identity-file "$OUT/peer$1.key" --host-allow-peers "$ALLOW" \
    --history-file "$OUT/peer$1.jsonl"
}
# shellcheck disable=SC2046 # member_args prints words without spaces
start peer0 node $(member_args 0) --host-listen "/ip4/127.0.0.1/tcp/$PORT"
P0=$LAST_PID
wait_log 60 "$OUT/peer0.log" 'peer started'

# the outsider knows the first member's address but not the swarm key: its handshake fails, every time. It waits
# for two peers before its first round, for longer than this script runs: any round it logs, it took with others
start outsider node --rounds "$ROUNDS" --train-steps 20 --gossip-start-peers 2 --gossip-start-timeout-ms 600000 \
  --data-peers 3 --data-index 0 --data-train-limit 3000 --log-level debug --host-bootstrap "$FIRST"
OUTSIDER=$LAST_PID
wait_log 60 "$OUT/outsider.log" "redial failed.*${IDS[0]}"

# shellcheck disable=SC2046
start peer1 node $(member_args 1) --host-bootstrap "$FIRST"
P1=$LAST_PID
# shellcheck disable=SC2046
start peer2 node $(member_args 2) --host-bootstrap "$FIRST"
P2=$LAST_PID
wait_exit 120 "$P0" "$P1" "$P2"

REFUSED=$(grep -c "redial failed.*${IDS[0]}" "$OUT/outsider.log" || true)
OUTSIDER_ROUNDS=$(grep -c 'round done' "$OUT/outsider.log" || true)
kill -TERM "$OUTSIDER"
# the members' rounds saw the two other members only
if ((OUTSIDER_ROUNDS > 0)) || ! grep -q 'round done.* peers=2 ' "$OUT/peer0.log" ||
  grep -q 'round done.* peers=3 ' "$OUT"/peer?.log; then
  echo "the outsider took part in the run: see $OUT" >&2
  exit 1
fi
read -r first last round < <(accuracies "$OUT"/peer*.jsonl)
echo "keys and logs in $OUT"
echo "result: private-swarm: outsider refused $REFUSED times, 0 rounds; 3 members, test accuracy $first -> $last (mean) after round $round"
