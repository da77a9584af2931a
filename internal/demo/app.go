package demo

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// shop is the example app every simulated instance runs: it serves the
// files of the commit it was launched for (the ferry:commit tag the group
// propagates), reading them from the demo's git remote, as an image built
// from that commit would. /healthcheck.html is healthy when the commit's
// healthcheck.html says OK; every other page names the commit and the
// instance, or shows the "upgrade in progress" page while it is up.
type shop struct {
	remote string // bare repository

	mu      sync.Mutex
	files   map[string]string // commit:path → content ("" when absent)
	upgrade map[string]bool   // instance id → page up
}

func newShop(remote string) *shop {
	return &shop{remote: remote, files: map[string]string{}, upgrade: map[string]bool{}}
}

func (s *shop) file(commit, path string) string {
	key := commit + ":" + path
	s.mu.Lock()
	v, ok := s.files[key]
	s.mu.Unlock()
	if ok {
		return v
	}
	out, err := exec.Command("git", "--git-dir", s.remote, "show", key).Output()
	if err != nil {
		out = nil
	}
	s.mu.Lock()
	s.files[key] = string(out)
	s.mu.Unlock()
	return string(out)
}

func (s *shop) pageUp(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.upgrade[id]
}

func (s *shop) setPage(ids []string, up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.upgrade[id] = up
	}
}

// app is the awssim.InstanceApp of every instance.
func (s *shop) app(_ context.Context, inst awssim.Instance) (http.Handler, error) {
	commit := inst.Tags["ferry:commit"]
	mux := http.NewServeMux()
	mux.HandleFunc("/healthcheck.html", func(w http.ResponseWriter, _ *http.Request) {
		// As in the seed, the health check stays 200 under the upgrade
		// page, so balancers keep the instances.
		if strings.TrimSpace(s.file(commit, "healthcheck.html")) != "OK" {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "OK")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		if s.pageUp(inst.ID) {
			http.Error(w, "Upgrade in progress. We'll be back in a minute.", http.StatusServiceUnavailable)
			return
		}
		title := strings.TrimSpace(s.file(commit, "index.html"))
		fmt.Fprintf(w, "%s | commit %s | %s %s\n", title, short(commit), inst.ID, inst.PrivateIP)
	})
	return mux, nil
}

// hooks stands in for the SSH hooks on the simulated instances, which run
// no sshd: the upgrade page is switched in the app itself, and the worker's
// deploy step (migrate, collectstatic) is narrated.
type hooks struct {
	shop *shop
	say  func(format string, args ...any)
}

func (h *hooks) RunHook(_ context.Context, run execute.HookRun) error {
	ids := make([]string, len(run.Hosts))
	for i, host := range run.Hosts {
		ids[i] = host.InstanceID
	}
	switch run.Hook {
	case roles.UpgradePageOn:
		h.shop.setPage(ids, true)
		h.say("    [%s] \"upgrade in progress\" page up on %d web servers (old and new)", run.Env, len(ids))
	case roles.UpgradePageOff:
		h.shop.setPage(ids, false)
		h.say("    [%s] upgrade page down on %d web servers", run.Env, len(ids))
	case roles.Deploy:
		h.say("    [%s] worker deploy step on %s: manage.py migrate; collectstatic into /srv/app/static/%s", run.Env, strings.Join(ids, ","), run.Commit.Short())
	}
	return nil
}

// short names a commit the demo's git printed as people see it
// (commit.ID.Short); anything else is shown as it is.
func short(sha string) string {
	if c, err := commit.Parse(sha); err == nil {
		return c.Short()
	}
	return sha
}
