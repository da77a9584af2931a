package config

import (
	"path/filepath"
	"testing"
)

// TestExamplesValidate keeps examples/environments valid and checks that
// each shows what it is there to show.
func TestExamplesValidate(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "environments")
	for _, tc := range []struct {
		file, env string
		check     func(t *testing.T, e *Environment)
	}{
		{"staging.toml", "staging", func(t *testing.T, e *Environment) {
			if e.Branch != "staging" {
				t.Errorf("staging deploys from branch %q", e.Branch)
			}
		}},
		{"production.toml", "production", func(t *testing.T, e *Environment) {
			if e.Tag != "v*" || !e.Policy.Confirm || len(e.Windows) == 0 {
				t.Errorf("production: tag %q, confirm %v, %d windows; want release tags, confirmation and a deploy window", e.Tag, e.Policy.Confirm, len(e.Windows))
			}
		}},
		{"testing.toml", "testing", func(t *testing.T, e *Environment) {
			if e.Branch == "" {
				t.Error("testing has no branch")
			}
			if e.Create == nil || len(e.Create.Servers) != len(CreateServerTypes) {
				t.Fatalf("testing does not create the seed's %d server types: %+v", len(CreateServerTypes), e.Create)
			}
			if web := e.Create.Servers[ServerWeb]; web.Count != 2 || web.Max != 4 {
				t.Errorf("web count %d max %d", web.Count, web.Max)
			}
			if w := e.Create.Servers[ServerWorker]; w.Count != 1 || w.Max != 1 {
				t.Errorf("worker count %d max %d, want the defaults 1 and 1", w.Count, w.Max)
			}
			if got := e.LoadBalancers.Classic; len(got) != 1 || got[0] != "myproject-testing" {
				t.Errorf("balancer %v, want the default myproject-testing", got)
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			cfg, err := Load(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatalf("example is invalid:\n%v", err)
			}
			env, ok := cfg.Environments[tc.env]
			if !ok || len(cfg.Environments) != 1 {
				t.Fatalf("want exactly environment %q, got %v", tc.env, cfg.Environments)
			}
			tc.check(t, env)
		})
	}
}
