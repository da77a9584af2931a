package remote_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/remote"
)

func TestHostKeyPolicy(t *testing.T) {
	t.Parallel()
	// One server for the whole table; cases that need a changed key
	// rotate it and restore the known_hosts they need themselves.
	srv := sshtest.Start(t, sshtest.Options{})
	for _, tc := range []struct {
		name string
		// knownHosts is the file's content; nil means no file at all.
		knownHosts  func() []byte
		tofu        bool
		wantNew     string // New fails with this text
		wantProblem remote.HostKeyProblem
		// wantFile is what known_hosts holds afterwards.
		wantFile func(before []byte) string
	}{
		{
			name:       "known key accepted",
			knownHosts: func() []byte { return []byte(srv.KnownHostsLine(0)) },
			wantFile:   func(b []byte) string { return string(b) },
		},
		{
			name:        "unknown host refused without trust on first use",
			knownHosts:  func() []byte { return []byte("# nothing yet\n") },
			wantProblem: remote.HostUnknown,
			wantFile:    func(b []byte) string { return string(b) },
		},
		{
			name:       "missing file refused without trust on first use",
			knownHosts: nil,
			wantNew:    "does not exist",
		},
		{
			name:       "unknown host recorded with trust on first use",
			knownHosts: nil,
			tofu:       true,
			wantFile:   func([]byte) string { return marked(srv.KnownHostsLine(0), "i-1") },
		},
		{
			name:       "recorded after existing lines, which are kept",
			knownHosts: func() []byte { return []byte("[10.0.0.9]:22 " + srv.HostPublicKey()) }, // no final newline
			tofu:       true,
			wantFile: func(b []byte) string {
				return string(b) + "\n" + marked(srv.KnownHostsLine(0), "i-1")
			},
		},
		{
			name: "changed key refused even with trust on first use",
			knownHosts: func() []byte {
				return []byte(knownHostsWithOtherKey(t, srv))
			},
			tofu:        true,
			wantProblem: remote.HostKeyChanged,
			wantFile:    func(b []byte) string { return string(b) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, srv)
			f.cfg.TrustOnFirstUse = tc.tofu
			var before []byte
			if tc.knownHosts == nil {
				os.Remove(f.cfg.KnownHosts)
			} else {
				before = tc.knownHosts()
				if err := os.WriteFile(f.cfg.KnownHosts, before, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r, err := remote.New(f.cfg, slog.New(slog.NewTextHandler(f.log, nil)))
			if tc.wantNew != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantNew) {
					t.Fatalf("New = %v, want an error containing %q", err, tc.wantNew)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = r.Run(context.Background(), f.host(0, "i-1"), remote.Command{Name: "probe", Line: "true"})
			var hk *remote.HostKeyError
			switch {
			case tc.wantProblem == 0 && err != nil:
				t.Fatalf("Run: %v", err)
			case tc.wantProblem != 0 && !errors.As(err, &hk):
				t.Fatalf("Run = %v (%T), want *remote.HostKeyError", err, err)
			case tc.wantProblem != 0:
				if hk.Problem != tc.wantProblem {
					t.Errorf("problem %v, want %v", hk.Problem, tc.wantProblem)
				}
				// The message names the host and the file to look at.
				for _, want := range []string{f.srv.Addr(0), f.cfg.KnownHosts, "SHA256:"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %q", err, want)
					}
				}
				if remote.IsTransient(err) {
					t.Error("a refused host key is reported transient")
				}
			}
			got, _ := os.ReadFile(f.cfg.KnownHosts)
			if want := tc.wantFile(before); string(got) != want {
				t.Errorf("known_hosts afterwards:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// knownHostsWithOtherKey returns a known_hosts line for srv's address with a
// key that is not srv's: what a rebuilt instance at a reused address, or an
// impostor, looks like.
// marked is a known_hosts line as trust on first use records it for
// instance.
func marked(line, instance string) string {
	return strings.TrimSuffix(line, "\n") + " ferry-instance=" + instance + "\n"
}

func knownHostsWithOtherKey(t *testing.T, srv *sshtest.Server) string {
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(testutil.NewSSHSigner(t).PublicKey())))
	return fmt.Sprintf("[%s]:%d %s\n", srv.Hosts[0], srv.Port, key)
}

func TestTrustOnFirstUseThenRotatedKeyRefused(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	f := newFixture(t, srv)
	f.cfg.TrustOnFirstUse = true
	os.Remove(f.cfg.KnownHosts)
	h := f.host(0, "i-1")
	cmd := remote.Command{Name: "probe", Line: "true"}

	if err := f.runner(t).Run(context.Background(), h, cmd); err != nil {
		t.Fatalf("first use: %v", err)
	}
	// A fresh Runner (a later deploy) with trust on first use off now
	// knows the host from the file alone.
	f.cfg.TrustOnFirstUse = false
	if err := f.runner(t).Run(context.Background(), h, cmd); err != nil {
		t.Fatalf("after recording: %v", err)
	}

	srv.RotateHostKey()
	f.cfg.TrustOnFirstUse = true
	recorded, _ := os.ReadFile(f.cfg.KnownHosts)
	err := f.runner(t).Run(context.Background(), h, cmd)
	var hk *remote.HostKeyError
	if !errors.As(err, &hk) || hk.Problem != remote.HostKeyChanged {
		t.Fatalf("after rotation: %v, want a changed host key refused", err)
	}
	if len(hk.Known) != 1 || !strings.HasPrefix(hk.Known[0], f.cfg.KnownHosts+":1") {
		t.Errorf("Known = %q, want the recorded line %s:1", hk.Known, f.cfg.KnownHosts)
	}
	if now, _ := os.ReadFile(f.cfg.KnownHosts); string(now) != string(recorded) {
		t.Errorf("a changed key rewrote known_hosts:\n%s", now)
	}
}

func TestTrustOnFirstUseConcurrentRunnersRecordOnce(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Hosts: []string{"127.0.0.1", "127.0.0.2"}})
	f := newFixture(t, srv)
	f.cfg.TrustOnFirstUse = true
	os.Remove(f.cfg.KnownHosts)
	// Separate Runners share nothing in memory: only the file lock keeps
	// them from recording the same host twice or losing a record.
	const perHost = 4
	var wg sync.WaitGroup
	errs := make(chan error, 2*perHost)
	for i := range 2 * perHost {
		r := f.runner(t)
		wg.Go(func() {
			h := f.host(i%2, "i-"+string(rune('a'+i)))
			errs <- r.Run(context.Background(), h, remote.Command{Name: "probe", Line: "true"})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	got, err := os.ReadFile(f.cfg.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 2 {
		t.Fatalf("known_hosts has %d lines, want one per address:\n%s", len(lines), got)
	}
	for i := range srv.Hosts {
		if !strings.Contains(string(got), strings.TrimSuffix(srv.KnownHostsLine(i), "\n")+" ferry-instance=i-") {
			t.Errorf("known_hosts lacks %q", srv.KnownHostsLine(i))
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(f.cfg.KnownHosts), ".known_hosts.tmp*")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

// TestHostCertificateSurvivesRebuild: instances of an Auto Scaling group
// come and go and reuse addresses, so a known_hosts line per address turns
// every rebuild into a "changed key". A host CA line trusts any host key the
// CA certified, so a rebuilt instance is accepted without trust on first
// use, and a key the CA did not sign is still refused.
func TestHostCertificateSurvivesRebuild(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{HostCA: true})
	f := newFixture(t, srv)
	if err := os.WriteFile(f.cfg.KnownHosts, []byte("@cert-authority 127.0.0.* "+srv.CAPublicKey()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := remote.Command{Name: "probe", Line: "true"}
	if err := f.runner(t).Run(context.Background(), f.host(0, "i-1"), cmd); err != nil {
		t.Fatalf("certified host: %v", err)
	}
	srv.RotateHostKey()
	if err := f.runner(t).Run(context.Background(), f.host(0, "i-2"), cmd); err != nil {
		t.Fatalf("rebuilt host with a new certified key: %v", err)
	}

	// Another CA's certificate at the same address is refused.
	impostor := sshtest.Start(t, sshtest.Options{HostCA: true})
	f2 := newFixture(t, impostor)
	if err := os.WriteFile(f2.cfg.KnownHosts, []byte("@cert-authority 127.0.0.* "+srv.CAPublicKey()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := f2.runner(t).Run(context.Background(), f2.host(0, "i-3"), cmd)
	if err == nil || remote.IsTransient(err) {
		t.Fatalf("certificate from another CA: %v, want a permanent refusal", err)
	}
}

// With trust on first use, another instance at an address a gone instance
// held (private addresses are reused) has its key recorded in place of the
// gone one's; the same instance with another key, or a line written by
// hand (naming no instance), is still refused.
func TestTrustOnFirstUseAddressReusedByAnotherInstance(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	f := newFixture(t, srv)
	f.cfg.TrustOnFirstUse = true
	os.Remove(f.cfg.KnownHosts)
	cmd := remote.Command{Name: "probe", Line: "true"}
	if err := f.runner(t).Run(context.Background(), f.host(0, "i-1"), cmd); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if b, _ := os.ReadFile(f.cfg.KnownHosts); !strings.HasSuffix(string(b), " ferry-instance=i-1\n") {
		t.Fatalf("the recorded line names no instance:\n%s", b)
	}

	srv.RotateHostKey() // i-1 is gone; i-2 got its address
	if err := f.runner(t).Run(context.Background(), f.host(0, "i-2"), cmd); err != nil {
		t.Fatalf("another instance at the address: %v", err)
	}
	b, _ := os.ReadFile(f.cfg.KnownHosts)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 1 || !strings.HasSuffix(lines[0], " ferry-instance=i-2") {
		t.Fatalf("known_hosts after the address moved:\n%s", b)
	}

	srv.RotateHostKey() // i-2 itself presents another key
	err := f.runner(t).Run(context.Background(), f.host(0, "i-2"), cmd)
	var hk *remote.HostKeyError
	if !errors.As(err, &hk) || hk.Problem != remote.HostKeyChanged {
		t.Fatalf("the same instance with another key: %v, want refused", err)
	}

	// A line written by hand names no instance: never replaced.
	if err := os.WriteFile(f.cfg.KnownHosts, []byte(knownHostsWithOtherKey(t, srv)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.runner(t).Run(context.Background(), f.host(0, "i-3"), cmd); !errors.As(err, &hk) || hk.Problem != remote.HostKeyChanged {
		t.Fatalf("a hand-written line's host with another key: %v, want refused", err)
	}
}
