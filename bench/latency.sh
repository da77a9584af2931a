#!/usr/bin/env bash
# Measures push-to-deploy latency: `git push` returning → the deploy's
# first AWS change, with a webhook and with polling every second and at
# the default (see bench/latency and docs/benchmarks.md).
# Usage: bench/latency.sh [-modes webhook,poll-1s,poll-default] [-pushes 100]
#                         [-default-pushes 5] [-ferry BINARY] [-seed N] [-keep] [-json]
# Without -ferry, ferry is built from a clean snapshot of HEAD (git archive),
# so uncommitted changes in the working tree are not measured.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o /tmp/ferry-latency ./bench/latency
args=("$@")
if [[ " $* " != *" -ferry "* && " $* " != *" -ferry="* && " $* " != *" --ferry"* ]]; then
	src=$(mktemp -d /tmp/ferry-latency-src.XXXXXX)
	trap 'rm -rf "$src"' EXIT
	git archive HEAD | tar -x -C "$src"
	(cd "$src" && go build -o /tmp/ferry-latency-agent ./cmd/agent)
	args=(-ferry /tmp/ferry-latency-agent "${args[@]}")
fi
/tmp/ferry-latency "${args[@]}"
