#!/usr/bin/env bash
# Installs the npm packages Ferry's tests read (never run): @octokit/openapi,
# GitHub's official OpenAPI description, which the pkg/status/forge contract
# tests validate every GitHub request against, and @octokit/openapi-webhooks,
# GitHub's webhook descriptions, which pkg/watch's webhook tests build their
# push events from.
# It runs `npm ci` from the committed lockfile, so the versions are pinned,
# and only when the lockfile changed since the last install: safe to run
# again. A missing npm is installed with apt-get when run as root on Debian;
# otherwise the contract tests skip locally and fail under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

dirs=(pkg/status/forge/testdata/openapi pkg/watch/testdata/webhooks)

have() { command -v "$1" >/dev/null 2>&1; }
if ! have npm; then
  if [ "$(id -u)" -eq 0 ] && have apt-get; then
    echo "install-npm-test-deps: installing npm" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends npm >/dev/null
  else
    echo "install-npm-test-deps: npm not found; install Node.js and npm (Debian: apt-get install npm)" >&2
    exit 1
  fi
fi

for dir in "${dirs[@]}"; do
  stamp="$dir/node_modules/.ferry-lock-sha256"
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    continue
  fi
  echo "install-npm-test-deps: npm ci in $dir" >&2
  # --ignore-scripts: the tests only read these packages' files.
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
done
