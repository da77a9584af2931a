package awssim

import (
	"flag"
	"fmt"
)

// RegisterFlags binds the options `ferry sim` exposes to fs, with o's
// current values as defaults:
//
//	--listen ADDR          API address (default 127.0.0.1:0)
//	--state FILE           account state file (default none)
//	--region NAME          region (default us-east-1)
//	--tick D               control loop period
//	--second D             length of one AWS second (e.g. 100ms to run 10× faster)
//	--boot-delay D         pending → running
//	--image-build-time D   image pending → available
//	--shutdown-delay D     shutting-down → terminated
//	--app demo|none        the app instances run (default demo: DemoApp)
//	--app-root DIR         each demo instance's files: DIR/<private ip>/
//	                       (upgrade.html there puts the upgrade page up)
//	--seed N               randomness
//	--machines             instances are Debian machines (Options.Machines)
//	--cache-dir DIR        where the machines' images are kept
//	--stack                with --machines, also the stack image (every role's packages)
//
// pflag users can add it with (*pflag.FlagSet).AddGoFlagSet.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	d := o.withDefaults()
	if o.Listen == "" {
		o.Listen = d.Listen
	}
	fs.StringVar(&o.Listen, "listen", o.Listen, "address to serve the AWS APIs on")
	fs.StringVar(&o.StateFile, "state", o.StateFile, "file that keeps the simulated account across restarts")
	fs.StringVar(&o.Region, "region", d.Region, "region the simulator answers for")
	fs.DurationVar(&o.Tick, "tick", d.Tick, "control loop period")
	fs.DurationVar(&o.Second, "second", d.Second, "length of one AWS second (health-check intervals, grace periods, delays)")
	fs.DurationVar(&o.BootDelay, "boot-delay", d.BootDelay, "how long instances stay pending")
	fs.DurationVar(&o.ImageBuildTime, "image-build-time", d.ImageBuildTime, "how long new images stay pending")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", d.ShutdownDelay, "how long instances stay shutting-down")
	fs.Int64Var(&o.Seed, "seed", d.Seed, "seed of the simulator's randomness")
	fs.BoolVar(&o.Machines, "machines", o.Machines, "make every instance a Debian machine booted with systemd-nspawn (needs root, debootstrap, systemd-container)")
	fs.StringVar(&o.MachineCacheDir, "cache-dir", o.MachineCacheDir, "where --machines keeps its images (default /var/cache/ferry/machines)")
	fs.BoolVar(&o.StackImage, "stack", o.StackImage, "with --machines, also register the stack image: the base with every server role's Debian packages (built once, a few minutes)")
	if o.App == nil {
		o.App = DemoApp
	}
	var app, root = "demo", ""
	fs.Func("app", "app each instance runs: demo (default) or none", func(v string) error {
		switch v {
		case "demo", "none":
			app = v
		default:
			return fmt.Errorf("unknown app %q (demo or none)", v)
		}
		o.App = demoApp(app, root)
		return nil
	})
	fs.Func("app-root", "directory holding each demo instance's files in <private ip>/; while <ip>/"+UpgradePage+" exists the instance serves it with 503 (the upgrade page)", func(v string) error {
		if v == "" {
			return fmt.Errorf("--app-root needs a directory")
		}
		root = v
		o.App = demoApp(app, root)
		return nil
	})
}

func demoApp(app, root string) InstanceApp {
	if app == "none" {
		return nil
	}
	return DemoAppWithRoot(root)
}
