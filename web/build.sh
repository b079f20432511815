#!/usr/bin/env bash
# build.sh — vendors MapLibre GL JS for the map page from the npm registry, at the version
# package-lock.json pins, into web/static/vendor/ (embedded in the binary by package web).
#
# The vendored files are committed, so a clean clone builds the binary (and the Docker image)
# without Node. This script is how they are made and checked: run.sh and test.sh call it; it
# installs node_modules with `npm ci` (cached by npm in SIEVE_CACHE_DIR) when the lockfile is
# newer than them, copies the dist files, and fails under CI when the committed files differ
# from the lockfile's (someone bumped the lock without re-vendoring). Without Node it checks
# nothing and says so: the committed files are used as they are.
set -euo pipefail
WEB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${SIEVE_CACHE_DIR:-$HOME/.cache/sieve}/npm"
FILES=(maplibre-gl.js maplibre-gl.css LICENSE.txt)
cd "$WEB"
if ! command -v npm >/dev/null; then
  echo "[web] npm not found: using the committed static/vendor files" >&2
  exit 0
fi
if [ ! -d node_modules/maplibre-gl ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --cache "$CACHE" --prefer-offline >/dev/null
fi
changed=0
for f in "${FILES[@]}"; do
  if ! cmp -s "node_modules/maplibre-gl/dist/$f" "static/vendor/$f"; then
    changed=1
    cp "node_modules/maplibre-gl/dist/$f" "static/vendor/$f"
  fi
done
if [ "$changed" = 1 ]; then
  if [ -n "${CI:-}" ]; then
    echo "[web] static/vendor differs from package-lock.json: run web/build.sh and commit static/vendor" >&2
    exit 1
  fi
  echo "[web] static/vendor updated from package-lock.json (commit it)" >&2
fi
