package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// TestStatusAndPlanAgreeOnDeployed: ferry status, ferry plan and the agent
// share one definition of the deployed commit. A group tagged with the
// wanted commit by hand, while its launch source still names the old one,
// runs an unknown commit: plan says a full deploy is needed, so status must
// not say "in sync" (it did, when it read the tag alone).
func TestStatusAndPlanAgreeOnDeployed(t *testing.T) {
	p := newProject(t, 1)
	next := p.push("Speed up the cart", map[string]string{"app.py": "2\n"})
	c := simenv.Connect(p.sim.URL)
	if _, err := c.ASG.CreateOrUpdateTags(t.Context(), &autoscaling.CreateOrUpdateTagsInput{Tags: []astypes.Tag{{
		Key: aws.String(plan.TagCommit), Value: aws.String(next), ResourceId: aws.String("shop-staging-web"),
		ResourceType: aws.String("auto-scaling-group"), PropagateAtLaunch: aws.Bool(true),
	}}}); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runFerry(t, "plan", "-c", p.config, "staging", "--json")
	var pl plan.Plan
	if err := json.Unmarshal([]byte(stdout), &pl); code != exitChanges || err != nil {
		t.Fatalf("plan: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	if !pl.Deployed.Commit.IsZero() || pl.Method != plan.Full || pl.Reasons[0].Rule != plan.RuleUnknownDeployed {
		t.Errorf("plan: deployed %+v, method %s, reasons %+v; want unknown, full as %s", pl.Deployed, pl.Method, pl.Reasons, plan.RuleUnknownDeployed)
	}

	code, stdout, _ = runFerry(t, "status", "-c", p.config, "staging")
	if code != exitFailure || !strings.Contains(stdout, "NOT in sync") || !strings.Contains(stdout, "tag and launch source disagree") {
		t.Errorf("status of a group whose tag its launch source does not confirm: exit %d\n%s", code, stdout)
	}
}
