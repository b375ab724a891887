#!/usr/bin/env bash
# Rehearses CI as a fresh machine would run it: clones the committed main (or the commit given as $1) into a new
# temporary folder and runs .ci/run there, as CI does (CI=true, no standard input), with HOME, TMPDIR, the npm and npx
# caches, pnpm's store, cache and state, the Kubernetes schema models and the docker test's base-image cache all in
# empty folders of that temporary folder, so nothing from earlier work is reused. What it cannot empty are Debian
# packages already installed (the tests' prerequisites install them when missing, as on a fresh machine).
# Prints every line with the seconds since the start, and a summary at the end; exits with .ci/run's code.
#   bash scripts/ci-fresh.sh [commit]      keep the folder afterwards with SWARMGRAD_CI_FRESH_KEEP=1
set -euo pipefail
repo="$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"
commit="$(git -C "$repo" rev-parse --verify "${1:-HEAD}^{commit}")"
work="$(mktemp -d "${TMPDIR:-/tmp}/sg-ci-fresh.XXXXXX")"
cleanup() {
  if [ "${SWARMGRAD_CI_FRESH_KEEP:-0}" = 1 ]; then echo "kept ${work}"; else rm -rf "${work}"; fi
}
trap cleanup EXIT
mkdir -p "${work}"/{home,tmp,cache,data,state,config,npm-cache}
git clone --quiet --no-local "${repo}" "${work}/repo"
git -C "${work}/repo" checkout --quiet --detach "${commit}"
log="${work}/ci.log"
echo "ci-fresh: $(git -C "${work}/repo" log -1 --format='%h %s' | cut -c1-100) in ${work}/repo"

start=${SECONDS}
set +e
(
  cd "${work}/repo"
  env HOME="${work}/home" TMPDIR="${work}/tmp" \
    XDG_CACHE_HOME="${work}/cache" XDG_DATA_HOME="${work}/data" XDG_STATE_HOME="${work}/state" \
    XDG_CONFIG_HOME="${work}/config" npm_config_cache="${work}/npm-cache" \
    SWARMGRAD_K8S_MODELS_DIR="${work}/k8s-models/node_modules" \
    CI=true bash .ci/run </dev/null 2>&1
) | while IFS= read -r line; do printf '[%5ds] %s\n' $((SECONDS - start)) "${line}"; done | tee "${log}"
code=${PIPESTATUS[0]}
set -e

plain="${work}/ci.plain.log"
sed -E 's/\x1b\[[0-9;]*m//g' "${log}" >"${plain}"
echo
echo "ci-fresh summary (exit ${code}, $((SECONDS - start)) s in all):"
grep -E 'Done in [0-9.]+s|^\[ *[0-9]+s\] +(Test Files|Tests|Duration) |docker stage timings|unit tests on Node.js|ERR_PNPM|FAIL ' \
  "${plain}" || true
# where each vitest project ended: the seconds of the last file result it printed (the unit project once more on the
# oldest supported Node.js, which runs first: its run ends where the next vitest run starts)
awk '/unit tests on Node.js/ { other = " on the oldest Node.js"; runs = 0 }
     other != "" && / RUN / { if (++runs == 2) other = "" }
     match($0, /^\[ *[0-9]+s\] +(✓|×) +(unit|swarm|process|docker) /) {
       t = $0; sub(/^\[ */, "", t); sub(/s\].*/, "", t)
       p = $0; sub(/^\[ *[0-9]+s\] +(✓|×) +/, "", p); sub(/ .*/, "", p); p = p other
       if (!(p in last)) order[++n] = p
       last[p] = t
     }
     END { for (i = 1; i <= n; i++) printf "  %-28s last file done at %5ds\n", order[i], last[order[i]] }' "${plain}"
exit "${code}"
