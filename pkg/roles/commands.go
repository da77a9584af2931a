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
// starts celery again. Roles without an entry run nothing.
func Defaults() map[Role]Commands {
	return map[Role]Commands{
		Web: {
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
			Deploy: {
				"sudo systemctl stop celery",
				"cd /srv/app/releases/{{.Commit}} && sudo -u app ./env/bin/python manage.py migrate --noinput",
				"cd /srv/app/releases/{{.Commit}} && sudo -u app env STATIC_ROOT=/srv/app/static/{{.Commit}} ./env/bin/python manage.py collectstatic --noinput",
				"sudo systemctl start celery",
			},
		},
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
