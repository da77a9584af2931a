package agent_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/envbuild"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// deployLogs are the per-server logs of the deploys that ran since the
// state dir's log directory of the environment held before.
func (w *envMachines) deployLogs(before map[string]bool) map[string]string {
	w.t.Helper()
	root := filepath.Join(w.stateDir, "logs", "testing")
	logs := map[string]string{}
	dirs, err := os.ReadDir(root)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() || before[d.Name()] {
			continue
		}
		err := filepath.WalkDir(filepath.Join(root, d.Name()), func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			logs[p] = string(b)
			return err
		})
		if err != nil {
			w.t.Fatal(err)
		}
	}
	return logs
}

// logDirs names the deploys' log directories there are now.
func (w *envMachines) logDirs() map[string]bool {
	w.t.Helper()
	have := map[string]bool{}
	dirs, err := os.ReadDir(filepath.Join(w.stateDir, "logs", "testing"))
	if err != nil && !os.IsNotExist(err) {
		w.t.Fatal(err)
	}
	for _, d := range dirs {
		have[d.Name()] = true
	}
	return have
}

// onServer runs line as the SSH user on the environment's long-lived
// server of type typ (OpenSSH, its host keys read from its console) and
// returns its output.
func (w *envMachines) onServer(typ, line string) (string, error) {
	w.t.Helper()
	ms, err := w.c.MachinesTagged(w.ctx, map[string]string{plan.TagProject: "myproject", plan.TagEnv: "testing", envbuild.TagRole: typ})
	if err != nil {
		w.t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m cloud.Machine) bool { return m.State == "running" && m.PrivateIP != "" })
	if i < 0 {
		w.t.Fatalf("no running %s server: %+v", typ, ms)
	}
	m := ms[i]
	console, err := simenv.ConsoleOutput(w.ctx, w.sim.SDK, m.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	var kh strings.Builder
	for _, k := range machines.ParseHostKeys(console).Keys {
		fmt.Fprintf(&kh, "%s %s\n", m.PrivateIP, k)
	}
	out, err := w.sim.SSH(w.ctx, w.sim.WriteKnownHosts(kh.String()), m.PrivateIP, line).CombinedOutput()
	return string(out), err
}

// psql runs an SQL query in the app's database on the server of type typ
// (as postgres, over its local socket) and returns its unaligned output.
func (w *envMachines) psql(typ, query string) (string, error) {
	return w.onServer(typ, "sudo -u postgres psql -d myproject -XAt -c "+shellQuote(query))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// checkFullDeploy: a full deploy of examples/app's schema bump through the
// balancer. While the instances switch, the balancer answers with the web
// servers' nginx "upgrade in progress" page (503); afterwards it serves the
// new commit; the migration ran once, in the worker's deploy step, and its
// column reached the replica.
func (w *envMachines) checkFullDeploy() {
	t := w.t
	w.repo.Git("checkout", "-q", "testing")
	old := w.served()
	if err := copyTree("../../examples/app/schema-bump", w.repo.Dir, ""); err != nil {
		t.Fatal(err)
	}
	bump := w.commit("the schema bump: notes get a tag")
	page, err := os.ReadFile("../../pkg/roles/recipes/files/nginx/upgrade.html")
	if err != nil {
		t.Fatal(err)
	}
	// The recipe renders the page for the project (roles.RecipeData).
	upgradePage := strings.ReplaceAll(string(page), "{{.Project}}", "myproject")
	isPage := commitPage(old, bump)
	polled := w.pollBalancer("/", func(code int, body string, err error) string {
		if err == nil && code == 503 && body == upgradePage {
			return "upgrade page"
		}
		return isPage(code, body, err)
	})
	health := w.pollBalancer("/healthcheck.html", func(code int, body string, err error) string {
		if err == nil && code == 200 && body == "ok\n" {
			return "ok"
		}
		return isPage(code, body, err)
	})
	logsBefore := w.logDirs()
	start := time.Now()
	out, err := w.deploy("--method", "full")
	took := time.Since(start)
	if err != nil || !bytes.Contains(out, []byte("testing: succeeded "+bump[:12]+" (full)")) {
		polled.end()
		health.end()
		t.Fatalf("ferry deploy --method full: %v\n%s", err, out)
	}
	w.balancerServes(bump)
	seen, order := polled.end()
	hc, _ := health.end()
	t.Logf("full deploy of the schema bump: %s; through the balancer, GET / answered %v in the order %v; /healthcheck.html %v\n%s",
		took.Round(time.Second), seen, order, hc, out)
	if seen["upgrade page"] == 0 {
		t.Errorf("the balancer never showed nginx's upgrade page during the full deploy: %v", seen)
	}
	// The old commit stops serving before the new one starts: never one
	// after the other.
	if i := slices.Index(order, "new"); i >= 0 && slices.Contains(order[i:], "old") {
		t.Errorf("the balancer served the old commit after the new one: %v", order)
	}
	if hc["ok"] == 0 || len(hc) != 1 {
		t.Errorf("/healthcheck.html through the balancer during the full deploy: %v, want 200 all along", hc)
	}

	// Once: one worker deploy step, one migration applied, in the
	// deploy's per-server logs.
	steps, applied := 0, 0
	for p, l := range w.deployLogs(logsBefore) {
		steps += strings.Count(l, "=== worker deploy 1/")
		applied += strings.Count(l, "Applying notes.0002_note_tag... OK")
		if strings.Contains(l, "Applying notes.0002_note_tag") {
			t.Logf("the migration ran in %s", filepath.Base(p))
		}
	}
	if steps != 1 || applied != 1 {
		t.Errorf("the full deploy ran migrate %d times and applied the schema bump %d times, want once", steps, applied)
	}
	if got, err := w.psql("db-primary", "SELECT count(*) FROM django_migrations WHERE app = 'notes' AND name = '0002_note_tag' AND applied BETWEEN now() - interval '1 second' * "+strconv.Itoa(int(took.Seconds())+5)+" AND now()"); err != nil || got != "1\n" {
		t.Errorf("the schema bump's migration recorded on the primary during the deploy: %q %v, want 1", got, err)
	}
	// The column on the replica, streamed from the primary.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		got, err := w.psql("db-replica", "SELECT count(*) FROM information_schema.columns WHERE table_name = 'notes_note' AND column_name = 'tag'")
		if err == nil && got == "1\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new column on the replica: %q %v", got, err)
		}
	}
}
