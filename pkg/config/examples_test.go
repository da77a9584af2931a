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
