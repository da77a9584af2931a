package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// addLegacyEnv adds to p an environment "legacy" whose group still uses a
// launch configuration (launch.kind = "configuration"), deployed from the
// branch legacy at the first commit; withWorker adds a worker group
// (shop-legacy-worker, no balancer) beside the web one.
func addLegacyEnv(t *testing.T, p *project, withWorker bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := simenv.Connect(p.sim.URL)
	groups := []simenv.Group{{Name: "shop-legacy-web", Size: 1, ClassicLB: "shop-legacy"}}
	if withWorker {
		groups = append(groups, simenv.Group{Name: "shop-legacy-worker", Size: 1})
	}
	if err := simenv.Create(ctx, c, simenv.Spec{
		Project: "shop", Env: "legacy", Groups: groups,
		DeployedCommit: p.first, Now: time.Now().Add(-time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if err := simenv.WaitServing(ctx, c, g.Name, 1); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	legacy := strings.ReplaceAll(string(doc[strings.Index(string(doc), "[environments.staging]"):]), "staging", "legacy")
	legacy = strings.Replace(legacy, "ssh.user", "launch.kind = \"configuration\"\nssh.user", 1)
	if withWorker {
		legacy = strings.Replace(legacy, "ssh.user", "groups.worker = \"shop-legacy-worker\"\nssh.user", 1)
	}
	if err := os.WriteFile(p.config, append(doc, "\n"+legacy...), 0o600); err != nil {
		t.Fatal(err)
	}
	p.work.Git("push", "-q", "origin", "main:legacy")
}

// sources lists the launch sources a simulated account holds: every
// launch template version's description and every launch configuration's
// name.
func sources(t *testing.T, endpoint string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := simenv.Connect(endpoint)
	var out []string
	lts, err := c.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range lts.LaunchTemplates {
		vs, err := c.EC2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: lt.LaunchTemplateId})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs.LaunchTemplateVersions {
			out = append(out, aws.ToString(v.VersionDescription))
		}
	}
	lcs, err := c.ASG.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, lc := range lcs.LaunchConfigurations {
		out = append(out, aws.ToString(lc.LaunchConfigurationName))
	}
	slices.Sort(out)
	return out
}

// simGroup reads a group of the simulator at endpoint through pkg/cloud,
// returning the client for further reads.
func simGroup(t *testing.T, endpoint, name string) (context.Context, *cloud.Client, *cloud.Group) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	c, err := cloud.New(ctx, cloud.Options{Region: simenv.Region, Endpoint: endpoint, Credentials: simenv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.Group(ctx, name, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, c, g
}

// groupState is what a deploy changes in a group, for before/after checks.
func groupState(t *testing.T, endpoint, name string) string {
	t.Helper()
	_, _, g := simGroup(t, endpoint, name)
	var ids []string
	for _, inst := range g.Instances {
		ids = append(ids, inst.ID)
	}
	slices.Sort(ids)
	lt := ""
	if g.LaunchTemplate != nil {
		lt = g.LaunchTemplate.ID + "@" + g.LaunchTemplate.Version
	}
	return fmt.Sprintf("lc=%s lt=%s tag=%s sizes=%d/%d/%d suspended=%v instances=%v", g.LaunchConfiguration, lt,
		g.Tags[plan.TagCommit], g.MinSize, g.DesiredCapacity, g.MaxSize, g.SuspendedProcesses, ids)
}

// launchSourceOf returns the name of the launch source a group uses now.
func launchSourceOf(t *testing.T, endpoint, name string) string {
	t.Helper()
	ctx, c, g := simGroup(t, endpoint, name)
	if g.LaunchTemplate == nil {
		return g.LaunchConfiguration
	}
	v, err := c.LaunchTemplateVersion(ctx, *g.LaunchTemplate)
	if err != nil {
		t.Fatal(err)
	}
	return v.Description
}

// TestPrepareThenDeploy: ferry prepare creates only the launch source and
// prints its name; ferry deploy --launch-config NAME installs that very
// source and creates none of its own.
func TestPrepareThenDeploy(t *testing.T) {
	p := newProject(t, 2)
	addLegacyEnv(t, p, false)
	next := p.push("Speed up the cart", map[string]string{"app.py": "2\n"})
	p.work.Git("push", "-q", "origin", "main:legacy")

	for _, tc := range []struct {
		env, group string
		args       []string
	}{
		{env: "staging", group: "shop-staging-web"},                                 // launch template, the watched branch
		{env: "legacy", group: "shop-legacy-web", args: []string{"--commit", next}}, // launch configuration, --commit
	} {
		t.Run(tc.env, func(t *testing.T) {
			before, known := groupState(t, p.sim.URL, tc.group), sources(t, p.sim.URL)

			code, stdout, stderr := runFerry(t, append([]string{"prepare", "-c", p.config, tc.env}, tc.args...)...)
			if code != exitOK {
				t.Fatalf("prepare: exit %d\n%s\n%s", code, stdout, stderr)
			}
			name := strings.TrimSpace(stdout)
			if want := regexp.MustCompile(`^shop-` + tc.env + `-` + next[:12] + `-[0-9]{8}T[0-9]{6}$`); !want.MatchString(name) {
				t.Fatalf("prepare printed %q, want only a name matching %s", stdout, want)
			}
			after := sources(t, p.sim.URL)
			if added := slices.DeleteFunc(slices.Clone(after), func(s string) bool { return slices.Contains(known, s) }); !slices.Equal(added, []string{name}) {
				t.Errorf("prepare added launch sources %q, want exactly %q", added, name)
			}
			if got := groupState(t, p.sim.URL, tc.group); got != before {
				t.Errorf("prepare changed the group:\n got %s\nwant %s", got, before)
			}

			code, stdout, stderr = runFerry(t, append([]string{"deploy", "-c", p.config, tc.env, "--launch-config", name}, tc.args...)...)
			if code != exitOK {
				t.Fatalf("deploy --launch-config: exit %d\n%s\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, "prepared") || strings.Contains(stdout, "prepare-launch-source") {
				t.Errorf("the plan should reuse the prepared source, not create one:\n%s", stdout)
			}
			if got := launchSourceOf(t, p.sim.URL, tc.group); got != name {
				t.Errorf("the group runs %q, want the prepared %q", got, name)
			}
			if got := sources(t, p.sim.URL); !slices.Equal(got, after) {
				t.Errorf("deploy created launch sources of its own: %q, want %q", got, after)
			}
		})
	}
}

// TestDeployRefusesAWrongLaunchSource: a prepared name for another commit,
// or one that does not exist, fails the deploy before the group changes.
func TestDeployRefusesAWrongLaunchSource(t *testing.T) {
	p := newProject(t, 1)
	p.push("Speed up the cart", map[string]string{"app.py": "2\n"})
	code, stdout, stderr := runFerry(t, "prepare", "-c", p.config, "staging")
	if code != exitOK {
		t.Fatalf("prepare: exit %d\n%s\n%s", code, stdout, stderr)
	}
	forSecond := strings.TrimSpace(stdout)
	third := p.push("Tidy", map[string]string{"app.py": "3\n"})
	before := groupState(t, p.sim.URL, "shop-staging-web")

	for _, tc := range []struct {
		name, launch, want string
	}{
		{name: "prepared for another commit", launch: forSecond, want: "was not prepared for " + third},
		{name: "never prepared", launch: plan.LaunchSourceName("shop", "staging", commit.MustParse(third), time.Now()), want: "version described"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runFerry(t, "deploy", "-c", p.config, "staging", "--launch-config", tc.launch)
			if code != exitFailure || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("deploy --launch-config %s: exit %d, want 1 and %q\n%s\n%s", tc.launch, code, tc.want, stdout, stderr)
			}
			if got := groupState(t, p.sim.URL, "shop-staging-web"); got != before {
				t.Errorf("a refused deploy changed the group:\n got %s\nwant %s", got, before)
			}
			if _, err := os.Stat(p.stateDir + "/journal/journal-staging.json"); !os.IsNotExist(err) {
				t.Errorf("a refused deploy left a journal: %v", err)
			}
		})
	}
}

// TestPrepareRendersUserData: launch.user_data_file is rendered with the
// commit into the new launch template version; a template that refers to
// what does not exist fails prepare and creates nothing.
func TestPrepareRendersUserData(t *testing.T) {
	p := newProject(t, 1)
	next := p.push("Speed up the cart", map[string]string{"app.py": "2\n"})
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "user-data.sh"), filepath.Join(dir, "broken.sh")
	if err := os.WriteFile(good, []byte("#!/bin/sh\nexec /srv/app/boot {{.Env}} {{.Commit}} {{.ShortCommit}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("#!/bin/sh\necho {{.Secret}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	setUserData := func(path string) {
		t.Helper()
		s := strings.Replace(string(doc), "ssh.user", fmt.Sprintf("launch.user_data_file = %q\nssh.user", path), 1)
		if err := os.WriteFile(p.config, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	setUserData(bad)
	known := sources(t, p.sim.URL)
	code, stdout, stderr := runFerry(t, "prepare", "-c", p.config, "staging")
	if code != exitFailure || !strings.Contains(stderr, "launch.user_data_file") || !strings.Contains(stderr, "Secret") {
		t.Errorf("prepare with a broken template: exit %d, want 1 naming the file's problem\n%s\n%s", code, stdout, stderr)
	}
	if got := sources(t, p.sim.URL); !slices.Equal(got, known) {
		t.Errorf("a failed prepare created launch sources: %q", got)
	}

	setUserData(good)
	code, stdout, stderr = runFerry(t, "prepare", "-c", p.config, "staging")
	if code != exitOK {
		t.Fatalf("prepare: exit %d\n%s\n%s", code, stdout, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := simenv.Connect(p.sim.URL).EC2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateName: aws.String("shop-staging-web"), Versions: []string{"$Latest"},
	})
	if err != nil || len(out.LaunchTemplateVersions) != 1 {
		t.Fatalf("describe the new version: %v", err)
	}
	v := out.LaunchTemplateVersions[0]
	if got := aws.ToString(v.VersionDescription); got != strings.TrimSpace(stdout) {
		t.Fatalf("latest version is %q, want the prepared %q", got, stdout)
	}
	data, err := base64.StdEncoding.DecodeString(aws.ToString(v.LaunchTemplateData.UserData))
	if err != nil {
		t.Fatal(err)
	}
	if want := "#!/bin/sh\nexec /srv/app/boot staging " + next + " " + next[:12] + "\n"; string(data) != want {
		t.Errorf("user data %q, want %q", data, want)
	}
	if strings.Contains(stderr, "/srv/app/boot") {
		t.Errorf("the user data reached the log:\n%s", stderr)
	}
}

// TestLaunchConfigurationsPerGroupNameTheCommit: an environment with
// several groups on launch configurations gets one per group (role
// suffix); the next plan still reads the deployed commit from them, so a
// code-only change stays serial instead of falling back to full.
func TestLaunchConfigurationsPerGroupNameTheCommit(t *testing.T) {
	p := newProject(t, 1)
	addLegacyEnv(t, p, true)
	next := p.push("Speed up the cart", map[string]string{"app.py": "2\n"})
	p.work.Git("push", "-q", "origin", "main:legacy")
	code, stdout, stderr := runFerry(t, "deploy", "-c", p.config, "legacy", "--commit", next)
	if code != exitOK {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, role := range []string{"web", "worker"} {
		name := launchSourceOf(t, p.sim.URL, "shop-legacy-"+role)
		if !strings.HasPrefix(name, "shop-legacy-"+next[:12]+"-") || !strings.HasSuffix(name, "-"+role) {
			t.Errorf("the %s group runs %q, want its own launch configuration for %s", role, name, next[:12])
		}
	}

	third := p.push("Tidy the templates", map[string]string{"app.py": "3\n"})
	p.work.Git("push", "-q", "origin", "main:legacy")
	code, stdout, stderr = runFerry(t, "plan", "-c", p.config, "legacy", "--commit", third, "--json")
	var js struct {
		Method   string
		Deployed struct{ Commit string }
		Reasons  []struct{ Rule string }
		Warnings []string
	}
	if err := json.Unmarshal([]byte(stdout), &js); err != nil || code != exitChanges {
		t.Fatalf("plan --json: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	if js.Deployed.Commit != next || js.Method != "serial" || slices.ContainsFunc(js.Warnings, func(w string) bool { return strings.Contains(w, "launch source") }) {
		t.Errorf("next plan: deployed %q, method %s, reasons %+v, warnings %q; want %s deployed, serial, no doubt about the launch source",
			js.Deployed.Commit, js.Method, js.Reasons, js.Warnings, next)
	}
}
