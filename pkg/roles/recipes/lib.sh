# Helpers of Ferry's role recipes, sourced by run.sh. Every helper changes
# something only when it differs from what the recipe wants, and says so
# on a line "changed: ..."; a run that changes nothing says "no change".
# Secrets arrive in the environment (DB_PASSWORD, DJANGO_SECRET_KEY, ...),
# never on a command line, and are never printed.

FERRY_CHANGES=0
FERRY_RESTART=" "
FERRY_TMP=$FERRY_RECIPE/tmp
mkdir -p "$FERRY_TMP"

changed() {
	FERRY_CHANGES=$((FERRY_CHANGES + 1))
	echo "changed: $*"
}

# want_restart SERVICE...: restart (or reload) these at ensure_service.
want_restart() {
	for s in "$@"; do
		case "$FERRY_RESTART" in *" $s "*) ;; *) FERRY_RESTART="$FERRY_RESTART$s " ;; esac
	done
}

restart_wanted() {
	case "$FERRY_RESTART" in *" $1 "*) return 0 ;; esac
	return 1
}

# ensure_packages PACKAGE...: installs those dpkg does not have, and only
# those (apt-get update first: on EC2 this reaches the Debian mirror).
ensure_packages() {
	missing=""
	for p in "$@"; do
		if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
			missing="$missing $p"
		fi
	done
	[ -n "$missing" ] || return 0
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086 # a list of package names
	apt-get install -y -q --no-install-recommends $missing
	for p in $missing; do
		if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
			echo "package $p is not installed and apt-get could not install it" >&2
			exit 1
		fi
	done
	changed "installed$missing"
}

# ensure_user NAME HOME: a system user and group for a service.
ensure_user() {
	id -u "$1" >/dev/null 2>&1 && return 0
	adduser --system --group --home "$2" --no-create-home --shell /usr/sbin/nologin "$1" >/dev/null
	changed "user $1"
}

# ensure_dir PATH MODE OWNER:GROUP
ensure_dir() {
	if [ ! -d "$1" ]; then
		install -d -m "$2" -o "${3%:*}" -g "${3#*:}" "$1"
		changed "directory $1"
		return 0
	fi
	ensure_attrs "$@"
}

# ensure_attrs PATH MODE OWNER:GROUP
ensure_attrs() {
	if [ "$(stat -c '%a %U:%G' "$1")" != "$(printf '%o' "0$2") $3" ]; then
		chmod "$2" "$1"
		chown "$3" "$1"
		changed "mode and owner of $1"
	fi
}

