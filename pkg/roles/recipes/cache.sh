# cache: Redis (the app's cache and sessions) on the private address,
# with a password.
require FERRY_ADDRESS CACHE_PASSWORD
ensure_packages redis-server
put_file "$(file redis/ferry.conf)" /etc/redis/ferry.conf 0640 redis:redis redis-server
put_content /etc/redis/ferry-secret.conf 0640 redis:redis redis-server <<CONF
requirepass $CACHE_PASSWORD
CONF
# Last, so that its settings win over Debian's.
if ! grep -qx 'include /etc/redis/ferry.conf' /etc/redis/redis.conf; then
	echo 'include /etc/redis/ferry.conf' >>/etc/redis/redis.conf
	changed "/etc/redis/redis.conf includes ferry.conf"
	want_restart redis-server
fi
ensure_service redis-server
