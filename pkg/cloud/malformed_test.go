package cloud_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
)

// TestMalformedIDsArePermanent: EC2 answers an id that is not of its
// type's form (i-123, ami-xyz: not the prefix and 8 or 17 hexadecimal
// digits [resource-ids]) with *.Malformed, HTTP 400 [errors-overview],
// where a well-formed id it does not know is *.NotFound. Ferry reads
// NotFound as "gone" or "not visible yet" (eventual consistency: a
// builder's id right after its launch is waited for); a malformed id is
// neither and never becomes known, so the client fails at once: not
// ErrNotFound, not transient, and not retried (one call each, with three
// attempts allowed).
func TestMalformedIDsArePermanent(t *testing.T) {
	srv := testutil.StartSim(t, awssim.Options{Second: 5 * time.Millisecond, BootDelay: 30 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c := newClient(t, ctx, srv.URL, 3)

	for _, tc := range []struct {
		name, action, code string
		call               func() error
	}{
		{"Machine", "ec2:DescribeInstances", "InvalidInstanceID.Malformed", func() error {
			_, err := c.Machine(ctx, "i-123")
			return err
		}},
		{"Image", "ec2:DescribeImages", "InvalidAMIID.Malformed", func() error {
			_, err := c.Image(ctx, "ami-xyz")
			return err
		}},
		{"DeleteImage", "ec2:DescribeImages", "InvalidAMIID.Malformed", func() error {
			return c.DeleteImage(ctx, "ami-xyz")
		}},
		{"TerminateInstances", "ec2:TerminateInstances", "InvalidInstanceID.Malformed", func() error {
			return c.TerminateInstances(ctx, []string{"i-123"})
		}},
		{"DeleteSecurityGroup", "ec2:DeleteSecurityGroup", "InvalidGroupId.Malformed", func() error {
			return c.DeleteSecurityGroup(ctx, "sg-1")
		}},
		{"LaunchTemplateVersion", "ec2:DescribeLaunchTemplateVersions", "InvalidLaunchTemplateId.Malformed", func() error {
			_, err := c.LaunchTemplateVersion(ctx, cloud.LaunchTemplateRef{ID: "lt-bogus", Version: "1"})
			return err
		}},
	} {
		srv.ResetCounts()
		err := tc.call()
		switch {
		case err == nil:
			t.Errorf("%s: no error", tc.name)
		case cloud.APIErrorCode(err) != tc.code:
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		case errors.Is(err, cloud.ErrNotFound):
			t.Errorf("%s: %v is ErrNotFound", tc.name, err)
		case cloud.IsTransient(err):
			t.Errorf("%s: %v is transient", tc.name, err)
		}
		if n := srv.Counts()[tc.action]; n != 1 {
			t.Errorf("%s: %d calls of %s, want 1 (not retried)", tc.name, n, tc.action)
		}
	}

	// The same calls with well-formed ids EC2 does not know: gone, as
	// before.
	if _, err := c.Machine(ctx, "i-0000000000000dead"); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("Machine of an unknown instance: %v, want ErrNotFound", err)
	}
	if err := c.TerminateInstances(ctx, []string{"i-0000000000000dead"}); err != nil {
		t.Errorf("TerminateInstances of an unknown instance: %v, want none (already gone)", err)
	}
	if err := c.DeleteSecurityGroup(ctx, "sg-0000000000000dead"); err != nil {
		t.Errorf("DeleteSecurityGroup of an unknown group: %v, want none (already gone)", err)
	}
	if _, err := c.LaunchTemplateVersion(ctx, cloud.LaunchTemplateRef{ID: "lt-0000000000000dead", Version: "1"}); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("LaunchTemplateVersion of an unknown template: %v, want ErrNotFound", err)
	}
}
