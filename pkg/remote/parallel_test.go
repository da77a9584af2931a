package remote_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

func TestRunAllOnEveryHost(t *testing.T) {
	t.Parallel()
	// One sshd reached at three addresses stands in for three web servers;
	// known_hosts has a line per address, as it would per instance.
	srv := sshtest.Start(t, sshtest.Options{Hosts: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}})
	f := newFixture(t, srv)
	out := t.TempDir()
	var hosts []remote.Host
	for i := range srv.Hosts {
		hosts = append(hosts, remote.Host{Addr: srv.Hosts[i], Instance: "i-web" + string(rune('0'+i)), Role: roles.Web})
	}
	// An address nobody answers on: its failure must not stop the others.
	hosts = append(hosts, remote.Host{Addr: "127.0.0.1:1", Instance: "i-down", Role: roles.Web})

	// Each host records the address it was reached at ($SSH_CONNECTION's
	// third field), so the test sees every address served, none twice.
	cmd := remote.Command{Name: "upgrade_page_on", Line: `set -- $SSH_CONNECTION; touch ` + out + `/"$3"; echo page on at $3`}
	results := f.runner(t).RunAll(context.Background(), hosts, 2, cmd)

	if len(results) != len(hosts) {
		t.Fatalf("%d results for %d hosts", len(results), len(hosts))
	}
	for i, res := range results {
		if res.Host != hosts[i] {
			t.Errorf("result %d is for %v, want %v (results keep the hosts' order)", i, res.Host, hosts[i])
		}
	}
	for i := range srv.Hosts {
		if results[i].Err != nil {
			t.Errorf("%s: %v", hosts[i].Addr, results[i].Err)
			continue
		}
		if log := f.serverLog(t, hosts[i]); !strings.Contains(log, "out| page on at "+srv.Hosts[i]) {
			t.Errorf("log of %s:\n%s", hosts[i].Instance, log)
		}
	}
	var dial *remote.DialError
	if !errors.As(results[3].Err, &dial) {
		t.Errorf("down host: %v, want a DialError", results[3].Err)
	}
	seen, _ := os.ReadDir(out)
	if len(seen) != len(srv.Hosts) {
		t.Errorf("commands ran at %d addresses, want %d", len(seen), len(srv.Hosts))
	}
	err := remote.Failed(results)
	if err == nil || !errors.As(err, &dial) {
		t.Errorf("Failed = %v, want the down host's error", err)
	}
	if remote.Failed(results[:3]) != nil {
		t.Errorf("Failed reports an error for hosts that succeeded")
	}
	logs, _ := filepath.Glob(filepath.Join(f.cfg.Logs.Root, "staging", "d1", "web-*.log"))
	if len(logs) != len(hosts) {
		t.Errorf("per-server logs %v, want one per host", logs)
	}
}
