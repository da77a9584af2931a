package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/simenv/machinetest"
	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// TestEnvCreateOnMachines creates the seed's testing environment on the
// simulator's machines (the stack image: every role's packages, none of
// their services set up) and checks that every long-lived server was made
// into its roles by its recipe, each with its own log; a second create is
// refused, and destroy leaves nothing of it.
func TestEnvCreateOnMachines(t *testing.T) {
	sim := machinetest.Start(t, machinetest.Options{Stack: true, KeyName: "myproject-testing"})
	ctx, logger, srv, image := sim.Ctx, sim.Log, sim.Srv, sim.Image
	dir := t.TempDir()
	keyFile, secretsFile := sim.KeyFile, filepath.Join(dir, "testing.env")
	var sec strings.Builder
	for _, n := range roles.SecretNames() {
		fmt.Fprintf(&sec, "%s=%s\n", n, strings.Repeat("s", 8)+strings.ReplaceAll(strings.ToLower(n), "_", "x"))
	}
	if err := os.WriteFile(secretsFile, []byte(sec.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(dir, "state")
	doc := fmt.Sprintf(`[project]
name = "myproject"
state_dir = %q
[project.git]
url = "file:///nonexistent/myproject.git"

[environments.testing]
branch = "testing"
aws.region = "us-east-1"
aws.endpoint = %q
groups.web = "myproject-testing-web"
launch.image_id = %q
launch.key_name = "myproject-testing"
secrets.file = %q

[environments.testing.ssh]
user = "admin"
key_file = %q
trust_on_first_use = true
connect_timeout = "30s"

[environments.testing.policy]
poll_interval = "500ms"

[environments.testing.create.servers.web]
instance_type = "t3.small"
[environments.testing.create.servers.cache]
instance_type = "t3.medium"
[environments.testing.create.servers.db-primary]
instance_type = "m6i.large"
[environments.testing.create.servers.db-replica]
instance_type = "m6i.large"
`, stateDir, srv.URL, image, secretsFile, keyFile)
	cfg, err := config.Parse(filepath.Join(dir, "ferry.toml"), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", simenv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", simenv.SecretAccessKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	connect := func(ctx context.Context, env *config.Environment, log *slog.Logger) (agent.Cloud, error) {
		return cloud.New(ctx, cloud.Options{Region: env.AWS.Region, Endpoint: env.AWS.Endpoint, Credentials: simenv.Credentials(), Logger: log})
	}
	p, err := agent.OpenProject(cfg, connect, "ferry/test", logger)
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	req := agent.EnvRequest{Progress: &progress, Dialer: srv.MachineNetwork()}
	start := time.Now()
	res, err := p.CreateEnv(ctx, "testing", req)
	t.Logf("create took %s; progress:\n%s", time.Since(start).Round(time.Second), progress.String())
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(res.Servers) != 3 {
		t.Fatalf("%d servers, want cache, db-primary and db-replica", len(res.Servers))
	}
	logs := map[string]bool{}
	for _, s := range res.Servers {
		if s.Err != nil || s.Log == "" || s.Changes == 0 || s.Address == "" {
			t.Errorf("server %s: %+v", s.Type, s)
			continue
		}
		b, err := os.ReadFile(s.Log)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "changed: ") {
			t.Errorf("%s's log shows no change:\n%s", s.Type, b)
		}
		for _, n := range roles.SecretNames() {
			if v := strings.Repeat("s", 8) + strings.ReplaceAll(strings.ToLower(n), "_", "x"); strings.Contains(string(b), v) {
				t.Errorf("%s's log holds the secret %s", s.Type, n)
			}
		}
		logs[s.Log] = true
	}
	if len(logs) != 3 {
		t.Errorf("the servers share log files: %v", logs)
	}
	if _, err := p.CreateEnv(ctx, "testing", req); err == nil || !strings.Contains(err.Error(), "earlier environment") {
		t.Errorf("second create: %v, want it refused", err)
	}
	progress.Reset()
	gone, err := p.DestroyEnv(ctx, "testing", req)
	if err != nil {
		t.Fatalf("destroy: %v\n%s", err, progress.String())
	}
	if len(gone) < 10 {
		t.Errorf("destroy removed %d resources", len(gone))
	}
	c, err := connect(ctx, cfg.Environments["testing"], logger)
	if err != nil {
		t.Fatal(err)
	}
	left, err := c.(*cloud.Client).MachinesTagged(ctx, map[string]string{"ferry:env": "testing"})
	if err != nil || len(left) != 0 {
		t.Errorf("after destroy: %v %v", left, err)
	}
}
