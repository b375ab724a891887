#!/usr/bin/env bash
# The local cluster (docker-compose.yml): `pnpm cluster` stages the image context, builds the image and starts the
# seed, the peers, Prometheus and Grafana; `pnpm cluster:down` stops and removes them. Arguments after `up` go to
# `compose up` (for example `--scale peer=5`). SWARMGRAD_MODE=fl adds the coordinator (deploy/compose/fl.yml);
# COMPOSE_FILE, when set, names the compose files instead. Uses `docker compose` where the plugin is installed,
# else `docker-compose`.
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

case "$command" in
  up)
    bash deploy/docker/prepare-context.sh
    "${compose[@]}" up -d --build "$@"
    echo "cluster up (${COMPOSE_FILE}); Prometheus on http://127.0.0.1:${SWARMGRAD_PROMETHEUS_PORT:-9090}," \
      "Grafana on http://127.0.0.1:${SWARMGRAD_GRAFANA_PORT:-3000}; stop it with \`pnpm cluster:down\`"
    ;;
  down)
    "${compose[@]}" down --remove-orphans "$@"
    ;;
  *) usage ;;
esac