# put_file SOURCE DEST MODE OWNER:GROUP [SERVICE...]: DEST gets SOURCE's
# content when it differs; the services are restarted at ensure_service
# when it did.
put_file() {
	src=$1 dest=$2 mode=$3 owner=$4
	shift 4
	if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
		if [ "$(stat -c '%a %U:%G' "$dest")" != "$(printf '%o' "0$mode") $owner" ]; then
			chmod "$mode" "$dest"
			chown "$owner" "$dest"
			changed "mode and owner of $dest"
		fi
		return 0
	fi
	install -D -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$src" "$dest"
	changed "$dest"
	case "$dest" in /etc/systemd/system/*) systemctl daemon-reload ;; esac
	want_restart "$@"
}

# put_content DEST MODE OWNER:GROUP [SERVICE...] <CONTENT: as put_file,
# from standard input (a here-document: secrets never reach a command line).
put_content() {
	tmp=$(mktemp "$FERRY_TMP/content.XXXXXX")
	cat >"$tmp"
	put_file "$tmp" "$@"
	rm -f "$tmp"
}

# put_secrets FILE [SERVICE...] -- NAME...: FILE (KEY=value lines, root's,
# 0600) has a line NAME=<the value of $NAME> for each NAME; its other lines
# are kept (it is also the file `ferry secrets fetch` and the
# secrets_changed hook write, with every secret of the environment). The
# values come from the environment (awk's ENVIRON), never an argument.
put_secrets() {
	file=$1
	shift
	services=""
	while [ "$1" != -- ]; do
		services="$services $1"
		shift
	done
	shift
	tmp=$(mktemp "$FERRY_TMP/secrets.XXXXXX")
	if [ -f "$file" ]; then cat "$file" >"$tmp"; fi
	for name in "$@"; do
		awk -v name="$name" '
			BEGIN { line = name "=" ENVIRON[name]; done = 0 }
			index($0, name "=") == 1 { if (!done) print line; done = 1; next }
			{ print }
			END { if (!done) print line }' "$tmp" >"$tmp.new"
		mv "$tmp.new" "$tmp"
	done
	ensure_dir "$(dirname "$file")" 0700 root:root
	# shellcheck disable=SC2086 # a list of service names
	put_file "$tmp" "$file" 0600 root:root $services
	rm -f "$tmp"
}

# file NAME: the path of a file the recipe ships (files/NAME).
file() { echo "$FERRY_RECIPE/files/$1"; }

# ensure_link TARGET LINK [SERVICE...]: LINK points at TARGET.
ensure_link() {
	[ "$(readlink "$2" 2>/dev/null)" = "$1" ] && return 0
	ln -sfn "$1" "$2"
	changed "link $2 -> $1"
	shift 2
	want_restart "$@"
}

# ensure_absent PATH [SERVICE...]
ensure_absent() {
	[ -e "$1" ] || [ -L "$1" ] || return 0
	rm -f "$1"
	changed "removed $1"
	shift
	want_restart "$@"
}

# ensure_service SERVICE [reload]: enabled, and running; restarted (or
# reloaded) when a file it reads changed in this run.
ensure_service() {
	if ! systemctl is-enabled --quiet "$1" 2>/dev/null; then
		systemctl enable --quiet "$1"
		changed "enabled $1"
	fi
	if ! systemctl is-active --quiet "$1"; then
		systemctl start "$1"
		changed "started $1"
	elif restart_wanted "$1"; then
		if [ "${2:-}" = reload ]; then
			systemctl reload-or-restart "$1"
			changed "reloaded $1"
		else
			systemctl restart "$1"
			changed "restarted $1"
		fi
	fi
}

# ensure_enabled SERVICE: enabled (it starts at boot), not started.
ensure_enabled() {
	if ! systemctl is-enabled --quiet "$1" 2>/dev/null; then
		systemctl enable --quiet "$1"
		changed "enabled $1"
	fi
}

# ensure_disabled SERVICE: not started at boot.
ensure_disabled() {
	if systemctl is-enabled --quiet "$1" 2>/dev/null; then
		systemctl disable --quiet "$1"
		changed "disabled $1"
	fi
}

# role_units ROLE SERVICE...: the services that are ROLE's own (web:
# nginx and gunicorn; worker: celery), not the app's shared ones. An
# image's instances each run one role: on its builder (action image) these
# stay disabled, and run.sh lists them in /etc/ferry/image-roles, from
# which ferry-role.service starts those of the instance's role at boot.
role_units() {
	echo "$*" >>"$FERRY_TMP/image-roles"
}

# ensure_role_service SERVICE [reload]: as ensure_service, but on an
# image's builder disabled: ferry-role.service starts it where the
# instance's role is its own.
ensure_role_service() {
	if [ "${FERRY_ACTION:-}" = image ]; then
		ensure_disabled "$1"
		return 0
	fi
	ensure_service "$@"
}

# ensure_app_service SERVICE: as ensure_role_service once a release is in
# /srv/app/current; before that, only enabled (it starts with the deploy
# that brings the first release).
ensure_app_service() {
	if [ -e /srv/app/current ] || [ "${FERRY_ACTION:-}" = image ]; then
		ensure_role_service "$1"
		return 0
	fi
	ensure_enabled "$1"
	echo "no release in /srv/app/current yet: $1 starts with the first one"
}

# wait_for WHAT SECONDS COMMAND...: polls COMMAND once a second.
wait_for() {
	what=$1 n=$2
	shift 2
	while ! "$@" >"$FERRY_TMP/wait_for.out" 2>&1; do
		n=$((n - 1))
		if [ "$n" -le 0 ]; then
			# The last try's own words say why (no secret: the commands
			# waited for take theirs in the environment).
			tail -n 5 "$FERRY_TMP/wait_for.out" >&2
			echo "timed out waiting for $what" >&2
			return 1
		fi
		sleep 1
	done
}

# require VAR...: each must be set (a parameter the role needs).
require() {
	for v in "$@"; do
		eval "val=\${$v:-}"
		if [ -z "$val" ]; then
			echo "recipe parameter $v is missing" >&2
			exit 2
		fi
	done
	val=
}
