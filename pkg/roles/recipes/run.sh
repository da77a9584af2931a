#!/bin/sh
# run.sh ROLE...: makes this server each of the roles, one recipe after the
# other, then says what changed. Ferry uploads this directory to
# /var/lib/ferry/recipe and runs it as root; params.sh holds the
# non-secret parameters, the environment the secrets.
set -eu
umask 022
FERRY_RECIPE=$(cd "$(dirname "$0")" && pwd)
export FERRY_RECIPE
. "$FERRY_RECIPE/params.sh"
. "$FERRY_RECIPE/lib.sh"
for role in "$@"; do
	echo "recipe $role"
	. "$FERRY_RECIPE/$role.sh"
done
# An image's builder: the roles' own services (role_units), which
# ferry-role.service starts at boot for the instance's role alone.
if [ "${FERRY_ACTION:-}" = image ]; then
	touch "$FERRY_TMP/image-roles"
	put_file "$FERRY_TMP/image-roles" /etc/ferry/image-roles 0644 root:root
else
	ensure_absent /etc/ferry/image-roles
fi
rm -rf "$FERRY_TMP"
if [ "$FERRY_CHANGES" -eq 0 ]; then
	echo "recipe done: no change"
else
	echo "recipe done: $FERRY_CHANGES changes"
fi
