package awssim

import (
	"context"
	"net/http"
	"time"
)

// Clock tells the simulator what time it is. Every delay of the simulator
// (boot, image build, health-check interval, grace period, deregistration
// delay) is measured against it, so a test can supply its own.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Instance describes a simulated EC2 instance to an InstanceApp.
type Instance struct {
	ID             string
	PrivateIP      string
	ImageID        string
	InstanceType   string
	UserData       string
	LaunchConfig   string // launch configuration name, if launched from one
	LaunchTemplate string // "lt-…:N", if launched from a launch template version
	Tags           map[string]string
}

// InstanceApp supplies the HTTP application an instance runs. It is called
// when the instance enters the running state; the simulator serves the
// returned handler on the instance's own loopback address until the instance
// terminates. Returning a nil handler means the instance serves nothing
// (connections are refused, so HTTP health checks fail).
type InstanceApp func(ctx context.Context, inst Instance) (http.Handler, error)

// Options configures a simulator. The zero value is usable: see
// (Options).withDefaults for the defaults.
type Options struct {
	// Listen is the address Run serves the AWS APIs on (default
	// 127.0.0.1:0). The flag of `ferry sim` is --listen.
	Listen string
	// StateFile, when set, is where the simulated account is saved (JSON,
	// written atomically) and read back at start. The flag is --state.
	StateFile string

	Region    string // default us-east-1
	AccountID string // default 123456789012
	// AvailabilityZones of the region (default us-east-1a, us-east-1b, us-east-1c).
	AvailabilityZones []string

	// PublicImages are AMIs the account may launch besides its own and
	// DebianImage (stub backend only): RunInstances of any other id is
	// InvalidAMIID.NotFound, as on AWS. Each id must be one EC2 could give
	// (ami- and 8 or 17 lowercase hexadecimal digits; New refuses others).
	PublicImages []PublicImage

	// Clock defaults to the wall clock.
	Clock Clock
	// Tick is how often the control loop runs (default 100ms).
	Tick time.Duration
	// Second is how long one AWS "second" lasts in the simulator: every
	// duration that the APIs express in seconds (health-check Interval and
	// Timeout, HealthCheckGracePeriod, deregistration delay) is multiplied
	// by it. Default 1s; tests use a few milliseconds.
	Second time.Duration
	// BootDelay is how long an instance stays pending (default 20s). For
	// this and the two delays below, a negative value means none.
	BootDelay time.Duration
	// ShutdownDelay is how long an instance stays shutting-down (default 2s).
	ShutdownDelay time.Duration
	// ImageBuildTime is how long CreateImage's image stays pending (default 30s).
	ImageBuildTime time.Duration
	// TerminatedRetention is how long terminated instances stay visible to
	// DescribeInstances (default 1h, as on AWS).
	TerminatedRetention time.Duration
	// AdministrativeSuspension is how long a group may fail every launch
	// before the simulator suspends its Launch process, as AWS does
	// ("administrative suspension", as-suspend-resume-processes). Measured
	// on the Clock; default 24h, negative never.
	AdministrativeSuspension time.Duration
	// SaveInterval is how often a changed state is written to StateFile
	// (default 1s).
	SaveInterval time.Duration

	// App, when set, gives each instance a real HTTP application on its
	// loopback address; load balancer health checks then are real HTTP
	// requests to it. Without it health checks pass for running instances.
	App InstanceApp

	// Machines makes every instance a Debian machine booted with
	// systemd-nspawn on a network namespace of Ferry's own
	// (internal/awssim/machines) instead of a stub on loopback: images
	// are filesystem layers, key pairs and user data reach the machine,
	// and balancers check and forward to its real ports. It needs root,
	// overlayfs, debootstrap, systemd-nspawn and nsenter. BootDelay,
	// ShutdownDelay, ImageBuildTime and App do not apply: an instance is
	// running when its systemd is, terminated when it has powered off,
	// and an image available when its layer is written. The flag is
	// --machines.
	Machines bool
	// MachineCacheDir keeps the machines' images between runs (default
	// /var/cache/ferry/machines; --cache-dir).
	MachineCacheDir string
	// MachineStateDir holds the running machines' writable layers and
	// consoles (default /var/lib/ferry/machines).
	MachineStateDir string
	// StackImage (with Machines) also registers the stack image: the base
	// with every package of Ferry's server roles (machines.StackRecipe),
	// tagged StackImageTag. It is built on first use (a few minutes) and
	// cached. The flag is --stack.
	StackImage bool

	// Faults are the initial fault rules (see Fault); more can be set with
	// (*Sim).SetFault.
	Faults []Fault
	// Seed seeds the simulator's randomness (fault rates, the default
	// termination policy's last tie-break). 0 means 1.
	Seed int64
}

func (o Options) withDefaults() Options {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	if len(o.AvailabilityZones) == 0 {
		o.AvailabilityZones = []string{o.Region + "a", o.Region + "b", o.Region + "c"}
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Tick <= 0 {
		o.Tick = 100 * time.Millisecond
	}
	if o.Second <= 0 {
		o.Second = time.Second
	}
	if o.BootDelay < 0 {
		o.BootDelay = 0
	} else if o.BootDelay == 0 {
		o.BootDelay = 20 * time.Second
	}
	if o.ShutdownDelay < 0 {
		o.ShutdownDelay = 0
	} else if o.ShutdownDelay == 0 {
		o.ShutdownDelay = 2 * time.Second
	}
	if o.ImageBuildTime < 0 {
		o.ImageBuildTime = 0
	} else if o.ImageBuildTime == 0 {
		o.ImageBuildTime = 30 * time.Second
	}
	if o.TerminatedRetention == 0 {
		o.TerminatedRetention = time.Hour
	}
	if o.AdministrativeSuspension == 0 {
		o.AdministrativeSuspension = 24 * time.Hour
	}
	if o.SaveInterval <= 0 {
		o.SaveInterval = time.Second
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// secs converts an API value in seconds to simulator time.
func (o Options) secs(n int) time.Duration { return time.Duration(n) * o.Second }
