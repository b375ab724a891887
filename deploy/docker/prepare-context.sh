#!/usr/bin/env bash
# Stages what the Dockerfile copies: the workspace built on this host and its production dependencies, laid out by
# `pnpm deploy` under deploy/docker/app. Runs offline from the pnpm store `pnpm install` filled; install scripts are
# skipped (tfjs-node's would download libtensorflow), so the image trains on the wasm backend.
set -euo pipefail
cd "$(dirname "$0")/../.."
pnpm_cmd=(pnpm)
if [ -n "${npm_execpath:-}" ] && [ -f "${npm_execpath}" ]; then pnpm_cmd=(node "${npm_execpath}"); fi
# the package whose production closure goes into the image, built with its references: the coordinator, which
# depends on the peer package, so the image holds both CLIs
package_dir="${SWARMGRAD_IMAGE_PACKAGE_DIR:-packages/cli}"
package_name="$(node -p "require('./${package_dir}/package.json').name")"
"${pnpm_cmd[@]}" exec tsc -b "${package_dir}"
rm -rf deploy/docker/app
"${pnpm_cmd[@]}" --filter "${package_name}" deploy --legacy --prod --offline --ignore-scripts deploy/docker/app >/dev/null
# the runtime needs JavaScript and wasm only: no source maps, type declarations, or tfjs-node, whose native library
# cannot be had here (the trainer falls back to the wasm backend and says so)
find deploy/docker/app -depth \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.tsbuildinfo' \) -delete
rm -rf deploy/docker/app/node_modules/.pnpm/@tensorflow+tfjs-node@* deploy/docker/app/node_modules/@tensorflow/tfjs-node
echo "staged $(du -sh deploy/docker/app | cut -f1) in deploy/docker/app"
