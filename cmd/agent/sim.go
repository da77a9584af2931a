package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
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
		Use:   "sim [--listen ADDR] [--state FILE] [--machines] [-- CMD [ARG...]]",
		Short: "Run the AWS simulator Ferry's tests and demo use",
		Long: `Sim serves a simulated AWS account — EC2, Auto Scaling, Classic ELB and
ELBv2 over their real wire protocols — with a real Auto Scaling control loop,
instances on their own loopback addresses (127.1.0.0/16) and real HTTP load
balancer listeners. Point Ferry at it with aws.endpoint = "http://ADDR" in an
environment (any credentials are accepted).

With --machines every instance is a Debian machine booted with systemd-nspawn
(run as root; the base image is built with debootstrap the first time, about
90 s, and cached in --cache-dir) at its private address in the default VPC
(172.31.0.0/16) on a network namespace of its own, which the host has no
route into. After "--", CMD runs inside that namespace with AWS_ENDPOINT_URL
set (the API answers at the same URL there), so it can ssh admin@172.31.0.4;
the simulator stops when CMD exits, with CMD's exit status. Without
--machines, CMD runs on the host.

With --state FILE the simulated account is saved while it runs and read back
at start, so it outlives the agent and the simulator itself. The simulator
runs until interrupted (SIGTERM powers every machine off and removes what it
made but the images). See docs/awssim.md.`,
		Example: `  ferry sim --listen 127.0.0.1:4566 --state /tmp/ferry-sim.json
  ferry sim --boot-delay 2s --second 100ms
  ferry sim --app-root /tmp/instances   # touch /tmp/instances/127.1.0.1/upgrade.html: page up
  sudo ferry sim --machines -- bash     # a shell among the machines: ssh -i KEY admin@172.31.0.4`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && cmd.ArgsLenAtDash() != 0 {
				return noArgs(cmd, args[:max(cmd.ArgsLenAtDash(), 1)])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			srv, err := awssim.Start(opts, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "AWS simulator listening on %s\n", srv.URL)
			if len(args) == 0 {
				<-cmd.Context().Done()
				return srv.Close()
			}
			return runBeside(cmd, srv, args)
		},
	}
	cmd.Flags().AddGoFlagSet(simFlags)
	return cmd
}

// runBeside runs args as a command next to the simulator — inside the
// machines' namespace when there is one — then closes the simulator and
// exits with the command's status.
func runBeside(cmd *cobra.Command, srv *awssim.Server, args []string) error {
	ctx := cmd.Context()
	var c *exec.Cmd
	if n := srv.MachineNetwork(); n != nil {
		c = n.Command(ctx, args[0], args[1:]...)
	} else {
		c = exec.CommandContext(ctx, args[0], args[1:]...)
	}
	c.Env = append(os.Environ(), "AWS_ENDPOINT_URL="+srv.URL)
	c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	runErr := c.Run()
	if err := srv.Close(); err != nil {
		return err
	}
	var ee *exec.ExitError
	switch {
	case runErr == nil:
		return nil
	case errors.As(runErr, &ee):
		return exitError{code: max(ee.ExitCode(), 1)}
	default:
		return fmt.Errorf("sim: %w", runErr)
	}
}
