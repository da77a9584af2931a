package testutil

import (
	"testing"
)

// recordTB records Skipf and Fatalf instead of stopping the goroutine.
type recordTB struct {
	testing.TB
	skipped, failed bool
}

func (r *recordTB) Helper()                  {}
func (r *recordTB) Skipf(string, ...any)     { r.skipped = true }
func (r *recordTB) Fatalf(string, ...any)    { r.failed = true }
func (r *recordTB) Cleanup(func())           {}
func (r *recordTB) Logf(string, ...any)      {}
func (r *recordTB) Errorf(string, ...any)    { r.failed = true }
func (r *recordTB) TempDir() string          { return "" }
func (r *recordTB) Setenv(key, value string) {}

func TestRequireTool(t *testing.T) {
	const missing = "ferry-no-such-tool-3f1a"
	tests := []struct {
		ci          string
		tool        string
		skip, fatal bool
	}{
		{"", missing, true, false},
		{"false", missing, true, false},
		{"true", missing, false, true},
		{"true", "git", false, false},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.ci+" "+tt.tool, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recordTB{}
			RequireTool(r, tt.tool)
			if r.skipped != tt.skip || r.failed != tt.fatal {
				t.Errorf("skipped=%v failed=%v, want %v %v", r.skipped, r.failed, tt.skip, tt.fatal)
			}
		})
	}
}
