package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// schemaV1 is the plan's first JSON form, in which each step held what it
// acts on as a map of strings ("params") and pkg/execute found the point
// of no return itself. A journal an earlier Ferry wrote holds it.
const schemaV1 = 1

// plain has Plan's fields and none of its methods: decoding into it does
// not come back to UnmarshalJSON.
type plain Plan

// UnmarshalJSON reads a plan of this schema version, or of version 1,
// whose steps it converts into typed ones; it refuses any other version.
func (p *Plan) UnmarshalJSON(data []byte) error {
	var head struct {
		SchemaVersion int `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return err
	}
	*p = Plan{}
	switch head.SchemaVersion {
	case SchemaVersion:
		return json.Unmarshal(data, (*plain)(p))
	case schemaV1:
		return p.fromV1(data)
	}
	return fmt.Errorf("plan schema version %d: this Ferry reads versions %d and %d", head.SchemaVersion, schemaV1, SchemaVersion)
}

// fromV1 reads a version 1 plan. Its params are read strictly: a value
// missing or malformed fails the read, where version 1's executor took it
// as zero or as a default.
func (p *Plan) fromV1(data []byte) error {
	if err := json.Unmarshal(data, (*plain)(p)); err != nil {
		return err
	}
	var v1 struct {
		Steps []struct {
			Params map[string]string `json:"params"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(data, &v1); err != nil {
		return err
	}
	var errs []error
	for i := range p.Steps {
		if err := p.stepFromV1(&p.Steps[i], v1.Steps[i].Params); err != nil {
			errs = append(errs, fmt.Errorf("step %d (%s): %w", i+1, p.Steps[i].Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("plan schema version %d: %w", schemaV1, errors.Join(errs...))
	}
	// Where version 1's executor passed the point of no return: as the
	// first terminate-old began, or once the last replace-batch was done.
	isName := func(name StepName) func(Step) bool { return func(s Step) bool { return s.Name == name } }
	if i := slices.IndexFunc(p.Steps, isName(StepTerminateOld)); i >= 0 {
		p.Steps[i].NoReturn = true
	} else if i := lastIndexFunc(p.Steps, isName(StepReplaceBatch)); i >= 0 && i+1 < len(p.Steps) {
		p.Steps[i+1].NoReturn = true
	}
	p.SchemaVersion = SchemaVersion
	return nil
}

// stepFromV1 sets s's typed fields from its version 1 params.
func (p *Plan) stepFromV1(s *Step, params map[string]string) error {
	v := &v1Params{m: params}
	source := func(name string) *LaunchSource {
		ls := p.LaunchSource
		ls.Name = name
		return &ls
	}
	switch s.Name {
	case StepPrepareLaunchSource:
		s.LaunchSource, s.Commit = source(v.str("name")), v.commit(v.str("commit"))
		s.LaunchSource.Kind = v.str("kind")
	case StepInstallLaunchSource:
		s.LaunchSource = source(v.str("name"))
		sha, ok := strings.CutPrefix(v.str("tag"), TagCommit+"=")
		if !ok {
			v.fail("params: tag %q is not %s=SHA", params["tag"], TagCommit)
		}
		s.Commit = v.commit(sha)
	case StepSuspendProcesses, StepResumeProcesses:
		s.Processes = v.list("processes")
	case StepRaiseCapacity:
		s.Sizes = &Sizes{Desired: v.optInt("desired"), MaxSize: v.optInt("max_size")}
	case StepRestoreCapacity:
		s.Sizes = &Sizes{Desired: v.int("desired"), MinSize: v.int("min_size"), MaxSize: v.int("max_size")}
	case StepWaitInService:
		s.Count, s.Timeout = *v.int("count"), v.duration("timeout")
	case StepWaitHealthy:
		// Version 1 waited for as many new instances as the group had.
		i := slices.IndexFunc(p.Groups, func(g GroupPlan) bool { return g.Name == s.Group })
		if i < 0 {
			v.fail("group %q is not in the plan", s.Group)
		} else {
			s.Count = p.Groups[i].Capacity.DesiredBefore
		}
		s.Timeout = v.duration("timeout")
	case StepUpgradePageOn, StepUpgradePageOff, StepWorkerDeploy:
		s.Role, s.Hosts = roles.Role(v.str("role")), v.str("hosts")
	case StepRegisterInstances:
		s.Balancers = v.list("balancers")
	case StepTerminateOld:
		s.Instances, s.Timeout = v.list("instances"), v.duration("timeout")
	case StepReplaceBatch:
		s.Instances, s.Mode, s.Timeout = v.list("instances"), v.str("mode"), v.duration("timeout")
	case StepPostDeploy:
		s.On = v.str("on")
	default:
		v.fail("unknown step")
	}
	return errors.Join(v.errs...)
}

// v1Params reads a version 1 step's params, keeping every problem.
type v1Params struct {
	m    map[string]string
	errs []error
}

func (v *v1Params) fail(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(format, args...))
}

// str returns a param that must be present.
func (v *v1Params) str(key string) string {
	s, ok := v.m[key]
	if !ok {
		v.fail("params: no %s", key)
	}
	return s
}

// optInt returns a number that may be absent (nil).
func (v *v1Params) optInt(key string) *int {
	s, ok := v.m[key]
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		v.fail("params: %s=%q: %w", key, s, err)
	}
	return &n
}

// int returns a number that must be present.
func (v *v1Params) int(key string) *int {
	if _, ok := v.m[key]; !ok {
		v.fail("params: no %s", key)
		return new(int)
	}
	return v.optInt(key)
}

// commit parses a commit id read from a param.
func (v *v1Params) commit(s string) commit.ID {
	if s == "" {
		return commit.ID{} // str said it is missing
	}
	id, err := commit.Parse(s)
	if err != nil {
		v.fail("params: commit %w", err)
	}
	return id
}

// duration returns a duration that must be present.
func (v *v1Params) duration(key string) config.Duration {
	s, ok := v.m[key]
	if !ok {
		v.fail("params: no %s", key)
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		v.fail("params: %s=%q: %w", key, s, err)
	}
	return config.Duration(d)
}

// list returns a comma-separated list that must be present (and may be
// empty).
func (v *v1Params) list(key string) []string {
	var out []string
	for _, s := range strings.Split(v.str(key), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func lastIndexFunc[T any](s []T, f func(T) bool) int {
	for i := len(s) - 1; i >= 0; i-- {
		if f(s[i]) {
			return i
		}
	}
	return -1
}
