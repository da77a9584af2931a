package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// TestDescribe runs ferry describe as a process: text and JSON name the
// group's sizes, its launch source, image and commit, and each instance
// with its address, zone, commit and health in the balancer; listed hosts
// show under their role.
func TestDescribe(t *testing.T) {
	p, first := newProject(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	doc, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	doc = []byte(strings.Replace(string(doc), "ssh.user = \"deploy\"\n", "ssh.user = \"deploy\"\nhosts.cache = [\"10.0.9.9\"]\n", 1))
	if err := os.WriteFile(p.config, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := p.cloud.Group(ctx, group, []string{balancer}, nil)
	if err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := p.ferry(ctx, "describe", "-c", p.config, "staging", "--json")
	if code != 0 {
		t.Fatalf("describe --json: exit %d\n%s", code, stderr)
	}
	var d struct {
		Env   string `json:"env"`
		Roles []struct {
			Role  string   `json:"role"`
			Hosts []string `json:"hosts"`
			Group *struct {
				Name      string `json:"name"`
				Desired   int    `json:"desired"`
				Min       int    `json:"min"`
				Max       int    `json:"max"`
				Source    string `json:"launch_source"`
				Image     string `json:"image"`
				Commit    string `json:"commit"`
				Instances []struct {
					ID        string            `json:"id"`
					Address   string            `json:"address"`
					Zone      string            `json:"zone"`
					Commit    string            `json:"commit"`
					Lifecycle string            `json:"lifecycle"`
					Balancers map[string]string `json:"balancers"`
				} `json:"instances"`
			} `json:"group"`
		} `json:"roles"`
	}
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if d.Env != "staging" || len(d.Roles) != 2 || d.Roles[0].Role != "web" || d.Roles[0].Group == nil {
		t.Fatalf("roles %+v, want web (a group) and cache (hosts)", d.Roles)
	}
	web := d.Roles[0].Group
	if web.Name != group || web.Desired != g.DesiredCapacity || web.Min != g.MinSize || web.Max != g.MaxSize ||
		!strings.HasPrefix(first, web.Commit) || web.Commit == "" || !strings.HasPrefix(web.Image, "ami-") {
		t.Errorf("web group %+v", web)
	}
	if len(web.Instances) != 2 {
		t.Fatalf("%d instances, want 2", len(web.Instances))
	}
	for i, inst := range web.Instances {
		if inst.ID != g.Instances[i].ID || inst.Address != g.Instances[i].PrivateIP || inst.Zone == "" ||
			inst.Lifecycle != "InService" || inst.Balancers[balancer] != "InService" || !strings.HasPrefix(first, inst.Commit) {
			t.Errorf("instance %+v, want %s of commit %s serving in %s", inst, g.Instances[i].ID, first[:12], balancer)
		}
	}
	if c := d.Roles[1]; c.Role != "cache" || len(c.Hosts) != 1 || c.Hosts[0] != "10.0.9.9" || c.Group != nil {
		t.Errorf("cache role %+v", c)
	}

	code, stdout, stderr = p.ferry(ctx, "describe", "-c", p.config, "staging")
	if code != 0 {
		t.Fatalf("describe: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{group + " desired 2 min", g.Instances[0].ID, g.Instances[0].PrivateIP, balancer + "=InService", "10.0.9.9", first[:12]} {
		if !strings.Contains(stdout, want) {
			t.Errorf("describe lacks %q:\n%s", want, stdout)
		}
	}
	if code, _, stderr := p.ferry(ctx, "describe", "-c", p.config, "nowhere"); code != 64 || !strings.Contains(stderr, `no environment "nowhere"`) {
		t.Errorf("describe of an unknown environment: exit %d\n%s", code, stderr)
	}
}
