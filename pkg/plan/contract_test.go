package plan_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// plans makes the full and serial plans of the render test once.
func plans(t *testing.T) (full, serial *plan.Plan) {
	t.Helper()
	h := newHistory(t)
	mk := func(deployed, target string) *plan.Plan {
		f := newFixture(t, deployed, "")
		p, err := plan.Make(f.ctx, f.cloud, h.repo, f.input(target))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return mk(h.app1, h.app2), mk(h.base, h.app1)
}

// roundTrip returns p as it reads back from its JSON.
func roundTrip(t *testing.T, p *plan.Plan) *plan.Plan {
	t.Helper()
	var js bytes.Buffer
	if err := p.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back plan.Plan
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	return &back
}

// TestJSONIsTyped: the JSON form carries each step's values typed (no
// string map) and reads back into the same plan, which is valid.
func TestJSONIsTyped(t *testing.T) {
	full, serial := plans(t)
	for _, p := range []*plan.Plan{full, serial} {
		t.Run(string(p.Method), func(t *testing.T) {
			if err := p.Validate(); err != nil {
				t.Errorf("a plan Make returned is invalid: %v", err)
			}
			if back := roundTrip(t, p); !reflect.DeepEqual(back, p) {
				t.Errorf("the plan read back from its JSON differs:\ngot  %+v\nwant %+v", back, p)
			}
		})
	}
	var js bytes.Buffer
	if err := full.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		SchemaVersion int              `json:"schema_version"`
		Steps         []map[string]any `json:"steps"`
	}
	if err := json.Unmarshal(js.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.SchemaVersion != 2 {
		t.Errorf("schema_version %d, want 2", raw.SchemaVersion)
	}
	for _, s := range raw.Steps {
		if _, ok := s["params"]; ok {
			t.Errorf("step %v still has params", s["name"])
		}
		if s["name"] == string(plan.StepWaitInService) && (s["count"] != float64(2) || s["timeout"] != "15m0s") {
			t.Errorf("wait-in-service %v, want count 2 and timeout \"15m0s\"", s)
		}
		if s["name"] == string(plan.StepRaiseCapacity) && !reflect.DeepEqual(s["sizes"], map[string]any{"desired": float64(4), "max_size": float64(4)}) {
			t.Errorf("raise-capacity %v, want sizes desired 4 and max_size 4", s)
		}
	}
}

// TestNoReturnSetByPlan: the plan, not pkg/execute, says where the point
// of no return is: a full deploy's first terminate-old, and the step after
// a serial deploy's last replace-batch.
func TestNoReturnSetByPlan(t *testing.T) {
	full, serial := plans(t)
	noReturn := func(p *plan.Plan) []int {
		var out []int
		for i, s := range p.Steps {
			if s.NoReturn {
				out = append(out, i)
			}
		}
		return out
	}
	if got, want := noReturn(full), slices.IndexFunc(full.Steps, func(s plan.Step) bool { return s.Name == plan.StepTerminateOld }); len(got) != 1 || got[0] != want {
		t.Errorf("full: no_return on steps %v, want only %d (terminate-old)", got, want)
	}
	last := -1
	for i, s := range serial.Steps {
		if s.Name == plan.StepReplaceBatch {
			last = i
		}
	}
	if got := noReturn(serial); len(got) != 1 || got[0] != last+1 {
		t.Errorf("serial: no_return on steps %v, want only %d (after the last replace-batch, %d)", got, last+1, last)
	}
}

// v1Serial lays out a serial deploy's steps as version 1 did: the worker's
// deploy step second, before any new instance had the commit's code
// (where it could not run the default hooks).
func v1Serial(steps []plan.Step, short string) []plan.Step {
	i := slices.IndexFunc(steps, func(s plan.Step) bool { return s.Name == plan.StepWorkerDeploy })
	w := steps[i]
	w.Reason = "migrations and static media for " + short + " run first; both versions can use them (a serial change is backwards-compatible)"
	out := slices.Delete(slices.Clone(steps), i, i+1)
	return slices.Insert(out, 1, w)
}

// TestV1PlanReads: a plan in schema version 1 (string params; testdata
// written by the Ferry before version 2 for the same history, simulator
// and time) reads into exactly the plan this version makes.
func TestV1PlanReads(t *testing.T) {
	h := newHistory(t)
	for _, tc := range []struct {
		file             string
		deployed, target string
		extra            string
	}{
		{"full", h.app1, h.app2, ""},
		{"serial", h.base, h.app1, ""},
		{"serial-replace-unhealthy", h.base, h.app1, "policy.serial_mode = \"replace-unhealthy\"\npolicy.min_healthy = 1\n"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := newFixture(t, tc.deployed, tc.extra)
			want, err := plan.Make(f.ctx, f.cloud, h.repo, f.input(tc.target))
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join("testdata", "v1", tc.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if want.Method == plan.Serial {
				want.Steps = v1Serial(want.Steps, want.Target.Commit.Short())
			}
			var got plan.Plan
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("reading the version 1 plan: %v", err)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("the version 1 plan read is invalid: %v", err)
			}
			if len(got.Steps) != len(want.Steps) {
				t.Fatalf("%d steps, want %d", len(got.Steps), len(want.Steps))
			}
			for i := range want.Steps {
				if !reflect.DeepEqual(got.Steps[i], want.Steps[i]) {
					t.Errorf("step %d:\ngot  %+v\nwant %+v", i+1, got.Steps[i], want.Steps[i])
				}
			}
			if !reflect.DeepEqual(&got, want) {
				t.Errorf("the version 1 plan reads as\n%+v\nwant\n%+v", got, *want)
			}
		})
	}
}

