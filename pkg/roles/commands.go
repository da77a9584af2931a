package roles

import (
	"maps"
	"path"
)

// Commands maps each hook of a role to the shell commands it runs, in order.
// Commands may use the placeholders {{.Commit}} (full SHA), {{.ShortCommit}}
// and {{.Env}}; Render fills them in (see Vars), PlanHook says where each
// hook runs.
type Commands map[Hook][]string

// Defaults returns the commands each role runs by default, for servers the
// role recipes made (docs/roles.md) and the FabulAWS deployment the seeds
// describe: nginx on web servers serves a 503 "upgrade in progress" page
// for every path except /healthcheck.html, which stays 200 so the load
// balancers keep the instances; the worker stops celery, runs Django's
// migrate in the new commit's release directory with the app's settings and
// secrets (AppCommand), and starts celery again. A bake's build hook
// collects the static files into the release's own static/ directory (on
// a web server nginx serves /static/ from /srv/app/current/static, so every
// server serves its own version's media); the bake itself then points
// /srv/app/current at the release (FinishRelease). On secrets_changed, web servers and workers write the
// secrets they read on stdin to /etc/app/secrets.env (root's, mode 0600,
// replaced atomically) and restart the app's services that run there.
// Roles without an entry run nothing.
func Defaults() map[Role]Commands {
	return map[Role]Commands{
		Web: {
			SecretsChanged: append(writeSecrets("gunicorn"), waitHealthy),
			// In the release directory on the builder (pkg/bake), before
			// the app's user owns it: Django's settings need no secret for
			// collectstatic (examples/app/app/settings.py).
			Build: {"python3 manage.py collectstatic --noinput --verbosity 0"},
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
			// Where there is no worker group the step runs on a new web
			// instance, which has the release but no celery.service, or
			// one its role leaves disabled (an image baked for web and
			// worker): celery starts again only where it is enabled.
			Deploy: {
				"if systemctl cat celery.service >/dev/null 2>&1; then sudo systemctl stop celery; fi",
				AppCommand(ReleaseDir+"/{{.Commit}}", "manage.py migrate --noinput"),
				"if systemctl is-enabled --quiet celery.service 2>/dev/null; then sudo systemctl start celery; fi",
			},
		},
	}
}

// The app's directories on a web or worker server (the role recipes make
// them): each commit's code in ReleaseDir/<sha>, Current links to the one
// that runs.
const (
	ReleaseDir = "/srv/app/releases"
	Current    = "/srv/app/current"
)

// EnvFile holds the app's settings, no secret (the role recipes write it).
const EnvFile = "/etc/ferry/app.env"

// FinishRelease returns the shell lines, run as root after the build hooks,
// that make dir the release an image runs, whatever the hooks did: the
// app's user owns it (root where there is no such user), and Current
// points at it, so the image's gunicorn and celery start it at boot.
func FinishRelease(dir string) []string {
	return []string{
		`if id app >/dev/null 2>&1; then chown -R app:app ` + dir + `; else chown -R root:root ` + dir + `; fi`,
		`mkdir -p ` + path.Dir(Current),
		`ln -sfn ` + dir + ` ` + Current,
	}
}

// AppCommand is a shell command that runs python3 ARGS as the app's user
// in dir, with the environment the gunicorn and celery units have: EnvFile
// and SecretsFile, read by systemd as the units read them (the secrets
// file is root's alone; a shell's "." would also misread values systemd
// takes as written). Its output and exit status are the command's.
func AppCommand(dir, args string) string {
	return "sudo systemd-run --quiet --wait --pipe --collect --service-type=exec" +
		" -p User=app -p Group=app -p EnvironmentFile=" + EnvFile + " -p EnvironmentFile=" + SecretsFile +
		" -p WorkingDirectory=" + dir + " /usr/bin/python3 " + args
}

// SecretsFile is where the default secrets_changed hook writes the secrets
// on a server: the app's systemd units read it (EnvironmentFile=).
const SecretsFile = "/etc/app/secrets.env"

// writeSecrets is the default secrets_changed hook: stdin (KEY=value lines)
// into SecretsFile through a temporary file in the same directory, created
// 0600 by root and renamed over the old one, so the app never reads a
// half-written file; then a restart of PgBouncer, whose userlist is made
// from DB_PASSWORD in that file as it starts (the app connects through it
// with the new value), and of unit, where they run (try-restart leaves a
// stopped unit stopped).
func writeSecrets(unit string) []string {
	return []string{
		`sudo sh -c 'umask 077 && mkdir -p /etc/app && t=$(mktemp /etc/app/.secrets.env.XXXXXX) && cat > "$t" && chown root:root "$t" && chmod 0600 "$t" && mv -f "$t" ` + SecretsFile + `'`,
		restartIfThere("pgbouncer"),
		restartIfThere(unit),
	}
}

// waitHealthy ends the web servers' secrets_changed once the restarted
// app answers the balancer's health check again (nginx on 443, the app's
// /healthcheck.html), at most 60 s: Ferry hands the secrets to the web
// servers one at a time (pkg/agent), and the next restarts only once this
// one serves. A server whose gunicorn is not running is not waited for.
const waitHealthy = `if systemctl is-active --quiet gunicorn.service; then end=$(($(date +%s) + 60)); until curl -fsk -o /dev/null --max-time 2 https://127.0.0.1/healthcheck.html; do if [ "$(date +%s)" -ge "$end" ]; then echo "the app did not answer /healthcheck.html within 60 s of its restart" >&2; exit 1; fi; sleep 1; done; fi`

func restartIfThere(unit string) string {
	return `if systemctl cat ` + unit + `.service >/dev/null 2>&1; then sudo systemctl try-restart ` + unit + `.service; fi`
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
