#!/usr/bin/env bash
# Creates, once, the Secrets the manifests read: swarmgrad-swarm-key (the swarm key every pod loads, so only pods
# holding it can connect), swarmgrad-seed-key and swarmgrad-coordinator-key (the identities of pod peer-0 and of the
# coordinator, each with its peer id under key peer-id, from which the pods build their bootstrap address). The keys
# are made by `swarmgrad psk` and `swarmgrad keygen`: the `swarmgrad` on PATH, else the image (SWARMGRAD_IMAGE,
# default swarmgrad:latest) through docker. They exist only in a temporary folder, removed afterwards, and in the
# cluster. A Secret that exists already is left as it is.
#
#   deploy/k8s/create-secrets.sh [namespace]   (default swarmgrad; then kubectl apply -k deploy/k8s)
set -euo pipefail
cd "$(dirname "$0")"
namespace="${1:-swarmgrad}"
kubectl=(kubectl -n "$namespace")

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
swarmgrad() {
  if command -v swarmgrad >/dev/null 2>&1; then
    command swarmgrad "$1" --out "$work/$2"
  else
    docker run --rm --network none --user "$(id -u):$(id -g)" -v "$work:/keys" \
      "${SWARMGRAD_IMAGE:-swarmgrad:latest}" "$1" --out "/keys/$2"
  fi
}

exists() {
  "${kubectl[@]}" get secret "$1" >/dev/null 2>&1
}

create() {
  "${kubectl[@]}" create secret generic "$@" --dry-run=client -o yaml | "${kubectl[@]}" apply -f -
}

kubectl apply -f namespace.yaml
if exists swarmgrad-swarm-key; then
  echo "create-secrets: swarmgrad-swarm-key exists, kept"
else
  swarmgrad psk swarm.key
  create swarmgrad-swarm-key --from-file=swarm.key="$work/swarm.key"
fi
for who in seed coordinator; do
  if exists "swarmgrad-${who}-key"; then
    echo "create-secrets: swarmgrad-${who}-key exists, kept"
    continue
  fi
  peer_id="$(swarmgrad keygen "${who}.key")"
  create "swarmgrad-${who}-key" --from-file="${who}.key=$work/${who}.key" --from-literal=peer-id="$peer_id"
  echo "create-secrets: ${who} peer id ${peer_id}"
done
