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
go vet -tags ferryfault ./internal/faultpoint ./pkg/cloud ./pkg/execute ./pkg/bake
export FERRY_TEST_ARTIFACTS="${FERRY_TEST_ARTIFACTS:-$PWD/test-artifacts}" # screenshots of the dashboard's browser test (docs/ui.md)
# The tests first, then fuzzing (every parser of outside input, a bounded
# count of inputs each; see scripts/fuzz.sh), each run whatever the other
# did: a fuzz failure must not hide the tests' results, nor a test failure
# the fuzzers'. The exit status is the tests' when they failed, else the
# fuzzers'.
tests=0
go test -race -count=1 -timeout 20m "$@" ./... || tests=$?
fuzz=0
bash scripts/fuzz.sh || fuzz=$?
if [ "$tests" -ne 0 ]; then
  echo "test.sh: go test failed (exit $tests)" >&2
fi
if [ "$fuzz" -ne 0 ]; then
  echo "test.sh: fuzzing failed (exit $fuzz)" >&2
fi
if [ "$tests" -ne 0 ]; then
  exit "$tests"
fi
exit "$fuzz"
