package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
)

// TestHookHostUnreachable: a full deploy whose web instances (every
// simulated instance's address reaches one real sshd) stop answering SSH
// while the upgrade page's hook runs on them: the hook fails at once (its
// connection is cut; a new one is refused), and the deploy rolls back. When
// SSH is back by the time the rollback takes the page down, the page comes
// down on the old instances and the deploy ends rolled back; when it is
// not, the rollback still restores the group and the deploy ends failed. Either way it ends (no wait
// outlives its bound), with nothing suspended, the group on the old commit
// and serving, no journal, and the outcome in the commit's note (a failed
// rollback's reason saying the page stayed up); the next deploy, SSH back,
// succeeds.
//
// The third case cuts the path to sshd as a partition does (sshtest.Link):
// nothing is refused or reset, the hook's connection just goes silent. The
// keepalive (ssh.keepalive_interval, 1 s here) drops it after three
// unanswered intervals and the hook fails with "stopped answering"; the
// rollback's own hooks find no SSH handshake within connect_timeout, so
// the page stays up as in the second case.
func TestHookHostUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulator, sshd and deploys")
	}
	for _, tc := range []struct {
		name   string
		back   bool // SSH returns once the deploy failed, before its rollback's hooks
		silent bool // the path is cut silently (a partition), sshd left running
		want   string
	}{
		{"back for the rollback", true, false, "rolled-back"},
		{"gone until the deploy ended", false, false, "failed"},
		{"silent until the deploy ended", false, true, "failed"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			sshd := sshtest.Start(t, sshtest.Options{Hosts: []string{"0.0.0.0"}})
			p, old := newProject(t, 2)
			marks := t.TempDir()
			// Hooks reach sshd directly, or through a link the test cuts.
			port, link := sshd.Port, (*sshtest.Link)(nil)
			if tc.silent {
				link = sshtest.NewLinkOn(t, "0.0.0.0:0", "127.0.0.1:"+strconv.Itoa(sshd.Port))
				port = link.Port()
			}
			p.hooksOverSSH(sshd, port, marks)
			next := p.push("Change the schema", map[string]string{".ferry/schema-version": "2\n"})
			before := p.state(ctx).g

			agent := p.start("--log-format", "text", "deploy", "-c", p.config, "staging", "--yes")
			// On every old instance: a host whose command had not started
			// at the cut would fail at its connect, not by the keepalive.
			hosts := regexp.MustCompile(`msg="running hook".* hook=upgrade_page_on .*instances=([0-9]+)`)
			testutil.Eventually(t, 2*time.Minute, "the upgrade page's hook running", func() (bool, string) {
				m := hosts.FindStringSubmatch(agent.stderr.String())
				return m != nil && strconv.Itoa(len(marked(t, marks, "page_on"))) == m[1], agent.stderr.String()
			})
			if tc.back {
				// The simulator is paused while sshd is away, so that the
				// rollback, whose first AWS call waits for it, takes the
				// page down only once sshd is back.
				if err := p.sim.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				defer p.sim.cmd.Process.Signal(syscall.SIGCONT)
			}
			if tc.silent {
				link.Cut()
				t.Log("the path to sshd cut mid-hook")
			} else {
				sshd.Stop()
				t.Log("sshd stopped mid-hook")
			}
			if tc.back {
				if _, err := agent.waitLine(ctx, func(l string) bool { return strings.Contains(l, `msg="rolling back"`) }); err != nil {
					t.Fatalf("the deploy did not roll back: %v\n%s", err, agent.stderr.String())
				}
				sshd.Start()
				if err := p.sim.cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
				t.Log("sshd back")
			}
			line, err := agent.waitLine(ctx, func(l string) bool { return strings.Contains(l, `msg="deploy finished"`) })
			if err != nil {
				t.Fatalf("the deploy did not finish: %v\n%s", err, agent.stderr.String())
			}
			<-agent.done
			_ = agent.cmd.Wait()
			if got := logValue(line, "outcome"); got != tc.want {
				t.Errorf("outcome %q, want %q: %s", got, tc.want, line)
			}
			reason := logValue(line, "reason")
			t.Logf("reason: %s", reason)
			if !strings.Contains(reason, "upgrade-page-on") {
				t.Errorf("the reason does not name the hook's step: %s", reason)
			}
			// Three intervals of ssh.keepalive_interval, not of the default.
			if tc.silent && !strings.Contains(reason, "stopped answering (a keepalive unanswered for 3s)") {
				t.Errorf("the reason does not say the host stopped answering within 3 keepalives of 1s: %s", reason)
			}
			oldAddrs := addrs(before.Instances)
			if tc.back {
				if got := marked(t, marks, "page_off"); !slices.Equal(got, oldAddrs) {
					t.Errorf("the page came down at %v, want the old instances %v", got, oldAddrs)
				}
			} else {
				// The outcome's one-line reason, which the note keeps,
				// says what the rollback could not undo.
				if !strings.Contains(reason, "; rollback failed: upgrade page: upgrade_page_off on i-") {
					t.Errorf("the reason does not say the page stayed up: %s", reason)
				}
				if note := p.note(next); !strings.Contains(note, "rollback failed: upgrade page") {
					t.Errorf("the note does not say the page stayed up:\n%s", note)
				}
				if got := marked(t, marks, "page_off"); len(got) != 0 {
					t.Errorf("the page came down at %v while sshd was stopped", got)
				}
			}
			s := p.assertConsistent(ctx, before, old)
			if slices.Compare(ids(s.g), ids(before)) != 0 {
				t.Errorf("instances %v, want the old ones %v", ids(s.g), ids(before))
			}
			p.assertNoOrphans(ctx, s.g)
			p.assertNotesComplete(next)
			if t.Failed() {
				t.Logf("deploy's log:\n%s\nsshd:\n%s", agent.stderr.String(), sshd.Log())
				return
			}

			// SSH back, the next deploy goes through (the page's hook
			// quick this time).
			if tc.silent {
				link.Heal()
			} else {
				sshd.Start()
			}
			if err := os.WriteFile(filepath.Join(marks, "quick"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := p.ferry(ctx, "--log-format", "text", "deploy", "-c", p.config, "staging", "--yes")
			if code != 0 {
				t.Fatalf("the deploy with SSH back: exit %d\n%s\n%s", code, stdout, stderr)
			}
			p.assertConsistent(ctx, before, next)
			p.assertNotesComplete(next)
		})
	}
}

