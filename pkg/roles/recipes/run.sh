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
# The user Ferry logs in as keeps its systemd manager (linger): without
# it logind stops the manager 10 s after the user's last session and
# starts it again at the next login, whose session waits for that stop to
# end first (on a busy server, minutes: each of Ferry's hooks logs in).
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] && [ ! -e "/var/lib/systemd/linger/$SUDO_USER" ]; then
	loginctl enable-linger "$SUDO_USER" 2>/dev/null || { mkdir -p /var/lib/systemd/linger && touch "/var/lib/systemd/linger/$SUDO_USER"; }
	changed "linger $SUDO_USER"
fi
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
