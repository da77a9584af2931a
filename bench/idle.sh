#!/usr/bin/env bash
# Measures the idle agent: `ferry run` watching one repository with N
# environments, all in sync, at default intervals (see bench/idlebench).
# Usage: bench/idle.sh [-n 1,10,50] [-duration 3m] [-remote git-daemon|file]
#                      [-ferry BINARY] [-sim BINARY] [-size N] [-keep] [-json]
# Without -ferry, the agent is built from this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o /tmp/ferry-idlebench ./bench/idlebench
args=("$@")
if [[ " $* " != *" -ferry "* && " $* " != *" -ferry="* && " $* " != *" --ferry"* ]]; then
	go build -o /tmp/ferry-idlebench-agent ./cmd/agent
	args=(-ferry /tmp/ferry-idlebench-agent "${args[@]}")
fi
exec /tmp/ferry-idlebench "${args[@]}"
