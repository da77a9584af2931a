package remote_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

func TestFromConfigExample(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(filepath.Join("..", "..", "examples", "environments", "production.toml"))
	if err != nil {
		t.Fatal(err)
	}
	env := cfg.Environments["production"]
	got := remote.FromConfig(cfg.Project.StateDir, env, "20261123T111111Z-716084f7bf3d", "/run/agent.sock")
	want := remote.Config{
		User:            "deploy",
		Port:            22,
		KeyFile:         "/etc/ferry/instance_key",
		AgentSocket:     "/run/agent.sock",
		KnownHosts:      "/etc/ferry/instances_known_hosts",
		TrustOnFirstUse: env.SSH.TrustOnFirstUse,
		ConnectTimeout:  env.SSH.ConnectTimeout.Std(),
		CommandTimeout:  45 * time.Minute,
		KeepAlive:       remote.DefaultKeepAlive,
		Logs:            remote.Logs{Root: "/var/lib/ferry/logs", Env: "production", DeployID: "20261123T111111Z-716084f7bf3d"},
	}
	if got != want {
		t.Errorf("FromConfig =\n%+v\nwant\n%+v", got, want)
	}
}

// TestExampleHooksResolve: every example's hook overrides resolve onto the
// defaults and render.
func TestExampleHooksResolve(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "environments", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, file := range files {
		cfg, err := config.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		for name, env := range cfg.Environments {
			cmds, err := roles.Resolve(env.Hooks)
			if err != nil {
				t.Errorf("%s: environment %s: %v", file, name, err)
			}
			if len(cmds[roles.Worker][roles.Deploy]) == 0 {
				t.Errorf("%s: environment %s has no worker deploy step", file, name)
			}
		}
	}
}
