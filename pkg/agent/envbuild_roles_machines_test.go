package agent_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
	"github.com/ferry-deploy/ferry/internal/simenv"
)

// checkRoles: the web and worker groups run one image baked for both
// roles (after the serial deploy: the deploy's image, from the launch
// template version it made), and each instance runs its own group's role alone
// (ferry-role.service, its ferry:role tag read from its metadata): the
// worker's instance runs celery and neither nginx (443 closed) nor
// gunicorn; the web's runs nginx and gunicorn and not celery; a Celery
// task sent from the web instance through the balancer comes back from
// the worker (web → RabbitMQ → worker → Redis → web).
func (w *envMachines) checkRoles() {
	t := w.t
	webID, webIP := w.groupInstance("myproject-testing-web")
	workerID, workerIP := w.groupInstance("myproject-testing-worker")
	for _, m := range []struct{ group, id, ip, role, runs, not, units string }{
		{"myproject-testing-web", webID, webIP, "web", "nginx gunicorn", "celery", "nginx gunicorn"},
		{"myproject-testing-worker", workerID, workerIP, "worker", "celery", "nginx gunicorn", "celery"},
	} {
		// The role's services once booted; the others neither running
		// nor enabled; what ferry-role says.
		want := strings.Repeat("active\n", len(strings.Fields(m.runs))) + strings.Repeat("inactive\n", len(strings.Fields(m.not)))
		line := "systemctl is-active " + m.runs + " " + m.not + "; systemctl is-enabled " + m.not + " 2>&1 | sort -u; sudo journalctl -b -u ferry-role --no-pager -o cat | grep -c 'role " + m.role + ": started " + m.units + "$'"
		var got string
		for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(2 * time.Second) {
			got = w.ssh(m.id, m.ip, line)
			if strings.HasPrefix(got, want) || time.Now().After(deadline) {
				break
			}
		}
		if got != want+"disabled\n1\n" {
			t.Errorf("%s's instance %s: services (%s) (%s), their boot enablement, ferry-role's word:\n%s\nwant:\n%sdisabled\n1\n%s",
				m.group, m.id, m.runs, m.not, got, want, w.ssh(m.id, m.ip, "sudo journalctl -b -u ferry-role --no-pager -o cat; systemctl --no-pager list-units --state=failed"))
		}
	}
	// Through the machines' network: the worker takes no web traffic.
	if c, err := w.srv.MachineNetwork().DialContext(w.ctx, "tcp", net.JoinHostPort(workerIP, "443")); err == nil {
		c.Close()
		t.Errorf("the worker's instance %s answers on 443", workerIP)
	}
	if c, err := w.srv.MachineNetwork().DialContext(w.ctx, "tcp", net.JoinHostPort(webIP, "443")); err != nil {
		t.Errorf("the web instance %s: 443: %v", webIP, err)
	} else {
		c.Close()
	}
	// A Celery task's round trip, asked of the balancer.
	if w.lb == "" {
		w.lb = balancerURL(t, w.srv.URL, "elb/myproject-testing:443")
	}
	var code int
	var body string
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		resp, err := w.browser.Get(w.lb + "/task?x=20&y=22")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if code, body = resp.StatusCode, string(b); code == 200 {
			break
		}
	}
	if code != 200 || body != "sum 42\n" {
		t.Errorf("GET /task through the balancer: %d %q, want sum 42\nthe worker's celery:\n%s", code, body,
			w.ssh(workerID, workerIP, "sudo journalctl -u celery -n 30 --no-pager"))
	}
}

// groupInstance waits until the group has an instance in service with
// an address and returns its id and address.
func (w *envMachines) groupInstance(name string) (id, ip string) {
	w.t.Helper()
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		g, err := w.c.Group(w.ctx, name, nil, nil)
		if err != nil {
			continue
		}
		for _, in := range g.Instances {
			if in.PrivateIP != "" && in.LifecycleState == "InService" {
				return in.ID, in.PrivateIP
			}
		}
	}
	w.t.Fatalf("group %s has no instance with an address", name)
	return "", ""
}

// ssh runs line on the instance as admin, its host key the one its
// console shows, and returns its output (a failure's, with why).
func (w *envMachines) ssh(id, ip, line string) string {
	w.t.Helper()
	var keys []string
	for deadline := time.Now().Add(2 * time.Minute); len(keys) == 0; time.Sleep(time.Second) {
		console, err := simenv.ConsoleOutput(w.ctx, w.sim.SDK, id)
		if err == nil {
			keys = machines.ParseHostKeys(console).Keys
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s's console shows no host keys: %v", id, err)
		}
	}
	var known strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&known, "%s %s\n", ip, k)
	}
	out, err := w.sim.SSH(w.ctx, w.sim.WriteKnownHosts(known.String()), ip, line).CombinedOutput()
	if err != nil && len(out) == 0 {
		return fmt.Sprintf("ssh %s: %v", ip, err)
	}
	return string(out)
}
