package plan

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// ErrInvalid is what Validate's error wraps: a plan that must not be
// carried out as it stands.
var ErrInvalid = errors.New("invalid plan")

// Validate checks that a deploy plan holds everything pkg/execute acts on:
// each step has the values its kind needs, names a group of the plan
// where it acts on one, and at most one step is the point of no return.
// Make returns valid plans; a plan read back from a journal, or edited by
// hand, may not be, and must fail here, before anything changes, rather
// than half way through (a missing count would wait for nothing).
func (p *Plan) Validate() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.SchemaVersion != SchemaVersion {
		fail("schema_version %d, want %d", p.SchemaVersion, SchemaVersion)
	}
	if p.Environment == "" {
		fail("no environment")
	}
	switch p.Action {
	case NoOp:
		if len(p.Steps) > 0 {
			fail("a no-op plan has %d step(s)", len(p.Steps))
		}
	case Deploy:
		if p.Method != Full && p.Method != Serial {
			fail("method %q: want %s or %s", p.Method, Full, Serial)
		}
		if p.Target.Commit.IsZero() {
			fail("no target commit")
		}
		if len(p.Steps) == 0 {
			fail("a deploy plan has no steps")
		}
	default:
		fail("action %q: want %s or %s", p.Action, Deploy, NoOp)
	}
	groups := make(map[string]GroupPlan, len(p.Groups))
	for _, g := range p.Groups {
		groups[g.Name] = g
	}
	var noReturn []int
	for i, s := range p.Steps {
		if err := p.checkStep(s, groups); err != nil {
			errs = append(errs, fmt.Errorf("step %d (%s): %w", i+1, s.Name, err))
		}
		if s.NoReturn {
			noReturn = append(noReturn, i+1)
		}
	}
	if len(noReturn) > 1 {
		fail("steps %v are each marked the point of no return; a deploy has one", noReturn)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// checkStep checks that s has what its kind acts on.
func (p *Plan) checkStep(s Step, groups map[string]GroupPlan) error {
	var errs []error
	need := func(ok bool, problem string) {
		if !ok {
			errs = append(errs, errors.New(problem))
		}
	}
	g, inPlan := groups[s.Group]
	group := func() {
		need(s.Group != "", "no group")
		need(s.Group == "" || inPlan, fmt.Sprintf("group %q is not in the plan", s.Group))
	}
	source := func() {
		need(s.LaunchSource != nil && s.LaunchSource.Name != "", "no launch source")
		need(s.Commit == p.Target.Commit, fmt.Sprintf("commit %q is not the target %q", s.Commit.String(), p.Target.Commit.String()))
	}
	// A count of 0 or no instances is right only for a group that had
	// none: anywhere else it would wait for, or remove, nothing.
	emptyGroup := inPlan && g.Capacity.DesiredBefore == 0 && len(g.Replace) == 0
	switch s.Name {
	case StepBakeImage:
		need(s.Commit == p.Target.Commit, fmt.Sprintf("commit %q is not the target %q", s.Commit.String(), p.Target.Commit.String()))
		need(s.Timeout > 0, "no timeout")
	case StepPrepareLaunchSource:
		source()
		need(s.LaunchSource == nil || s.LaunchSource.Kind != "", "no launch source kind")
	case StepInstallLaunchSource:
		group()
		source()
	case StepSuspendProcesses, StepResumeProcesses:
		group()
		need(len(s.Processes) > 0, "no processes")
	case StepRaiseCapacity:
		group()
		need(s.Sizes != nil && (s.Sizes.Desired != nil || s.Sizes.MaxSize != nil), "no desired capacity or max size to raise")
	case StepRestoreCapacity:
		group()
		need(s.Sizes != nil && s.Sizes.Desired != nil && s.Sizes.MinSize != nil && s.Sizes.MaxSize != nil,
			"restoring needs the desired capacity, min size and max size")
	case StepWaitInService, StepWaitHealthy:
		group()
		need(s.Count > 0 || emptyGroup, "no count of instances to wait for")
		need(s.Timeout > 0, "no timeout")
	case StepRegisterInstances:
		group()
	case StepTerminateOld:
		group()
		need(len(s.Instances) > 0 || emptyGroup, "no instances to terminate")
		need(s.Timeout > 0, "no timeout")
	case StepReplaceBatch:
		group()
		need(len(s.Instances) > 0, "no instances to replace")
		need(slices.Contains([]string{config.SerialSurge, config.SerialReplaceUnhealthy}, s.Mode),
			fmt.Sprintf("mode %q: want %s or %s", s.Mode, config.SerialSurge, config.SerialReplaceUnhealthy))
		need(s.Timeout > 0, "no timeout")
	case StepUpgradePageOn, StepUpgradePageOff:
		need(s.Role == roles.Web, fmt.Sprintf("role %q: the upgrade page is the %s role's", s.Role, roles.Web))
	case StepWorkerDeploy:
		need(s.Role == roles.Worker, fmt.Sprintf("role %q: the deploy step is the %s role's", s.Role, roles.Worker))
	case StepPostDeploy:
	default:
		return fmt.Errorf("unknown step %q", s.Name)
	}
	return errors.Join(errs...)
}
