package roles

import "maps"

// Commands maps each hook of a role to the shell commands it runs, in order.
// Commands may use the placeholders {{.Commit}} (full SHA), {{.ShortCommit}}
// and {{.Env}}; Render fills them in (see Vars), PlanHook says where each
// hook runs.
type Commands map[Hook][]string

// Defaults returns the commands each role runs by default, matching the
// FabulAWS deployment the seeds describe: nginx on web servers serves a 503
// "upgrade in progress" page for every path except /healthcheck.html, which
// stays 200 so the load balancers keep the instances; the worker stops
// celery, runs Django's migrate and collectstatic into a static directory of
// its own version (so old and new servers each serve their own media), and
// starts celery again. On secrets_changed, web servers and workers write the
// secrets they read on stdin to /etc/app/secrets.env (root's, mode 0600,
// replaced atomically) and restart the app's services that run there.
// Roles without an entry run nothing.
func Defaults() map[Role]Commands {
	return map[Role]Commands{
		Web: {
			SecretsChanged: writeSecrets("gunicorn"),
			UpgradePageOn: {
				"sudo ln -sfn /etc/nginx/ferry/upgrade-in-progress.conf /etc/nginx/ferry/mode.conf",
				"sudo nginx -t -q",
				"sudo systemctl reload nginx",
			},
			UpgradePageOff: {
				"sudo ln -sfn /etc/nginx/ferry/serving.conf /etc/nginx/ferry/mode.conf",
				"sudo nginx -t -q",
				"sudo systemctl reload nginx",
			},
		},
		Worker: {
			SecretsChanged: writeSecrets("celery"),
			Deploy: {
				"sudo systemctl stop celery",
				"cd /srv/app/releases/{{.Commit}} && sudo -u app ./env/bin/python manage.py migrate --noinput",
				"cd /srv/app/releases/{{.Commit}} && sudo -u app env STATIC_ROOT=/srv/app/static/{{.Commit}} ./env/bin/python manage.py collectstatic --noinput",
				"sudo systemctl start celery",
			},
		},
	}
}

// SecretsFile is where the default secrets_changed hook writes the secrets
// on a server: the app's systemd units read it (EnvironmentFile=).
const SecretsFile = "/etc/app/secrets.env"

// writeSecrets is the default secrets_changed hook: stdin (KEY=value lines)
// into SecretsFile through a temporary file in the same directory, created
// 0600 by root and renamed over the old one, so the app never reads a
// half-written file; then a restart of unit where it runs (try-restart
// leaves a stopped unit stopped).
func writeSecrets(unit string) []string {
	return []string{
		`sudo sh -c 'umask 077 && mkdir -p /etc/app && t=$(mktemp /etc/app/.secrets.env.XXXXXX) && cat > "$t" && chown root:root "$t" && chmod 0600 "$t" && mv -f "$t" ` + SecretsFile + `'`,
		`if systemctl cat ` + unit + `.service >/dev/null 2>&1; then sudo systemctl try-restart ` + unit + `.service; fi`,
	}
}

// Merge returns the commands of role after applying overrides: a hook named
// in overrides replaces the default list for that hook entirely (an empty
// list disables it); hooks not named keep their defaults.
func Merge(role Role, overrides Commands) Commands {
	out := Commands{}
	maps.Copy(out, Defaults()[role])
	maps.Copy(out, overrides)
	return out
}
