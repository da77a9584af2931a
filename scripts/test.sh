#!/usr/bin/env bash
# Ferry's test command: installs what the tests need, then runs every test
# with the race detector. Extra arguments go to `go test` before the package list (e.g. -run Foo).
set -euo pipefail
cd "$(dirname "$0")/.."

phase() { echo "test.sh: +${SECONDS} s: $*"; }
export FERRY_TEST_START=$(($(date +%s) - SECONDS)) FERRY_TEST_ROOT=$PWD # scripts/timed-exec.sh
phase "install what the tests need"
bash scripts/install-test-deps.sh
bash scripts/install-npm-test-deps.sh
export FERRY_TEST_ARTIFACTS="${FERRY_TEST_ARTIFACTS:-$PWD/test-artifacts}" # screenshots of the dashboard's browser test (docs/ui.md), logs of the steps below
mkdir -p "$FERRY_TEST_ARTIFACTS"
# Each build configuration compiles every dependency again (aws-sdk-go-v2's
# ec2 alone takes over a minute on two cores): the images' binary and the
# tests' own `go build`s of the ferry command (testutil.GoBuildEnv) build
# pure Go; vet builds as the tests do (-race, so with cgo) and shares
# their compiles; fuzzing instruments everything it builds, a third.
export CGO_ENABLED=0

# On a cold machine the machines' images (the base and the stack, about
# five minutes of debootstrap and apt) are built while the code compiles,
# instead of by the first machine test: `ferry sim --machines --stack`
# builds them into the shared cache (a build lock keeps the tests from
# building them twice) and exits. Its failure fails nothing: the tests then
# build them themselves, and say why they could not. The binary is built
# first, alone (two go commands at once would each compile the same
# dependencies).
images=""
if [ "$(id -u)" -eq 0 ] && command -v systemd-nspawn >/dev/null && { command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ]; }; then
  phase "build"
  go build -o "$FERRY_TEST_ARTIFACTS/ferry-images" ./cmd/agent
  phase "images (in the background)"
  { "$FERRY_TEST_ARTIFACTS/ferry-images" sim --machines --stack --listen 127.0.0.1:0 -- true && phase "images ready"; } >"$FERRY_TEST_ARTIFACTS/images.log" 2>&1 &
  images=$!
fi
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi
# The images come first: every machine test waits for them. The rest runs
# at a lower priority (nice 5), fuzzing at the lowest (nice 10) as it
# blocks nothing; with all of them at one priority the images took 12½
# minutes instead of about 4 on two cores.
phase "vet"
CGO_ENABLED=1 nice -n 5 go vet -race ./...
CGO_ENABLED=1 nice -n 5 go vet -race -tags ferryfault ./internal/faultpoint ./pkg/cloud ./pkg/execute ./pkg/bake
# The tests and fuzzing (every parser of outside input, a bounded count of
# inputs each; see scripts/fuzz.sh) run side by side, each whatever the
# other does: a fuzz failure must not hide the tests' results, nor a test
# failure the fuzzers'. Fuzzing's time is mostly compiling, which fits in
# the machine tests' long waits (boots, health checks) on two cores; its
# output shows once the tests are done. The exit status is the tests' when
# they failed, else the fuzzers'.
nice -n 10 bash scripts/fuzz.sh >"$FERRY_TEST_ARTIFACTS/fuzz.log" 2>&1 &
fuzzing=$!
tests=0
phase "tests and fuzzing"
# -p 4: go test runs at most -p programs at once, compilers and test
# binaries alike (by default as many as there are cores). The machine tests
# spend most of their minutes waiting on boots and health checks; with two
# slots on two cores, two of them held every compile behind them.
# Each test binary runs through scripts/timed-exec.sh, which notes when it
# ran in test-artifacts/timeline (shown below, the last to end last).
#
# go test compiles and starts the packages in the order they are named,
# -p at a time: named as ./..., the longest (the machine tests of
# pkg/agent and pkg/provision, 5-10 minutes each on a busy machine) came
# late in the alphabet and started last, after the images were long
# ready. They are named first, the longest first (test-artifacts/timeline
# of a run shows the durations), then the rest.
slow=(./pkg/agent ./pkg/provision ./cmd/agent ./e2e ./internal/awssim ./e2e/agent ./pkg/bake ./pkg/execute ./internal/awssim/machines)
mapfile -t rest < <(go list ./... | sed "s|^$(go list -m)|.|" | grep -vxF -f <(printf '%s\n' "${slow[@]}"))
: >"$FERRY_TEST_ARTIFACTS/timeline"
CGO_ENABLED=1 nice -n 5 go test -race -p 4 -count=1 -timeout 25m -exec "$PWD/scripts/timed-exec.sh" "$@" "${slow[@]}" "${rest[@]}" || tests=$?
phase "tests done; the packages that ended last:"
sort -k4,4n "$FERRY_TEST_ARTIFACTS/timeline" | tail -n 8
fuzz=0
wait "$fuzzing" || fuzz=$?
phase "fuzzing done"
cat "$FERRY_TEST_ARTIFACTS/fuzz.log"
if [ -n "$images" ] && wait "$images"; then
  tail -n 1 "$FERRY_TEST_ARTIFACTS/images.log"
elif [ -n "$images" ]; then
  echo "test.sh: building the machines' images ahead failed (the tests built them):" >&2
  tail -n 20 "$FERRY_TEST_ARTIFACTS/images.log" >&2
fi
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
