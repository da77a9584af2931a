package machines_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

// openHost opens a Host whose state lives in the test's temp dir and which
// closes when the test ends.
func openHost(t *testing.T) *machines.Host {
	t.Helper()
	baseImage(t)
	h, err := machines.Open(t.Context(), machines.Options{StateDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("close host: %v", err)
		}
	})
	return h
}

// keyPair is an SSH key for admin: the private key in a file for ssh -i,
// and its authorized_keys line.
type keyPair struct {
	file       string
	authorized string
	signer     ssh.Signer
}

func newKeyPair(t *testing.T) keyPair {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{file: file, authorized: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), signer: signer}
}

func bootRunning(t *testing.T, h *machines.Host, spec machines.Spec) *machines.Machine {
	t.Helper()
	m, err := boot(t, h, spec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// boot boots a machine and waits until it is running; it may be called
// from any goroutine.
func boot(t *testing.T, h *machines.Host, spec machines.Spec) (*machines.Machine, error) {
	start := time.Now()
	m, err := h.Boot(t.Context(), spec)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := m.WaitRunning(ctx); err != nil {
		return nil, err
	}
	t.Logf("%s running at %s, %v after Boot", m.Name(), m.Address(), time.Since(start).Round(time.Millisecond))
	return m, nil
}

// sshRun runs command on the machine as admin with the real OpenSSH
// client, inside the Host's namespace, trusting only the host keys the
// machine printed on its console. Nothing of the user's ~/.ssh is read.
func sshRun(t *testing.T, h *machines.Host, m *machines.Machine, key keyPair, command string) string {
	t.Helper()
	console, err := m.Console()
	if err != nil {
		t.Fatal(err)
	}
	hk := machines.ParseHostKeys(console)
	if len(hk.Keys) == 0 {
		t.Fatalf("no host keys on %s's console:\n%s", m.Name(), console)
	}
	dir := t.TempDir()
	var known bytes.Buffer
	for _, k := range hk.Keys {
		fmt.Fprintf(&known, "%s %s\n", m.Address(), k)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, known.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := h.Network().Command(t.Context(), "ssh", "-F", "/dev/null", "-i", key.file,
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=20",
		"admin@"+m.Address().String(), command)
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh admin@%s %q: %v\n%s", m.Address(), command, err, out)
	}
	return string(out)
}

func TestMachineBootsLikeAnEC2Instance(t *testing.T) {
	h := openHost(t)
	_, base := baseImage(t)
	key := newKeyPair(t)
	m := bootRunning(t, h, machines.Spec{
		Name: "i-0boot", Image: base.ID, AuthorizedKeys: []string{key.authorized},
		UserData: []byte("#!/bin/sh\necho user-data ran as $(id -un) > /var/tmp/user-data.out\n"),
	})
	if m.State() != machines.Running {
		t.Errorf("state = %s, want running", m.State())
	}
	console, err := m.Console()
	if err != nil {
		t.Fatal(err)
	}
	hk := machines.ParseHostKeys(console)
	if len(hk.Fingerprints) == 0 || len(hk.Fingerprints) != len(hk.Keys) {
		t.Fatalf("console host keys = %+v, want fingerprints and keys alike:\n%s", hk, console)
	}

	t.Run("OpenSSH login with the console's host keys", func(t *testing.T) {
		out := sshRun(t, h, m, key, "hostname; sudo -n cat /var/tmp/user-data.out")
		want := "ip-" + strings.ReplaceAll(m.Address().String(), ".", "-") + "\nuser-data ran as root\n"
		if out != want {
			t.Errorf("ssh output = %q, want %q", out, want)
		}
	})

	t.Run("host key presented matches the console fingerprint", func(t *testing.T) {
		var presented string
		cfg := &ssh.ClientConfig{
			User: "admin",
			Auth: []ssh.AuthMethod{ssh.PublicKeys(key.signer)},
			HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
				presented = ssh.FingerprintSHA256(k)
				for _, fp := range hk.Fingerprints {
					if strings.Fields(fp)[1] == presented {
						return nil
					}
				}
				return fmt.Errorf("host key %s is not on the console %v", presented, hk.Fingerprints)
			},
			Timeout: 20 * time.Second,
		}
		conn, err := h.Network().DialContext(t.Context(), "tcp", m.Address().String()+":22")
		if err != nil {
			t.Fatal(err)
		}
		c, chans, reqs, err := ssh.NewClientConn(conn, m.Address().String()+":22", cfg)
		if err != nil {
			t.Fatal(err)
		}
		client := ssh.NewClient(c, chans, reqs)
		defer client.Close()
		sess, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		out, err := sess.Output("id -un")
		if err != nil || string(out) != "admin\n" {
			t.Errorf("id -un = %q, %v", out, err)
		}
	})

	t.Run("nginx answers on the private address through the dialer", func(t *testing.T) {
		client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
			DialContext:     h.Network().DialContext,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the machine's snakeoil certificate, as ELB accepts it
		}}
		for _, url := range []string{"http://%s/healthcheck.html", "https://%s/healthcheck.html"} {
			resp, err := client.Get(fmt.Sprintf(url, m.Address()))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "ok\n" {
				t.Errorf("GET %s = %d %q", fmt.Sprintf(url, m.Address()), resp.StatusCode, body)
			}
		}
	})

	t.Run("power off leaves nothing behind", func(t *testing.T) {
		pid, dir := m.PID(), m.Dir()
		if err := m.PowerOff(t.Context()); err != nil {
			t.Fatal(err)
		}
		if m.State() != machines.Stopped {
			t.Errorf("state = %s, want stopped", m.State())
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("nspawn (pid %d) still there: %v", pid, err)
		}
		mounts, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(mounts), dir) {
			t.Errorf("a mount under %s is left:\n%s", dir, mounts)
		}
		for _, d := range []string{"upper", "work", "root"} {
			if _, err := os.Stat(filepath.Join(dir, d)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left after power-off: %v", d, err)
			}
		}
		if _, ok := h.Machine(m.Name()); ok {
			t.Errorf("host still lists %s", m.Name())
		}
	})
}

func dashed(ip string) string { return strings.ReplaceAll(ip, ".", "-") }

// User data in #cloud-config runs through cloud-init's modules as on EC2
// [user-data]: bootcmd and write_files in the network stage, then runcmd
// (a config module, run at the start of the final stage here) after the
// files are written, all before the machine is running.
func TestCloudConfigUserData(t *testing.T) {
	h := openHost(t)
	_, base := baseImage(t)
	userData := `#cloud-config
bootcmd:
  - echo bootcmd ran > /var/tmp/bootcmd.out
write_files:
  - path: /var/tmp/written.txt
    content: "written by write_files\n"
runcmd:
  - [sh, -c, "echo runcmd saw: $(cat /var/tmp/written.txt) > /var/tmp/runcmd.out"]
`
	m := bootRunning(t, h, machines.Spec{Name: "i-0cloudconfig", Image: base.ID, UserData: []byte(userData)})
	for file, want := range map[string]string{
		"var/tmp/bootcmd.out": "bootcmd ran\n",
		"var/tmp/written.txt": "written by write_files\n",
		"var/tmp/runcmd.out":  "runcmd saw: written by write_files\n",
	} {
		got, err := os.ReadFile(filepath.Join(m.Dir(), "root", file))
		if err != nil || string(got) != want {
			console, _ := m.Console()
			t.Errorf("/%s = %q, %v; want %q\nconsole:\n%s", file, got, err, want, console)
		}
	}
}