// hooksOverSSH makes the web role's upgrade page hooks run over SSH on
// sshd, which answers at every instance's address: the page goes up
// (recording where, then taking a while unless MARKS/quick exists) and
// comes down (recording where).
func (p *project) hooksOverSSH(sshd *sshtest.Server, port int, marks string) {
	p.t.Helper()
	doc, err := os.ReadFile(p.config)
	if err != nil {
		p.t.Fatal(err)
	}
	// The instances' addresses are not known in advance: one line trusts
	// sshd's key at every 127.1.x.y, on its port alone.
	fields := strings.Fields(sshd.HostPublicKey())
	known := filepath.Join(p.t.TempDir(), "known_hosts")
	if err := os.WriteFile(known, fmt.Appendf(nil, "[127.1.*]:%d %s %s\n", port, fields[0], fields[1]), 0o600); err != nil {
		p.t.Fatal(err)
	}
	mark := func(hook string) string {
		return fmt.Sprintf(`set -- $SSH_CONNECTION; echo "$3" >> %s`, filepath.Join(marks, hook))
	}
	s := string(doc)
	for _, r := range [][2]string{
		{`ssh.user = "deploy"`, fmt.Sprintf("ssh.user = %q\nssh.port = %d\nssh.key_file = %q\nssh.known_hosts = %q\nssh.connect_timeout = \"5s\"\nssh.keepalive_interval = \"1s\"",
			sshd.User, port, sshd.ClientKey, known)},
		{`lock_lease = "10m"`, "lock_lease = \"10m\"\ncommand = \"60s\""},
		{"upgrade_page_on = []", fmt.Sprintf("upgrade_page_on = [%q, %q]", mark("page_on"),
			fmt.Sprintf("[ -e %s ] || sleep 30", filepath.Join(marks, "quick")))},
		{"upgrade_page_off = []", fmt.Sprintf("upgrade_page_off = [%q]", mark("page_off"))},
	} {
		if !strings.Contains(s, r[0]) {
			p.t.Fatalf("the config has no %q", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	if err := os.WriteFile(p.config, []byte(s), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// note returns the ferry note on commit c.
func (p *project) note(c string) string {
	p.t.Helper()
	out, err := testutil.GitCommand("", "--git-dir", p.remote, "notes", "--ref=ferry", "show", c).CombinedOutput()
	if err != nil {
		p.t.Errorf("no note on %s: %v\n%s", c, err, out)
	}
	return string(out)
}

// marked returns the addresses a hook recorded, sorted.
func marked(t *testing.T, dir, hook string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, hook))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Fields(string(b))
	slices.Sort(out)
	return out
}

// addrs returns the instances' private addresses, sorted.
func addrs(insts []cloud.Instance) []string {
	var out []string
	for _, inst := range insts {
		out = append(out, inst.PrivateIP)
	}
	slices.Sort(out)
	return out
}

// logValue returns a key's value in a text log line.
func logValue(line, key string) string {
	m := regexp.MustCompile(` ` + key + `=("(?:[^"\\]|\\.)*"|\S+)`).FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	if v, err := strconv.Unquote(m[1]); err == nil {
		return v
	}
	return m[1]
}
