package watch

import (
	"testing"

	"github.com/ferry-deploy/ferry/internal/gittest"
)

// TestDependencies keeps the git side free of AWS and of the config schema:
// the agent maps configuration onto this package's own options.
func TestDependencies(t *testing.T) {
	gittest.CheckDeps(t, "github.com/ferry-deploy/ferry/pkg/watch",
		"github.com/aws",
		"github.com/ferry-deploy/ferry/pkg/config",
		"github.com/ferry-deploy/ferry/pkg/cloud",
		"github.com/ferry-deploy/ferry/internal/awssim",
	)
}
