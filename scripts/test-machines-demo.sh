#!/usr/bin/env bash
# Plays `ferry demo --machines` as a test (TestDemoMachines, about five
# minutes with the stack image cached, as root): the README's test command
# leaves it out to stay within CI's time, as the env create machine test
# takes the same path (env create, a serial and a full deploy on the stack).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
FERRY_TEST_DEMO_MACHINES=1 exec go test -race -count=1 -timeout 30m -run '^TestDemoMachines$' "$@" ./internal/demo/
