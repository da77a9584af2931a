package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/internal/awssim"
)

func newSimCmd(logs *logOptions) *cobra.Command {
	var (
		opts awssim.Options
		app  string
	)
	cmd := &cobra.Command{
		Use:   "sim [--listen ADDR] [--state FILE]",
		Short: "Run the AWS simulator Ferry's tests and demo use",
		Long: `Sim serves a simulated AWS account — EC2, Auto Scaling, Classic ELB and
ELBv2 over their real wire protocols — with a real Auto Scaling control loop,
instances on their own loopback addresses (127.1.0.0/16) and real HTTP load
balancer listeners. Point Ferry at it with aws.endpoint = "http://ADDR" in an
environment (any credentials are accepted).

With --state FILE the simulated account is saved while it runs and read back
at start, so it outlives the agent and the simulator itself. The simulator
runs until interrupted. See docs/awssim.md.`,
		Example: `  ferry sim --listen 127.0.0.1:4566 --state /tmp/ferry-sim.json
  ferry sim --boot-delay 2s --second 100ms`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			switch app {
			case "demo":
				opts.App = awssim.DemoApp
			case "none":
			default:
				return usageError{cmd.CommandPath(), fmt.Errorf("--app %q: use demo or none", app)}
			}
			srv, err := awssim.Start(opts, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "AWS simulator listening on %s\n", srv.URL)
			<-cmd.Context().Done()
			return srv.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Listen, "listen", "127.0.0.1:4566", "address to serve the AWS APIs on")
	f.StringVar(&opts.StateFile, "state", "", "file to keep the simulated account in across restarts")
	f.DurationVar(&opts.BootDelay, "boot-delay", 5*time.Second, "how long an instance stays pending")
	f.DurationVar(&opts.Second, "second", time.Second, "how long one AWS second lasts (health-check intervals, grace periods)")
	f.StringVar(&app, "app", "demo", "what instances serve: demo (a page naming the instance, /healthcheck.html) or none")
	return cmd
}
