#!/usr/bin/env bash
# Measures deploys of one large web group behind a classic balancer and a
# target group: `ferry deploy` against `ferry sim` (see bench/biggroup and
# docs/benchmarks.md).
# Usage: bench/biggroup.sh [-sizes 4,50,200] [-methods full,serial] [-batch 20]
#                          [-ferry BINARY] [-second 20ms] [-poll 100ms] [-keep] [-json]
# Without -ferry, ferry is built from a clean snapshot of HEAD (git archive),
# so uncommitted changes in the working tree are not measured.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o /tmp/ferry-biggroup ./bench/biggroup
args=("$@")
if [[ " $* " != *" -ferry "* && " $* " != *" -ferry="* && " $* " != *" --ferry"* ]]; then
	src=$(mktemp -d /tmp/ferry-biggroup-src.XXXXXX)
	trap 'rm -rf "$src"' EXIT
	git archive HEAD | tar -x -C "$src"
	(cd "$src" && go build -o /tmp/ferry-biggroup-agent ./cmd/agent)
	args=(-ferry /tmp/ferry-biggroup-agent "${args[@]}")
fi
/tmp/ferry-biggroup "${args[@]}"
