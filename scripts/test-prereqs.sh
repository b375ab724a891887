#!/usr/bin/env bash
# What the tests need beyond node_modules, installed when missing. `pnpm test` runs this first, so the README's test
# line works on a fresh Debian machine with only Node.js and npm; CI runs the same line.
#   dataset-fashion-mnist                         the real data set the loaders and benchmarks read
#   docker.io docker-compose debootstrap prometheus   the docker test: its own engine, locally built images, a real Prometheus
#   systemd cloud-init                            the deploy recipe checks (systemd-analyze, cloud-init schema; promtool)
# plus the Kubernetes JSON schemas for the manifest check, an npm tool kept outside the workspace and its lockfile.
set -euo pipefail

apt_packages=(dataset-fashion-mnist docker.io docker-compose debootstrap prometheus systemd cloud-init)
# the deploy test reads the models from SWARMGRAD_K8S_MODELS_DIR (a node_modules folder); installed with that prefix
k8s_models="$(dirname "${SWARMGRAD_K8S_MODELS_DIR:-/opt/swarmgrad-ci/node_modules}")"

missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
need_models=0
[ -d "$k8s_models/node_modules/@kubernetes-models/prometheus-operator" ] || need_models=1

if [ ${#missing[@]} -eq 0 ] && [ $need_models -eq 0 ]; then exit 0; fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "swarmgrad tests need, as root on Debian:" >&2
  [ ${#missing[@]} -gt 0 ] && echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  [ $need_models -eq 1 ] && echo "  npm install --prefix $k8s_models kubernetes-models@5.1.0 @kubernetes-models/prometheus-operator@6.0.0" >&2
  echo "then run the tests again (pnpm exec vitest run --project unit runs the unit tests alone)." >&2
  exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing test prerequisites: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ $need_models -eq 1 ]; then
  npm install --prefix "$k8s_models" --no-audit --no-fund --loglevel=error \
    kubernetes-models@5.1.0 @kubernetes-models/prometheus-operator@6.0.0
fi
