#!/usr/bin/env bash
# `pnpm test`: every check CI runs, in order. The README runs it as
#   npx -y -p node@22.23.3 -p pnpm@10.34.8 -c 'pnpm install && pnpm test'
# and that npx leaves its own settings in the environment (npm_config_package, npm_config_call), which any npx started
# below (the docker tests run the README's cluster commands, the oldest-Node.js run fetches that Node.js) would take as
# its own and then run the wrong command: they are dropped here first.
set -euo pipefail
unset npm_config_package npm_config_call
cd "$(dirname "$0")/.."

bash scripts/test-prereqs.sh
pnpm --filter @swarmgrad/protocol gen:check
tsc -b
node packages/cli/scripts/bundle.mjs
tsc -p tsconfig.tests.json
biome check .
knip
# the quick run on the oldest supported Node.js before the long one: a failure there shows in minutes
bash scripts/test-oldest-node.sh
vitest run
