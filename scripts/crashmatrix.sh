#!/usr/bin/env bash
# The whole crash matrix (docs/reliability.md): every kill point of every
# kind of deploy, one deploy SIGKILLed there and recovered each, and every
# point of a bake, killed in `ferry bake` (kind "bake") and in `ferry
# deploy`'s first step (kind "bake in deploy"), on machines: run as root,
# or its cells are skipped (FERRY_CRASH_BAKE_KIND=bake or =deploy runs one
# of the two). Prints the cells and their totals per kind; extra arguments
# go to `go test`. Takes about 10 minutes on 2 idle cores, and the bake's
# cells about 15 more for "bake" (machines boot in each) and 18 for "bake
# in deploy".
set -euo pipefail
cd "$(dirname "$0")/.."
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
FERRY_CRASH_MATRIX=all FERRY_CRASH_REPORT="$report" \
  go test -count=1 -timeout 90m -run '^TestCrashMatrix(Bake)?$' "$@" ./e2e || status=$?
sort "$report"
echo
awk -F'\t' '{ n[$1]++; if ($4 == "pass") p[$1]++; o[$1 "\t" $3]++ }
  END {
    for (k in n) printf "%s: %d of %d pass\n", k, p[k], n[k]
    for (k in o) { split(k, a, "\t"); printf "  %s ended %s: %d\n", a[1], (a[2] == "" ? "(no outcome)" : a[2]), o[k] }
  }' "$report" | sort
exit $status
