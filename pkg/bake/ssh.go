package bake

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// Console reads an instance's console output (pkg/cloud).
type Console interface {
	ConsoleOutput(ctx context.Context, id string) ([]byte, error)
}

// SSHShell reaches builders over SSH with pkg/remote. A builder is a new
// instance whose host key no known_hosts file holds: SSHShell trusts only
// the keys its console shows (cloud-init prints them at first boot, the
// way an EC2 user checks a new instance's key), never the first key
// offered.
type SSHShell struct {
	Console Console
	// Config is the environment's SSH settings (remote.FromConfig);
	// KnownHosts, TrustOnFirstUse and Logs are set per builder.
	Config   remote.Config
	StateDir string
	Poll     time.Duration
}

// Open waits for the builder's host keys on its console, then for it to
// take a login.
func (s SSHShell) Open(ctx context.Context, m cloud.Machine, logs remote.Logs) (Session, error) {
	poll := s.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	var keys []string
	for {
		out, err := s.Console.ConsoleOutput(ctx, m.ID)
		if err != nil {
			return nil, err
		}
		if keys = HostKeys(out); len(keys) > 0 {
			break
		}
		if err := sleep(ctx, poll); err != nil {
			return nil, fmt.Errorf("no SSH host keys on the console of %s: %w", m.ID, err)
		}
	}
	known := builderKnownHosts(s.StateDir, m.ID)
	if err := os.MkdirAll(filepath.Dir(known), 0o750); err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %s\n", m.PrivateIP, k)
	}
	if err := os.WriteFile(known, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	cfg := s.Config
	cfg.KnownHosts, cfg.TrustOnFirstUse, cfg.Logs = known, false, logs
	runner, err := remote.New(cfg, nil)
	if err != nil {
		return nil, err
	}
	sess := &sshSession{runner: runner, host: remote.Host{Addr: m.PrivateIP, Instance: m.ID, Role: roles.Role("builder")}}
	if sess.log, err = logs.Path(sess.host.Role, m.ID); err != nil {
		return nil, err
	}
	// sshd starts after the keys are printed, and logins wait for
	// systemd-user-sessions: try until one works. A host key that does
	// not match the console's is never retried.
	for {
		err := sess.Run(ctx, remote.Command{Name: "login", Line: "true"})
		var hk *remote.HostKeyError
		switch {
		case err == nil:
			return sess, nil
		case errors.As(err, &hk):
			return nil, err
		}
		if serr := sleep(ctx, poll); serr != nil {
			return nil, fmt.Errorf("builder %s takes no SSH login: %w (last: %w)", m.ID, serr, err)
		}
	}
}

// builderKnownHosts is where SSHShell keeps the host keys of builder,
// read from its console; Baker removes the file with the builder.
func builderKnownHosts(stateDir, builder string) string {
	return filepath.Join(stateDir, "bake", "known_hosts-"+builder)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type sshSession struct {
	runner *remote.Runner
	host   remote.Host
	log    string
}

func (s *sshSession) Run(ctx context.Context, cmds ...remote.Command) error {
	return s.runner.Run(ctx, s.host, cmds...)
}

func (s *sshSession) Log() string { return s.log }

var hostKeyLine = regexp.MustCompile(`(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) [A-Za-z0-9+/=]+`)

// HostKeys returns the public host keys cloud-init printed on a console,
// between its "-----BEGIN SSH HOST KEY KEYS-----" and
// "-----END SSH HOST KEY KEYS-----" lines (the last such block: an
// instance's latest boot).
func HostKeys(console []byte) []string {
	var keys, cur []string
	in := false
	for _, line := range strings.Split(string(console), "\n") {
		switch {
		case strings.Contains(line, "-----BEGIN SSH HOST KEY KEYS-----"):
			in, cur = true, nil
		case strings.Contains(line, "-----END SSH HOST KEY KEYS-----"):
			in, keys = false, cur
		case in:
			if k := hostKeyLine.FindString(line); k != "" {
				cur = append(cur, k)
			}
		}
	}
	return keys
}