// TestV1PlanReadStrictly: a version 1 step missing a value it acts on, or
// holding one that does not parse, fails the read instead of becoming
// zero; and a schema version this Ferry does not know is refused.
func TestV1PlanReadStrictly(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "v1", "full.json"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	params := func(m map[string]any, name plan.StepName) map[string]any {
		for _, s := range m["steps"].([]any) {
			if s := s.(map[string]any); s["name"] == string(name) {
				return s["params"].(map[string]any)
			}
		}
		t.Fatalf("no %s step", name)
		return nil
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"no count", edit(func(m map[string]any) { delete(params(m, plan.StepWaitInService), "count") }), "step 6 (wait-in-service): params: no count"},
		{"count not a number", edit(func(m map[string]any) { params(m, plan.StepWaitInService)["count"] = "two" }), `step 6 (wait-in-service): params: count="two"`},
		{"no timeout", edit(func(m map[string]any) { delete(params(m, plan.StepWaitHealthy), "timeout") }), "step 11 (wait-healthy): params: no timeout"},
		{"bad timeout", edit(func(m map[string]any) { params(m, plan.StepTerminateOld)["timeout"] = "soon" }), `step 12 (terminate-old): params: timeout="soon"`},
		{"no min_size to restore", edit(func(m map[string]any) { delete(params(m, plan.StepRestoreCapacity), "min_size") }), "step 14 (restore-capacity): params: no min_size"},
		{"tag not ferry:commit", edit(func(m map[string]any) { params(m, plan.StepInstallLaunchSource)["tag"] = "abc" }), "step 3 (install-launch-source): params: tag \"abc\""},
		{"unknown step", edit(func(m map[string]any) { m["steps"].([]any)[0].(map[string]any)["name"] = "reboot" }), "step 1 (reboot): unknown step"},
		{"unknown schema version", edit(func(m map[string]any) { m["schema_version"] = 3 }), "plan schema version 3: this Ferry reads versions 1 and 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p plan.Plan
			err := json.Unmarshal(tc.data, &p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v; want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestValidate: a step missing what its kind acts on, or a plan that
// contradicts itself, is refused before anything runs, each problem named.
func TestValidate(t *testing.T) {
	full, serial := plans(t)
	step := func(p *plan.Plan, name plan.StepName) *plan.Step {
		for i := range p.Steps {
			if p.Steps[i].Name == name {
				return &p.Steps[i]
			}
		}
		t.Fatalf("no %s step", name)
		return nil
	}
	two := 2
	for _, tc := range []struct {
		name   string
		serial bool
		edit   func(p *plan.Plan)
		want   string // "" for valid
	}{
		{name: "full as made", edit: func(*plan.Plan) {}},
		{name: "serial as made", serial: true, edit: func(*plan.Plan) {}},
		{name: "wait-in-service without a count", edit: func(p *plan.Plan) { step(p, plan.StepWaitInService).Count = 0 },
			want: "step 6 (wait-in-service): no count of instances to wait for"},
		{name: "wait-healthy without a count", edit: func(p *plan.Plan) { step(p, plan.StepWaitHealthy).Count = 0 },
			want: "step 11 (wait-healthy): no count of instances to wait for"},
		{name: "a count of 0 for a group that had no instances", edit: func(p *plan.Plan) {
			p.Groups[0].Capacity.DesiredBefore, p.Groups[0].Replace = 0, nil
			step(p, plan.StepWaitInService).Count = 0
			step(p, plan.StepWaitHealthy).Count = 0
			step(p, plan.StepTerminateOld).Instances = nil
		}},
		{name: "a wait without a timeout", edit: func(p *plan.Plan) { step(p, plan.StepWaitInService).Timeout = 0 },
			want: "step 6 (wait-in-service): no timeout"},
		{name: "terminate-old without instances", edit: func(p *plan.Plan) { step(p, plan.StepTerminateOld).Instances = nil },
			want: "step 12 (terminate-old): no instances to terminate"},
		{name: "raise-capacity without sizes", edit: func(p *plan.Plan) { step(p, plan.StepRaiseCapacity).Sizes = nil },
			want: "step 4 (raise-capacity): no desired capacity or max size to raise"},
		{name: "restore-capacity without a min size", edit: func(p *plan.Plan) { step(p, plan.StepRestoreCapacity).Sizes.MinSize = nil },
			want: "step 14 (restore-capacity): restoring needs the desired capacity, min size and max size"},
		{name: "suspend without processes", edit: func(p *plan.Plan) { step(p, plan.StepSuspendProcesses).Processes = nil },
			want: "step 2 (suspend-processes): no processes"},
		{name: "a group step without a group", edit: func(p *plan.Plan) { step(p, plan.StepRegisterInstances).Group = "" },
			want: "step 10 (register-instances): no group"},
		{name: "a group not in the plan", edit: func(p *plan.Plan) { step(p, plan.StepRaiseCapacity).Group = "shop-other" },
			want: `step 4 (raise-capacity): group "shop-other" is not in the plan`},
		{name: "prepare without a launch source", edit: func(p *plan.Plan) { step(p, plan.StepPrepareLaunchSource).LaunchSource = nil },
			want: "step 1 (prepare-launch-source): no launch source"},
		{name: "install another commit", edit: func(p *plan.Plan) {
			step(p, plan.StepInstallLaunchSource).Commit = commit.MustParse(strings.Repeat("a", 40))
		},
			want: "step 3 (install-launch-source): commit \"aaaa"},
		{name: "the page as another role's", edit: func(p *plan.Plan) { step(p, plan.StepUpgradePageOn).Role = roles.Worker },
			want: `step 7 (upgrade-page-on): role "worker"`},
		{name: "two points of no return", edit: func(p *plan.Plan) { step(p, plan.StepWaitHealthy).NoReturn = true },
			want: "steps [11 12] are each marked the point of no return"},
		{name: "an unknown step", edit: func(p *plan.Plan) { p.Steps[0].Name = "reboot" },
			want: `step 1 (reboot): unknown step "reboot"`},
		{name: "a schema this Ferry does not carry out", edit: func(p *plan.Plan) { p.SchemaVersion = 1 },
			want: "schema_version 1, want 2"},
		{name: "serial: a batch without instances", serial: true, edit: func(p *plan.Plan) { step(p, plan.StepReplaceBatch).Instances = nil },
			want: "step 5 (replace-batch): no instances to replace"},
		{name: "serial: a batch of an unknown mode", serial: true, edit: func(p *plan.Plan) { step(p, plan.StepReplaceBatch).Mode = "yolo" },
			want: `step 5 (replace-batch): mode "yolo": want surge or replace-unhealthy`},
		{name: "serial: raise max size only", serial: true, edit: func(p *plan.Plan) {
			step(p, plan.StepRaiseCapacity).Sizes = &plan.Sizes{MaxSize: &two}
		}},
		{name: "every problem is named", edit: func(p *plan.Plan) {
			step(p, plan.StepWaitInService).Count = 0
			step(p, plan.StepTerminateOld).Timeout = 0
		}, want: "no count of instances to wait for\nstep 12 (terminate-old): no timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := roundTrip(t, full) // a copy to change
			if tc.serial {
				p = roundTrip(t, serial)
			}
			tc.edit(p)
			err := p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (!errors.Is(err, plan.ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v; want an error wrapping plan.ErrInvalid saying %q", err, tc.want)
			}
		})
	}
}
