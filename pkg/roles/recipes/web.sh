# web: nginx on 80 and 443 (the snakeoil certificate, as the seed's
# balancer expects) in front of gunicorn, which serves the release in
# /srv/app/current on 127.0.0.1:8000. /healthcheck.html goes to the app in
# both page modes; /etc/nginx/ferry/mode.conf links to serving.conf or to
# upgrade-in-progress.conf (the default upgrade_page_on/off hooks switch it).
ensure_packages nginx-light ssl-cert curl
. "$FERRY_RECIPE/app.sh"

ensure_dir /etc/nginx/ferry 0755 root:root
put_file "$(file nginx/serving.conf)" /etc/nginx/ferry/serving.conf 0644 root:root nginx
put_file "$(file nginx/upgrade-in-progress.conf)" /etc/nginx/ferry/upgrade-in-progress.conf 0644 root:root nginx
# Set once: a recipe run during a full deploy leaves the page up.
if [ ! -e /etc/nginx/ferry/mode.conf ]; then
	ensure_link /etc/nginx/ferry/serving.conf /etc/nginx/ferry/mode.conf nginx
fi
ensure_dir /var/www/ferry 0755 root:root
put_file "$(file nginx/upgrade.html)" /var/www/ferry/upgrade.html 0644 root:root
put_file "$(file nginx/site.conf)" /etc/nginx/sites-available/ferry 0644 root:root nginx
ensure_link /etc/nginx/sites-available/ferry /etc/nginx/sites-enabled/ferry nginx
ensure_absent /etc/nginx/sites-enabled/default nginx
nginx -t -q
role_units web nginx gunicorn
ensure_role_service nginx reload

put_file "$(file systemd/gunicorn.service)" /etc/systemd/system/gunicorn.service 0644 root:root gunicorn
ensure_app_service gunicorn
