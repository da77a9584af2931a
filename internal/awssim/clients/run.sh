#!/bin/bash
# Runs the operator's sessions (operator-cli.sh with the AWS CLI,
# operator-boto3.py with boto3) against the simulator at $AWS_ENDPOINT_URL,
# in an environment of their own: no HOME, dotfiles or AWS config of the
# invoking user, fixed fake credentials and region, Debian's aws and
# python3 (apt-get install awscli python3-boto3).
#
#   ferry sim --listen 127.0.0.1:0 --boot-delay 100ms --second 10ms -- internal/awssim/clients/run.sh [cli|boto3]...
#
# WORK (default: a new temporary directory) holds the sessions' config
# files and key material.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${AWS_ENDPOINT_URL:?run this beside the simulator: ferry sim -- $0}"
work=${WORK:-$(mktemp -d)}
mkdir -p "$work/home"
cat >"$work/config" <<EOF
[default]
region = us-east-1
output = json
cli_pager =
EOF
cat >"$work/credentials" <<EOF
[default]
aws_access_key_id = AKIDSIMULATOR
aws_secret_access_key = simulator-not-a-secret
EOF
sessions=("$@")
[ ${#sessions[@]} -gt 0 ] || sessions=(cli boto3)
for s in "${sessions[@]}"; do
  case $s in
    cli) cmd=(/bin/bash --noprofile --norc "$here/operator-cli.sh") ;;
    boto3) cmd=(/usr/bin/python3 -I "$here/operator-boto3.py") ;;
    *) echo "run.sh: unknown session $s (cli, boto3)" >&2; exit 2 ;;
  esac
  echo "== $s" >&2
  # Debian bookworm's awscli (2.9) and botocore (1.29) predate
  # AWS_ENDPOINT_URL: the sessions pass it on themselves.
  env -i PATH=/usr/bin:/bin HOME="$work/home" LANG=C.UTF-8 TZ=UTC \
    AWS_CONFIG_FILE="$work/config" AWS_SHARED_CREDENTIALS_FILE="$work/credentials" \
    AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" AWS_EC2_METADATA_DISABLED=true \
    WORK="$work" KEEP_GOING="${KEEP_GOING:-}" "${cmd[@]}"
done
