// Command biggroup measures, from outside, deploys of one large web group:
// `ferry deploy -c FILE staging --yes` (the built binary, as a user runs
// it) against `ferry sim` run as its own process, for a group of N
// instances behind one classic load balancer and one target group, with a
// full deploy and a serial deploy in batches. Each run builds its own
// world (git remote, simulator, group, state dir), brings the agent's
// mirror up to date with `ferry plan`, pushes one commit, resets the
// simulator's counts and measures the deploy:
//
//   - AWS calls by API (the simulator's /_awssim/counts), split into
//     changes and describes, and the looks at AWS (DescribeAutoScalingGroups);
//   - the deploying process's CPU time (user+sys, itself and the git
//     processes it waits for, read from /proc/PID/stat once it has exited
//     and before it is reaped) and peak RSS (VmHWM, sampled every 20 ms);
//   - wall time, the time the deploy's log says it spent waiting for AWS
//     state ("done waiting … elapsed"), and the difference: the agent's own
//     time per deploy.
//
// One markdown table row per size and method (JSON with -json).
//
//	bench/biggroup.sh -sizes 4,50,200 -methods full,serial
//	go run ./bench/biggroup -ferry /tmp/ferry -sizes 4 -methods serial -batch 1
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/bench/internal/benchproc"
)

// options are the command line.
type options struct {
	sizes     []int
	methods   []string
	batch     int
	ferry     string
	sim       string
	second    time.Duration
	bootDelay time.Duration
	shutdown  time.Duration
	tick      time.Duration
	poll      time.Duration
	timeout   time.Duration
	keep      bool
	json      bool
}

const (
	methodFull   = "full"
	methodSerial = "serial"
)

func main() { benchproc.Main("biggroup", parseFlags, run) }

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("biggroup", flag.ContinueOnError)
	var o options
	sizes := fs.String("sizes", "4,50,200", "instances in the web group, comma separated (one world per size and method)")
	methods := fs.String("methods", "full,serial", "deploy methods, comma separated: full, serial")
	fs.IntVar(&o.batch, "batch", 20, "policy.serial_batch_size of the serial deploy")
	fs.StringVar(&o.ferry, "ferry", "", "the ferry binary whose `ferry deploy` is measured (required; bench/biggroup.sh builds HEAD's)")
	fs.StringVar(&o.sim, "sim", "", "the ferry binary that runs `ferry sim` (default: -ferry)")
	fs.DurationVar(&o.second, "second", 20*time.Millisecond, "ferry sim --second: one AWS second (health checks, grace periods, draining)")
	fs.DurationVar(&o.bootDelay, "boot-delay", 600*time.Millisecond, "ferry sim --boot-delay: pending → running (30 AWS seconds at the default -second)")
	fs.DurationVar(&o.shutdown, "shutdown-delay", 40*time.Millisecond, "ferry sim --shutdown-delay: shutting-down → terminated")
	fs.DurationVar(&o.tick, "tick", 20*time.Millisecond, "ferry sim --tick: the simulator's control loop period")
	fs.DurationVar(&o.poll, "poll", 100*time.Millisecond, "policy.poll_interval (5 s, AWS's default here, scaled by -second)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "bound on each run (world, deploy and clean-up)")
	fs.BoolVar(&o.keep, "keep", false, "keep each run's work directory (config, logs, remote, state dir)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON after the tables")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if o.sizes, err = parseSizes(*sizes); err != nil {
		return o, fmt.Errorf("-sizes: %w", err)
	}
	if o.methods, err = parseMethods(*methods); err != nil {
		return o, fmt.Errorf("-methods: %w", err)
	}
	if o.ferry == "" {
		return o, errors.New("-ferry: the ferry binary to measure is required")
	}
	if o.sim == "" {
		o.sim = o.ferry
	}
	if o.batch < 1 {
		return o, errors.New("-batch must be at least 1")
	}
	if o.second <= 0 || o.tick <= 0 || o.poll <= 0 || o.bootDelay < 0 || o.shutdown < 0 || o.timeout < time.Minute {
		return o, errors.New("-second, -tick and -poll must be positive, the delays not negative, -timeout at least 1m")
	}
	return o, nil
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 || v > 1000 {
			return nil, fmt.Errorf("%q is not a group size (1-1000)", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseMethods(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		switch m := strings.TrimSpace(f); m {
		case methodFull, methodSerial:
			out = append(out, m)
		default:
			return nil, fmt.Errorf("%q: use %s or %s", f, methodFull, methodSerial)
		}
	}
	return out, nil
}

// run measures every size and method in turn and prints the tables.
func run(ctx context.Context, o options) error {
	version, err := benchproc.FerryVersion(ctx, o.ferry)
	if err != nil {
		return err
	}
	var results []result
	for _, n := range o.sizes {
		for _, m := range o.methods {
			logf("== %d instance(s), %s deploy, agent %s", n, m, version)
			r, err := runOne(ctx, o, n, m)
			if err != nil {
				return fmt.Errorf("%d instances, %s: %w", n, m, err)
			}
			results = append(results, r)
			printTable(os.Stderr, results[len(results)-1:]) // progress, in case a later run fails
		}
	}
	fmt.Fprintf(os.Stdout, "Agent %s; ferry sim --second %s --boot-delay %s --shutdown-delay %s --tick %s; poll_interval %s; serial batches of %d; %s; load before the runs %s.\n\n",
		version, o.second, o.bootDelay, o.shutdown, o.tick, o.poll, o.batch, time.Now().UTC().Format("2006-01-02"), results[0].LoadBefore)
	printTable(os.Stdout, results)
	printCalls(os.Stdout, results)
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	return nil
}

// runOne builds one world, deploys once and measures it, bounded in time
// whatever happens.
func runOne(ctx context.Context, o options, n int, method string) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	w, err := newWorld(o, n, method)
	if err != nil {
		return result{}, err
	}
	defer w.close()
	if err := w.setUp(ctx); err != nil {
		return result{}, err
	}
	return w.deploy(ctx)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
