#!/usr/bin/env bash
# Stages what the Dockerfile copies: the workspace built on this host and its production dependencies, laid out by
# `pnpm deploy` under deploy/docker/app. Needs `pnpm install` to have run. Packages come from the store that install
# filled; whatever the store cannot answer (on a fresh machine it holds the packages but not the registry's metadata
# that `pnpm deploy` asks for) is resolved from the registry. Install scripts are skipped (tfjs-node's would download
# libtensorflow), so the image trains on the wasm backend.
set -euo pipefail
cd "$(dirname "$0")/../.."

# pnpm: the one that runs this script (`pnpm cluster`), else the one on PATH, else the version package.json pins,
# through npx (a machine with only Node.js and npm has no pnpm on PATH)
if [[ "${npm_execpath:-}" == *pnpm* ]] && [ -f "${npm_execpath}" ]; then
  pnpm_cmd=(node "${npm_execpath}")
elif command -v pnpm >/dev/null 2>&1; then
  pnpm_cmd=(pnpm)
else
  pnpm_cmd=(npx -y "$(node -p "require('./package.json').packageManager")")
fi
if [ ! -d node_modules ]; then
  echo "prepare-context: no node_modules here; run \`npx -y $(node -p "require('./package.json').packageManager") install\` first" >&2
  exit 1
fi

# the package whose production closure goes into the image, built with its references: the cli, which depends on
# the peer and the coordinator packages, so the image runs both
package_dir="${SWARMGRAD_IMAGE_PACKAGE_DIR:-packages/cli}"
package_name="$(node -p "require('./${package_dir}/package.json').name")"

# each step's output is kept and shown only when it fails, so a failure names its cause; the context is staged
# beside the last one and replaces it only when complete, so a failed run leaves the last good one in place
log="$(mktemp)"
staging=deploy/docker/app.staging
trap 'rm -rf "$log" "$staging"' EXIT
step() {
  local what="$1"
  shift
  if ! "$@" >"$log" 2>&1; then
    echo "prepare-context: ${what} failed: $*" >&2
    cat "$log" >&2
    exit 1
  fi
}
step "build" "${pnpm_cmd[@]}" exec tsc -b "${package_dir}"
rm -rf "$staging"
step "pnpm deploy" "${pnpm_cmd[@]}" --filter "${package_name}" deploy --legacy --prod --prefer-offline \
  --ignore-scripts "$staging"
# the runtime needs JavaScript and wasm only: no source maps, type declarations, or tfjs-node, whose native library
# cannot be had here (the trainer falls back to the wasm backend and says so)
find "$staging" -depth \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.tsbuildinfo' \) -delete
rm -rf "$staging"/node_modules/.pnpm/@tensorflow+tfjs-node@* "$staging"/node_modules/@tensorflow/tfjs-node
# the command line in one file, as `pnpm build` makes it in a checkout, from the staged files (its list of inputs
# names them relative to the image's folder)
step "bundle" node "${package_dir}/scripts/bundle.mjs" "$staging/dist"
rm -rf deploy/docker/app
mv "$staging" deploy/docker/app
echo "staged $(du -sh deploy/docker/app | cut -f1) in deploy/docker/app"
