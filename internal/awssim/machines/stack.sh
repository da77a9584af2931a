#!/bin/sh
# Runs inside the tree after customize.sh (chroot, private mount namespace)
# and installs every Debian package of Ferry's server roles (pkg/roles), so
# that machines, which cannot reach a mirror, have what the role recipes
# would download on EC2. Nothing it installs runs at boot: a role's recipe
# enables what the role needs, so a web machine never starts PostgreSQL.
# Its text is part of the stack recipe's key: any edit rebuilds the image.
set -eu
mount -t proc proc /proc
trap 'umount /proc' EXIT

# No daemon starts in the chroot (it shares the build host's network).
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d

enabled() { systemctl list-unit-files --state=enabled --no-legend --no-pager | awk '{print $1}' | sort; }
enabled >/tmp/enabled.before

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# The roles' packages, as pkg/roles' recipes install them on EC2.
apt-get install -y -q --no-install-recommends \
	nginx-light ssl-cert gunicorn \
	python3-django python3-celery python3-psycopg2 python3-redis python3-django-redis \
	redis-server rabbitmq-server postgresql pgbouncer stunnel4

# Disable what the packages enabled, and nginx, which the base enables.
enabled >/tmp/enabled.after
comm -13 /tmp/enabled.before /tmp/enabled.after >/tmp/enabled.new
echo nginx.service >>/tmp/enabled.new
while read -r unit; do
	systemctl disable "$unit"
done </tmp/enabled.new
echo "disabled: $(tr '\n' ' ' </tmp/enabled.new)"
rm -f /tmp/enabled.before /tmp/enabled.after /tmp/enabled.new /usr/sbin/policy-rc.d

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/*.log
