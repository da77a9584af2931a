#!/usr/bin/env bash
# Benchmarks Ferry's git side against the git CLI (see docs/benchmarks.md).
# Usage: bench/git.sh [-commits N] [-runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o /tmp/ferry-gitbench ./bench/gitbench
exec /tmp/ferry-gitbench "$@"
