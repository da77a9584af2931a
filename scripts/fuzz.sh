#!/usr/bin/env bash
# Runs every fuzz target of Ferry's parsers of outside input for a bounded
# number of inputs each (FUZZTIME, default 5000x; `go test -fuzztime` also
# takes a duration such as 30s, but Go 1.26's fuzz coordinator can then fail a
# target with a bare "context deadline exceeded" at the deadline on a busy
# machine, go.dev/issue/75804, fixed in Go 1.27; a count has no deadline): the config, webhook requests, SSH
# and OpenPGP signatures, allowed_signers, known_hosts, deploy notes, the journal,
# plan JSON and secrets files; smart HTTP ref advertisements; the tag names a
# remote lists, against a tag rule; lock leases; the
# dashboard's actions; forges' error
# answers to a commit status; the JSON reader under every state file
# (its errors' positions); and the state files
# Ferry reads back after a crash (watch state, control files, unpushed
# notes, secrets push record, bake journal, env create journal). Their seed
# corpora (testdata/fuzz and testdata/<kind>) also run as ordinary tests
# with `go test`. A crash fails the run and leaves the
# input in the package's testdata/fuzz/<target>/ to commit with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-5000x}
targets=(
  ./pkg/config:FuzzParse
  ./pkg/watch:FuzzWebhook
  ./pkg/watch:FuzzAllowedSigners
  ./pkg/watch:FuzzSSHSignature
  ./pkg/watch:FuzzOpenPGPSignature
  ./pkg/remote:FuzzKnownHosts
  ./pkg/status:FuzzParseNote
  ./pkg/secrets:FuzzParse
  ./pkg/execute:FuzzJournalLoad
  ./pkg/plan:FuzzPlanJSON
  ./pkg/watch:FuzzWatchState
  ./pkg/watch:FuzzAdvertFilter
  ./pkg/watch:FuzzMatchTags
  ./pkg/lock:FuzzParseLease
  ./pkg/agent:FuzzControlFiles
  ./pkg/agent:FuzzPendingNotes
  ./pkg/agent:FuzzSecretsRecord
  ./pkg/agent:FuzzAct
  ./pkg/bake:FuzzRecordLoad
  ./pkg/envbuild:FuzzCreateJournal
  ./pkg/ui:FuzzActions
  ./pkg/status/forge:FuzzErrorAnswer
  ./internal/jsonfile:FuzzUnmarshal
)
start=$SECONDS
for t in "${targets[@]}"; do
  pkg=${t%%:*} name=${t#*:}
  echo "fuzz $pkg $name for $fuzztime"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done
echo "fuzzing took $((SECONDS - start)) s"
