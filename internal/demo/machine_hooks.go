package demo

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// machineHooks are the demo's hooks on machines, run over SSH for real:
// the upgrade page is a file nginx looks for, the worker's deploy step
// records the migration and makes the static directory.
type machineHooks struct {
	w   *machineWorld
	say func(format string, args ...any)
}

var _ execute.Hooks = (*machineHooks)(nil)

// hookCommands are the shell commands each hook runs on its hosts as
// admin (sudo for root's files), with SHORT the short commit.
var hookCommands = map[roles.Hook]string{
	roles.UpgradePageOn:  "sudo touch /var/www/upgrade/on",
	roles.UpgradePageOff: "sudo rm -f /var/www/upgrade/on",
	roles.Deploy:         "sudo install -d /srv/app/static/SHORT && echo 'manage.py migrate: SHORT' | sudo tee -a /srv/app/migrations.log >/dev/null",
}

func (h *machineHooks) RunHook(ctx context.Context, run execute.HookRun) error {
	command, ok := hookCommands[run.Hook]
	if !ok {
		return nil
	}
	hosts := make([]hostAddr, len(run.Hosts))
	addrs := make([]string, len(run.Hosts))
	for i, host := range run.Hosts {
		hosts[i], addrs[i] = hostAddr{host.InstanceID, host.Address}, host.Address
	}
	if err := h.w.onAll(ctx, hosts, strings.ReplaceAll(command, "SHORT", run.Commit.Short())); err != nil {
		return fmt.Errorf("%s: %w", run.Hook, err)
	}
	switch run.Hook {
	case roles.UpgradePageOn:
		h.say("    [%s] \"upgrade in progress\" page up on %d web servers (old and new), over ssh admin@%s", run.Env, len(hosts), strings.Join(addrs, ","))
	case roles.UpgradePageOff:
		h.say("    [%s] upgrade page down on %d web servers, over ssh", run.Env, len(hosts))
	case roles.Deploy:
		h.say("    [%s] worker deploy step over ssh admin@%s: manage.py migrate; /srv/app/static/%s", run.Env, strings.Join(addrs, ","), run.Commit.Short())
	}
	return nil
}

var artifactPath = regexp.MustCompile(`^/([0-9a-f]{40})/([A-Za-z0-9._/-]+)$`)

// artifacts serves the files of every commit of the demo's remote at
// /COMMIT/PATH, for the machines' user data to fetch, as instances fetch a
// release from an artifact bucket.
func (s *shop) artifacts() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := artifactPath.FindStringSubmatch(r.URL.Path)
		if m == nil || strings.Contains(m[2], "..") {
			http.NotFound(w, r)
			return
		}
		body := s.file(m[1], m[2])
		if body == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(body))
	})
}
