#!/usr/bin/env bash
# go test -exec wrapper (scripts/test.sh): runs one test binary and appends
# when it started and ended, and its package's directory, to
# $FERRY_TEST_ARTIFACTS/timeline (seconds since test.sh started, from
# $FERRY_TEST_START), to see which packages hold CI up. The test binary's
# output, exit status and signals are its own.
start=$(date +%s)
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
wait "$child"
rc=$?
if [ "$rc" -gt 128 ] && kill -0 "$child" 2>/dev/null; then
  wait "$child"
  rc=$?
fi
if [ -n "${FERRY_TEST_ARTIFACTS:-}" ]; then
  base=${FERRY_TEST_START:-$start}
  printf '%5d s -> %5d s (%4d s) exit %d %s\n' $((start - base)) $(($(date +%s) - base)) $(($(date +%s) - start)) "$rc" "${PWD#"$FERRY_TEST_ROOT"/}" >>"$FERRY_TEST_ARTIFACTS/timeline"
fi
exit "$rc"
