#!/usr/bin/env bash
# The local cluster (docker-compose.yml): `pnpm cluster` stages the image context, builds the image and starts the
# seed, the peers, Prometheus and Grafana; `pnpm cluster:down` stops and removes them. Arguments after `up` go to
# `compose up` (for example `--scale peer=5`). SWARMGRAD_MODE=fl adds the coordinator (deploy/compose/fl.yml);
# COMPOSE_FILE, when set, names the compose files instead. Uses `docker compose` where the plugin is installed,
# else `docker-compose`. The swarm is private: before the first `up` the image writes, once, a swarm key and the
# seed's and the coordinator's identities into deploy/compose/secrets/ (ignored by git), see make_secrets.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: pnpm cluster [compose up options and services] | pnpm cluster:down" >&2
  exit 2
}
[ $# -ge 1 ] || usage
command="$1"
shift

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "cluster: neither \`docker compose\` nor \`docker-compose\` is installed (Docker with its compose plugin is needed)" >&2
  exit 1
fi

files="${COMPOSE_FILE:-docker-compose.yml}"
if [ "${SWARMGRAD_MODE:-}" = fl ] && [[ ":${files}:" != *":deploy/compose/fl.yml:"* ]]; then
  files="${files}:deploy/compose/fl.yml"
fi
export COMPOSE_FILE="${files}"

secrets=deploy/compose/secrets
peer_ids="${secrets}/peer-ids.env"

# Until the keys exist the peer ids are unknown, and compose refuses to read docker-compose.yml without them: the
# commands that run before (build, keygen) or without them (down) get a placeholder.
without_ids() {
  SWARMGRAD_SEED_PEER_ID="${SWARMGRAD_SEED_PEER_ID:-none}" \
    SWARMGRAD_COORDINATOR_PEER_ID="${SWARMGRAD_COORDINATOR_PEER_ID:-none}" "${compose[@]}" "$@"
}

# Once: the swarm key (swarm.key) every swarm container mounts, and the identities of the seed (seed.key) and the
# coordinator (coordinator.key), written by the image's own `swarmgrad psk` and `swarmgrad keygen` (service keygen,
# run as root without a network) and handed to the image's user, mode 0600. Their peer ids go to peer-ids.env, which
# every later command reads; removing the folder makes new keys at the next `up`.
make_secrets() {
  [ -f "$peer_ids" ] && return
  if compgen -G "${secrets}/*.key" >/dev/null; then
    echo "cluster: ${secrets} holds keys but no peer-ids.env; remove the folder to generate new keys" >&2
    exit 1
  fi
  mkdir -p "$secrets"
  chmod 0700 "$secrets"
  local ids
  # shellcheck disable=SC2016 # expanded by the container's shell
  ids="$(without_ids run --rm -T keygen '
    swarmgrad="node /usr/local/bin/swarmgrad"
    $swarmgrad psk --out /secrets/swarm.key
    seed="$($swarmgrad keygen --out /secrets/seed.key)"
    coordinator="$($swarmgrad keygen --out /secrets/coordinator.key)"
    chown swarmgrad:swarmgrad /secrets/swarm.key /secrets/seed.key /secrets/coordinator.key
    printf "SWARMGRAD_SEED_PEER_ID=%s\nSWARMGRAD_COORDINATOR_PEER_ID=%s\n" "$seed" "$coordinator"')"
  if ! grep -Eq '^SWARMGRAD_COORDINATOR_PEER_ID=12D3KooW[1-9A-Za-z]+$' <<<"$ids"; then
    echo "cluster: generating the keys in ${secrets} failed:" >&2
    echo "$ids" >&2
    exit 1
  fi
  printf '# peer ids of the keys beside this file, written by scripts/cluster.sh\n%s\n' "$ids" >"$peer_ids"
  echo "cluster: wrote a new swarm key and the seed's and the coordinator's identities to ${secrets}"
}

load_ids() {
  set -a
  # shellcheck source=/dev/null
  . "$peer_ids"
  set +a
}

case "$command" in
  up)
    bash deploy/docker/prepare-context.sh
    without_ids build
    make_secrets
    load_ids
    "${compose[@]}" up -d "$@"
    echo "cluster up (${COMPOSE_FILE}); Prometheus on http://127.0.0.1:${SWARMGRAD_PROMETHEUS_PORT:-9090}," \
      "Grafana on http://127.0.0.1:${SWARMGRAD_GRAFANA_PORT:-3000}; stop it with \`pnpm cluster:down\`"
    ;;
  down)
    if [ -f "$peer_ids" ]; then load_ids; fi
    without_ids down --remove-orphans "$@"
    ;;
  *) usage ;;
esac
