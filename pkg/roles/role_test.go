package roles_test

import (
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-deploy/ferry/internal/awssim/imds"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// oneInstance is the metadata service's fleet: every request comes from
// 127.0.0.1, the instance the test sets.
type oneInstance struct {
	mu sync.Mutex
	in imds.Instance
}

func (o *oneInstance) ByAddress(ip netip.Addr) (imds.Instance, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.in, ip == netip.MustParseAddr("127.0.0.1")
}

func (o *oneInstance) set(in imds.Instance) { o.mu.Lock(); defer o.mu.Unlock(); o.in = in }

// The recipes' boot script of an image's instances (files/role/ferry-role,
// run by ferry-role.service): it reads the instance's ferry:role tag from
// the metadata service (the simulator's, IMDSv2 only, tags in the metadata
// or not, as EC2 serves them [work-with-tags-in-IMDS]) and enables and
// starts that role's services alone, as /etc/ferry/image-roles lists them;
// with no role to start it starts nothing and says why (exit 3, not
// retried); with no metadata service it exits 1 (the unit retries).
// systemctl is a stand-in that records its calls: no systemd runs here.
func TestRoleScriptStartsTheInstancesRoleAlone(t *testing.T) {
	testutil.RequireTool(t, "curl")
	b, err := roles.NewRecipes().Bundle(withPath(), roles.RecipeHost{Address: "172.31.0.9", Roles: []roles.Role{roles.Web, roles.Worker}, Action: roles.ActionImage})
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, b.Tar)
	dir := t.TempDir()
	script := filepath.Join(dir, "ferry-role")
	if err := os.WriteFile(script, []byte(files["files/role/ferry-role"]), 0o755); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(files["files/systemd/ferry-role.service"], "ExecStart=/usr/local/lib/ferry/ferry-role\n") {
		t.Errorf("ferry-role.service does not run the script app.sh installs:\n%s", files["files/systemd/ferry-role.service"])
	}
	// What run.sh writes on a builder made into web and worker.
	rolesFile := filepath.Join(dir, "image-roles")
	if err := os.WriteFile(rolesFile, []byte("web nginx gunicorn\nworker celery\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// systemctl: is-enabled and is-active true for the units in
	// $ENABLED; every call recorded.
	calls := filepath.Join(dir, "calls")
	stub := `#!/bin/sh
echo "$*" >>` + calls + `
case $1 in is-enabled|is-active) case " $ENABLED " in *" $3 "*) exit 0 ;; esac; exit 1 ;; esac
exit 0
`
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}

	fleet := &oneInstance{}
	h, err := imds.New(imds.Config{Instances: fleet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnContext = h.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	// A port nothing listens on: no metadata service.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()

	instance := func(tagsOn bool, tags map[string]string) imds.Instance {
		in := imds.Instance{ID: "i-0123456789abcdef0", ImageID: "ami-0abcdef1234567890", InstanceType: "t3.small",
			PrivateIP: netip.MustParseAddr("172.31.0.9"), Tags: tags,
			Options: imds.MetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 1}}
		if tagsOn {
			in.Options.InstanceMetadataTags = "enabled"
		}
		return in
	}
	group := map[string]string{"aws:autoscaling:groupName": "myproject-testing-worker", "ferry:env": "testing"}
	with := func(role string) map[string]string {
		m := map[string]string{"ferry:role": role}
		for k, v := range group {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		in       imds.Instance
		endpoint string
		enabled  string
		status   int
		calls    []string // in order
		says     string
	}{
		{name: "worker", in: instance(true, with("worker")), status: 0,
			calls: []string{"is-enabled --quiet nginx", "is-active --quiet nginx", "is-enabled --quiet gunicorn", "is-active --quiet gunicorn",
				"is-enabled --quiet celery", "enable --quiet celery", "start --no-block celery"},
			says: "role worker: started celery"},
		{name: "web", in: instance(true, with("web")), status: 0,
			calls: []string{"is-enabled --quiet celery", "is-active --quiet celery", "is-enabled --quiet nginx", "enable --quiet nginx",
				"is-enabled --quiet gunicorn", "enable --quiet gunicorn", "start --no-block nginx gunicorn"},
			says: "role web: started nginx gunicorn"},
		{name: "a web instance rebooted after its tag changed", in: instance(true, with("worker")), enabled: "nginx gunicorn celery", status: 0,
			calls: []string{"is-enabled --quiet nginx", "disable --quiet nginx", "is-active --quiet nginx", "stop --no-block nginx",
				"is-enabled --quiet gunicorn", "disable --quiet gunicorn", "is-active --quiet gunicorn", "stop --no-block gunicorn",
				"is-enabled --quiet celery", "start --no-block celery"},
			says: "role worker: started celery"},
		{name: "no ferry:role tag", in: instance(true, group), status: 3, says: "this instance has no tag ferry:role: it starts none of its image's roles (web worker )"},
		{name: "tags not in the metadata", in: instance(false, with("worker")), status: 3, says: "needs InstanceMetadataTags=enabled"},
		{name: "a role the image does not hold", in: instance(true, with("cache")), status: 3, says: "role cache (tag ferry:role) is not one of this image's: web worker"},
		{name: "no metadata service", in: instance(true, with("worker")), endpoint: down, status: 1, says: "no token from the instance metadata service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fleet.set(tc.in)
			os.Remove(calls)
			endpoint := srv.URL
			if tc.endpoint != "" {
				endpoint = tc.endpoint
			}
			cmd := exec.Command("sh", script)
			cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "FERRY_IMAGE_ROLES=" + rolesFile, "FERRY_IMDS_ENDPOINT=" + endpoint, "ENABLED=" + tc.enabled}
			out, err := cmd.CombinedOutput()
			status := 0
			if ee, ok := err.(*exec.ExitError); ok {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tc.status || !strings.Contains(string(out), tc.says) {
				t.Errorf("exit %d, want %d; said:\n%s\nwant it to say %q", status, tc.status, out, tc.says)
			}
			got, _ := os.ReadFile(calls)
			if want := strings.Join(tc.calls, "\n"); strings.TrimSpace(string(got)) != want {
				t.Errorf("systemctl calls:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// A bundle for an image's builder carries the boot script and its unit,
// which parse (sh -n; systemd-analyze verify where it runs).
func TestBundleCarriesTheRoleUnit(t *testing.T) {
	b, err := roles.NewRecipes().Bundle(withPath(), roles.RecipeHost{Address: "172.31.0.9", Roles: []roles.Role{roles.Worker}, Action: roles.ActionImage})
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, b.Tar)
	cmd := exec.Command("sh", "-n")
	cmd.Stdin = strings.NewReader(files["files/role/ferry-role"])
	if out, err := cmd.CombinedOutput(); err != nil || files["files/role/ferry-role"] == "" {
		t.Errorf("files/role/ferry-role: %v\n%s", err, out)
	}
	unit := files["files/systemd/ferry-role.service"]
	for _, want := range []string{"Before=nginx.service gunicorn.service celery.service\n", "ConditionPathExists=/etc/ferry/image-roles\n", "RestartPreventExitStatus=3\n", "WantedBy=multi-user.target\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("ferry-role.service lacks %q", want)
		}
	}
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return
	}
	// verify wants ExecStart's program to exist.
	dir := t.TempDir()
	path := filepath.Join(dir, "ferry-role.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/lib/ferry/ferry-role", "/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(tool, "verify", path).CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// Units this one names that this host lacks are not its mistakes.
		if line != "" && strings.Contains(line, "ferry-role.service") && !strings.Contains(line, "not found") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}
