#!/usr/bin/env bash
# Runs every fuzz target of Ferry's parsers of outside input for a bounded
# time each (FUZZTIME, default 2s): the config, webhook requests, SSH
# signatures and allowed_signers, known_hosts, deploy notes, the journal,
# plan JSON and secrets files. Their seed corpora (testdata/fuzz) also run
# as ordinary tests with `go test`. A crash fails the run and leaves the
# input in the package's testdata/fuzz/<target>/ to commit with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-2s}
targets=(
  ./pkg/config:FuzzParse
  ./pkg/watch:FuzzWebhook
  ./pkg/watch:FuzzAllowedSigners
  ./pkg/watch:FuzzSSHSignature
  ./pkg/remote:FuzzKnownHosts
  ./pkg/status:FuzzParseNote
  ./pkg/secrets:FuzzParse
  ./pkg/execute:FuzzJournalLoad
  ./pkg/plan:FuzzPlanJSON
)
start=$SECONDS
for t in "${targets[@]}"; do
  pkg=${t%%:*} name=${t#*:}
  echo "fuzz $pkg $name for $fuzztime"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done
echo "fuzzing took $((SECONDS - start)) s"
