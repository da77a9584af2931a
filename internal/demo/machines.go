package demo

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/awssim/machines"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// machineWorld is what `ferry demo --machines` adds: every instance is a
// Debian machine of the simulator's machine backend. Its nginx serves the
// shop, which the launch template's user data puts in place at first boot
// from the demo's artifact store (as an instance would fetch a release
// from S3); the hooks run over SSH with the key pair made by CreateKeyPair,
// trusting the host keys each instance's console shows.
type machineWorld struct {
	net     *machines.Network
	aws     simenv.Clients
	image   string // the base image's AMI
	keyFile string // the demo's private key (never printed)
	dir     string
	store   *http.Server

	mu    sync.Mutex
	known map[string]string // instance id → known_hosts file
}

const (
	// keyName is the demo's key pair.
	keyName = "shop-demo"
	// artifactPort is where the artifact store listens, on the default
	// VPC's router address inside the machines' namespace.
	artifactPort = "8000"
)

// userDataTemplate is the launch template's user data, a text/template
// Ferry renders for each commit (launch.user_data_file). It runs as root
// at first boot: the commit's page and health check from the artifact
// store, the instance's id and address from the metadata service (IMDSv2),
// and nginx's site with the seed's "upgrade in progress" page, which the
// hooks switch with /var/www/upgrade/on.
const userDataTemplate = `#!/bin/sh
# The shop at {{.ShortCommit}} ({{.Env}}), written by ferry demo --machines.
set -eu
art=http://ARTIFACT_STORE/{{.Commit}}
md=http://169.254.169.254/latest
# Every wait bounded: a boot must end, healthy or not.
get() { curl -sf --max-time 10 --retry 3 --retry-all-errors "$@"; }
tok=$(get -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' $md/api/token)
meta() { get -H "X-aws-ec2-metadata-token: $tok" "$md/meta-data/$1"; }
title=$(get "$art/index.html")
printf '%s | commit %s | %s %s\n' "$title" {{.ShortCommit}} "$(meta instance-id)" "$(meta local-ipv4)" >/var/www/html/index.html
# The seed's check: healthy only while the commit's healthcheck.html says OK.
if [ "$(get "$art/healthcheck.html" || true)" = OK ]; then echo OK >/var/www/html/healthcheck.html; else rm -f /var/www/html/healthcheck.html; fi
mkdir -p /var/www/upgrade
echo "Upgrade in progress. We'll be back in a minute." >/var/www/upgrade/upgrade.html
cat >/etc/nginx/sites-available/default <<'CONF'
server {
	listen 80 default_server;
	listen 443 ssl default_server;
	ssl_certificate /etc/ssl/certs/ssl-cert-snakeoil.pem;
	ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;
	root /var/www/html;
	error_page 503 /upgrade.html;
	location = /upgrade.html { root /var/www/upgrade; }
	location = /healthcheck.html { }
	location / {
		if (-f /var/www/upgrade/on) { return 503; }
		try_files $uri $uri/ =404;
	}
}
CONF
# Queued, not waited for: this runs inside the boot, which ends (and the
# instance is running) once the reload is done.
systemctl --no-block try-reload-or-restart nginx
echo "ferry demo: the shop at {{.ShortCommit}} is in place"
`

// startMachines prepares the machine world once the simulator runs: the
// base image, the key pair, the artifact store and the user data file.
func (d *demo) startMachines(ctx context.Context, c simenv.Clients) error {
	w := &machineWorld{net: d.sim.MachineNetwork(), aws: c, dir: d.dir, known: map[string]string{}}
	if w.net == nil {
		return errors.New("the simulator has no machines")
	}
	var err error
	if w.image, err = simenv.ImageTagged(ctx, c, awssim.BaseImageTag); err != nil {
		return fmt.Errorf("the simulator's base image: %w", err)
	}
	key, err := simenv.CreateKeyPair(ctx, c, keyName)
	if err != nil {
		return err
	}
	w.keyFile = filepath.Join(d.dir, keyName+".pem")
	if err := os.WriteFile(w.keyFile, key, 0o600); err != nil {
		return err
	}

	addr := net.JoinHostPort(machines.Router(machines.DefaultSubnet).String(), artifactPort)
	l, err := w.net.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("artifact store: %w", err)
	}
	w.store = &http.Server{Handler: d.shop.artifacts(), ReadHeaderTimeout: 10 * time.Second}
	go w.store.Serve(l) //nolint:errcheck // ends with ErrServerClosed at tear-down

	if err := os.WriteFile(d.userDataFile(), []byte(strings.ReplaceAll(userDataTemplate, "ARTIFACT_STORE", addr)), 0o644); err != nil {
		return err
	}
	d.machines = w
	return nil
}

// userDataFile is the launch source's user data template.
func (d *demo) userDataFile() string { return filepath.Join(d.dir, "user-data.sh") }

// renderUserData renders the user data file for a commit as Ferry does
// (launch.user_data_file), base64-encoded.
func renderUserData(path, env, sha string) (string, error) {
	c, err := commit.Parse(sha)
	if err != nil {
		return "", err
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tmpl, err := template.New(path).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return "", err
	}
	vars, err := roles.NewVars(env, c)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, vars); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(out.Bytes()), nil
}

func (w *machineWorld) close() {
	if w.store != nil {
		_ = w.store.Close() // its listener's namespace goes with the simulator
	}
}

// knownHosts returns a known_hosts file for an instance, built from the
// host keys its console shows (GetConsoleOutput), as EC2 users check them.
func (w *machineWorld) knownHosts(ctx context.Context, id, addr string) (string, error) {
	w.mu.Lock()
	file, ok := w.known[id]
	w.mu.Unlock()
	if ok {
		return file, nil
	}
	console, err := simenv.ConsoleOutput(ctx, w.aws, id)
	if err != nil {
		return "", err
	}
	hk := machines.ParseHostKeys(console)
	if len(hk.Keys) == 0 {
		return "", fmt.Errorf("the console of %s shows no SSH host keys yet", id)
	}
	var b strings.Builder
	for _, k := range hk.Keys {
		fmt.Fprintf(&b, "%s %s\n", addr, k)
	}
	file = filepath.Join(w.dir, "known_hosts."+id)
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	w.mu.Lock()
	w.known[id] = file
	w.mu.Unlock()
	return file, nil
}

// ssh runs command on an instance as admin with the real OpenSSH client
// inside the machines' namespace, trusting only the host keys of its
// console. An instance that does not take logins yet (sshd starting) is
// tried again for up to a minute, as an EC2 client would.
func (w *machineWorld) ssh(ctx context.Context, id, addr, command string) (string, error) {
	known, err := w.knownHosts(ctx, id, addr)
	if err != nil {
		return "", err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		cmd := w.net.Command(ctx, "ssh", "-F", "/dev/null", "-i", w.keyFile,
			"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
			"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+known,
			"-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
			"admin@"+addr, command)
		cmd.Env = []string{"HOME=" + w.dir, "PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		if err == nil || cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 255 || time.Now().After(deadline) {
			if err != nil {
				return string(out), fmt.Errorf("ssh admin@%s %q: %w: %s", addr, command, err, strings.TrimSpace(string(out)))
			}
			return string(out), nil
		}
		select {
		case <-ctx.Done():
			return string(out), ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// onAll runs command on every host at once.
func (w *machineWorld) onAll(ctx context.Context, hosts []hostAddr, command string) error {
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			_, errs[i] = w.ssh(ctx, h.id, h.addr, command)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

type hostAddr struct{ id, addr string }
