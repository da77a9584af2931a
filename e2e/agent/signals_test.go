package agent

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGHUP with an invalid config keeps the agent on the config it runs; a
// valid one is taken. /healthz answers 200 and /metrics counts deploys
// throughout; SIGTERM stops the agent with exit status 0.
func TestSignals(t *testing.T) {
	w := newWorld(t, staging())
	config := w.writeConfig(t.TempDir()+"/ferry.toml", settings{stateDir: stateDir(t)})
	valid, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	a := w.startAgent("ferry run", config)
	a.waitState(deployTimeout, "staging", w.first, "idle")
	c1 := w.push("Change 1", map[string]string{"app.py": "print('shop 2')\n"}, "main:staging")
	w.waitOutcome(deployTimeout, c1, "staging", "succeeded")

	// An invalid config is reported and the running one kept.
	invalid := strings.Replace(string(valid), `poll_interval = "100ms"`, `poll_interval = "soon"`, 1)
	if err := os.WriteFile(config, []byte(invalid), 0o600); err != nil {
		t.Fatal(err)
	}
	a.signal(syscall.SIGHUP)
	a.waitLog(time.Minute, "the failed reload", msg("config reload failed; keeping the running config"))
	if !a.running() {
		t.Fatal("ferry run exited after SIGHUP with an invalid config")
	}
	c2 := w.push("Change 2", map[string]string{"app.py": "print('shop 3')\n"}, "main:staging")
	w.waitOutcome(deployTimeout, c2, "staging", "succeeded")
	a.waitState(deployTimeout, "staging", c2, "idle")
	if code, h, err := a.health(); err != nil || code != http.StatusOK || !h.OK {
		t.Errorf("/healthz after a failed reload: %d %+v %v", code, h, err)
	}
	if m := a.metrics(); !strings.Contains(m, `ferry_deploys_total{env="staging",method="serial",outcome="succeeded"} 2`) {
		t.Errorf("/metrics does not count two deploys:\n%s", m)
	}

	// A valid config is taken: the agent starts again on it.
	if err := os.WriteFile(config, valid, 0o600); err != nil {
		t.Fatal(err)
	}
	a.signal(syscall.SIGHUP)
	a.waitLog(time.Minute, "the reload", msg("config reloaded; restarting the agent"))
	a.addr = a.waitNth(time.Minute, "a second listener", msg("serving /healthz, /metrics and /hooks/git"), 2).str("addr")
	a.waitState(deployTimeout, "staging", c2, "idle")
	if code, _, err := a.health(); err != nil || code != http.StatusOK {
		t.Errorf("/healthz after a reload: %d %v", code, err)
	}
	// The rebuilt agent counts from zero, but shows every series and the
	// commit each environment runs before its first deploy.
	m := a.metrics()
	for _, want := range []string{
		`ferry_deploys_total{env="staging",method="serial",outcome="succeeded"} 0`,
		`ferry_deploys_total{env="staging",method="full",outcome="rolled-back"} 0`,
		`ferry_deployed_commit_info{commit="` + c2 + `",env="staging"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics after a reload lacks %s:\n%s", want, m)
		}
	}

	a.signal(syscall.SIGTERM)
	if code := a.exitCode(time.Minute); code != 0 {
		t.Errorf("ferry run exited %d after SIGTERM, want 0", code)
	}
	if lines := a.out.logLines(); len(lines) == 0 || lines[len(lines)-1].str("msg") != "agent stopped" {
		t.Errorf("ferry run's last words after SIGTERM were not \"agent stopped\":\n%s", a.out.tail(5))
	}
}
