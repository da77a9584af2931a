#!/usr/bin/env bash
# Ferry's test command: installs what the tests need, then runs every test
# with the race detector. Extra arguments go to `go test` before the package list (e.g. -run Foo).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
bash scripts/install-npm-test-deps.sh
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
go vet -tags ferryfault ./internal/faultpoint ./pkg/cloud ./pkg/execute
# Every parser of outside input, fuzzed with 5000 inputs each (9 targets; see the script).
bash scripts/fuzz.sh
export FERRY_TEST_ARTIFACTS="${FERRY_TEST_ARTIFACTS:-$PWD/test-artifacts}" # screenshots of the dashboard's browser test (docs/ui.md)
exec go test -race -count=1 -timeout 20m "$@" ./...
