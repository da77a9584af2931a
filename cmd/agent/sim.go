package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/internal/awssim"
)

func newSimCmd(logs *logOptions) *cobra.Command {
	// The simulator's own flags (awssim.Options.RegisterFlags), with the
	// defaults of a simulator for people: a fixed port, quicker boots.
	opts := awssim.Options{Listen: "127.0.0.1:4566", BootDelay: 5 * time.Second}
	simFlags := flag.NewFlagSet("sim", flag.ContinueOnError)
	opts.RegisterFlags(simFlags)
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
  ferry sim --boot-delay 2s --second 100ms
  ferry sim --app-root /tmp/instances   # touch /tmp/instances/127.1.0.1/upgrade.html: page up`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
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
	cmd.Flags().AddGoFlagSet(simFlags)
	return cmd
}
