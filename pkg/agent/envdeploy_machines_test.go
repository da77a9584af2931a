package agent_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-deploy/ferry/pkg/cloud"
)

// The phases of TestEnvCreateOnMachines that deploy through the balancer
// what the serial deploy does not: a commit that never serves (rolled
// back), and a schema change (a full deploy, envfull_machines_test.go).

// balancerLog polls the balancer's path every 100 ms from start until stop
// and counts what it got back, by kind.
type balancerLog struct {
	mu    sync.Mutex
	kinds []string // in the order seen, consecutive repeats folded
	count map[string]int
	stop  chan struct{}
	done  chan struct{}
}

// pollBalancer starts a balancerLog on path; classify names what each
// response is.
func (w *envMachines) pollBalancer(path string, classify func(code int, body string, err error) string) *balancerLog {
	l := &balancerLog{count: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			code, body, err := 0, "", error(nil)
			resp, err := w.browser.Get(w.lb + path)
			if err == nil {
				b, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				code, body, err = resp.StatusCode, string(b), rerr
			}
			k := classify(code, body, err)
			l.mu.Lock()
			l.count[k]++
			if len(l.kinds) == 0 || l.kinds[len(l.kinds)-1] != k {
				l.kinds = append(l.kinds, k)
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// end stops the polling and returns its counts and sequence.
func (l *balancerLog) end() (map[string]int, []string) {
	close(l.stop)
	<-l.done
	return l.count, l.kinds
}

// commitPage classifies a response of / by the commit it names: "old",
// "new", or what else it was.
func commitPage(old, new string) func(int, string, error) string {
	return func(code int, body string, err error) string {
		switch {
		case err != nil:
			return "error"
		case code == 200 && body == "commit "+old+"\n":
			return "old"
		case code == 200 && body == "commit "+new+"\n":
			return "new"
		}
		return "HTTP " + strconv.Itoa(code)
	}
}

// served is the commit the balancer's / names.
func (w *envMachines) served() string {
	w.t.Helper()
	if w.lb == "" {
		w.lb = balancerURL(w.t, w.srv.URL, "elb/myproject-testing:443")
	}
	resp, err := w.browser.Get(w.lb + "/")
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	c, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "commit ")
	if resp.StatusCode != 200 || !ok {
		w.t.Fatalf("GET / through the balancer: %d %q", resp.StatusCode, b)
	}
	return c
}

// checkBrokenRollback: a commit whose gunicorn cannot load the app (its
// new instances never pass the health check) is rolled back: the deploy
// fails with outcome rolled-back, the balancer serves the deployed commit
// throughout, no Auto Scaling process stays suspended and each group's
// launch source and sizes are those it had.
func (w *envMachines) checkBrokenRollback() {
	t := w.t
	w.repo.Git("checkout", "-q", "testing")
	good := w.served()
	wsgi := filepath.Join(w.repo.Dir, "app", "wsgi.py")
	b, err := os.ReadFile(wsgi)
	if err != nil {
		t.Fatal(err)
	}
	// collectstatic (the bake's build hook) does not import wsgi.py: the
	// bake succeeds and the instances boot, then gunicorn fails.
	if err := os.WriteFile(wsgi, append(b, []byte("raise RuntimeError(\"a broken commit: no app to serve\")\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := w.commit("a broken commit")
	groups := []string{"myproject-testing-web", "myproject-testing-worker"}
	before := map[string]*cloud.Group{}
	for _, name := range groups {
		g, err := w.c.Group(w.ctx, name, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = g
	}
	// The new instances never get healthy: wait for them 30 s, not the
	// default ten minutes (none would pass however long it waited).
	cfg, err := os.ReadFile(w.cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.cfgFile, append(slices.Clone(cfg), "\n[environments.testing.policy.timeouts]\nhealthy_in_balancers = \"30s\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := os.WriteFile(w.cfgFile, cfg, 0o600); err != nil {
			t.Error(err)
		}
	}()
	polled := w.pollBalancer("/", commitPage(good, broken))
	start := time.Now()
	out, err := w.deploy("--method", "serial")
	took := time.Since(start)
	seen, order := polled.end()
	t.Logf("serial deploy of a broken commit: %s; through the balancer, GET / answered %v in the order %v\n%s", took.Round(time.Second), seen, order, out)
	if err == nil || !bytes.Contains(out, []byte("testing: rolled-back "+broken[:12])) {
		t.Fatalf("ferry deploy of a broken commit: %v, want it failed and rolled back", err)
	}
	if seen["old"] == 0 || len(seen) != 1 {
		t.Errorf("during the broken deploy the balancer answered %v, want the deployed commit all along", seen)
	}
	w.balancerServes(good)
	for _, name := range groups {
		after, err := w.c.Group(w.ctx, name, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := before[name]
		if len(after.SuspendedProcesses) != 0 {
			t.Errorf("%s: processes left suspended: %v", name, after.SuspendedProcesses)
		}
		if after.LaunchTemplate == nil || b.LaunchTemplate == nil || *after.LaunchTemplate != *b.LaunchTemplate {
			t.Errorf("%s's launch source after the rollback: %+v, before: %+v", name, after.LaunchTemplate, b.LaunchTemplate)
		}
		if after.DesiredCapacity != b.DesiredCapacity || after.MaxSize != b.MaxSize || after.MinSize != b.MinSize {
			t.Errorf("%s's sizes after the rollback: %d-%d/%d, before %d-%d/%d", name, after.MinSize, after.MaxSize, after.DesiredCapacity,
				b.MinSize, b.MaxSize, b.DesiredCapacity)
		}
	}
	// The branch goes on from the deployed commit's tree: a later commit
	// is not broken too.
	w.repo.Git("revert", "--no-edit", broken)
}
