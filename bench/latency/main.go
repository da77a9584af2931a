// Command latency measures push-to-deploy latency from outside: the time
// from `git push` returning to the deploy's first AWS call that changes
// something, as the simulator received it. The built ferry binary runs as
// the agent (`ferry run`) against `ferry sim` (fast clock) and a stock git
// daemon serving the repository; one environment, a web group of one
// instance behind a classic balancer. Each push commits a change with the
// git CLI at a random moment, pushes it to the environment's branch, and
// (webhook mode) sends a GitHub-style push webhook signed with HMAC-SHA256
// to the agent's /hooks/git, as a forge does after a push. The first
// mutating call (any action but Describe*, Get*, List*) received after the
// push returned is read from the simulator's GET /_awssim/calls. The tool
// then waits for that deploy to finish, so that every push finds the agent
// at rest, and reads the agent's log for where the time went: until the
// agent saw the new commit ("new target"), until the deploy's first step,
// until the first call.
//
// Modes: webhook (polling at its default as a fallback), poll-1s
// (project.git.poll_interval = "1s"), poll-default (no poll_interval: the
// agent's default, 1m). Pushes come at a random moment: after a pause
// drawn uniformly from [0, interval) (1 s in webhook mode), so that they
// fall anywhere in the poll cycle.
//
//	bench/latency.sh -pushes 100 -default-pushes 5
//	go run ./bench/latency -ferry /tmp/ferry -modes webhook -pushes 10
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/bench/internal/benchproc"
)

// The modes.
const (
	modeWebhook     = "webhook"
	modePoll1s      = "poll-1s"
	modePollDefault = "poll-default"
)

// options are the command line.
type options struct {
	modes           []string
	pushes          int // per mode, but poll-default
	defaultPushes   int // poll-default
	defaultInterval time.Duration
	ferry, sim      string
	second          time.Duration
	bootDelay       time.Duration
	tick            time.Duration
	poll            time.Duration // policy.poll_interval (AWS looks during a deploy)
	seed            int64
	timeout         time.Duration
	keep, json      bool
}

func main() { benchproc.Main("latency", parseFlags, run) }

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	var o options
	modes := fs.String("modes", "webhook,poll-1s,poll-default", "comma separated: webhook, poll-1s, poll-default")
	fs.IntVar(&o.pushes, "pushes", 100, "pushes measured in the webhook and poll-1s modes")
	fs.IntVar(&o.defaultPushes, "default-pushes", 5, "pushes measured at the default poll interval (each takes up to a minute)")
	fs.DurationVar(&o.defaultInterval, "default-interval", time.Minute, "the agent's default project.git.poll_interval, for the pauses between pushes and the goal (the config leaves it unset)")
	fs.StringVar(&o.ferry, "ferry", "", "the ferry binary run as the agent (required; bench/latency.sh builds this checkout's)")
	fs.StringVar(&o.sim, "sim", "", "the ferry binary that runs `ferry sim` (default: -ferry)")
	fs.DurationVar(&o.second, "second", 2*time.Millisecond, "ferry sim --second: one AWS second (keeps each deploy short)")
	fs.DurationVar(&o.bootDelay, "boot-delay", 20*time.Millisecond, "ferry sim --boot-delay")
	fs.DurationVar(&o.tick, "tick", 5*time.Millisecond, "ferry sim --tick")
	fs.DurationVar(&o.poll, "poll", 20*time.Millisecond, "policy.poll_interval: how often a deploy looks at AWS while it waits")
	fs.Int64Var(&o.seed, "seed", 0, "seed of the random pauses (0: from the clock)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "bound on each mode's run")
	fs.BoolVar(&o.keep, "keep", false, "keep each mode's work directory (config, agent.log, sim.log, remote)")
	fs.BoolVar(&o.json, "json", false, "print every sample as JSON after the tables")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	for _, f := range strings.Split(*modes, ",") {
		switch m := strings.TrimSpace(f); m {
		case modeWebhook, modePoll1s, modePollDefault:
			o.modes = append(o.modes, m)
		default:
			return o, fmt.Errorf("-modes: %q: use %s, %s or %s", f, modeWebhook, modePoll1s, modePollDefault)
		}
	}
	if o.ferry == "" {
		return o, errors.New("-ferry: the ferry binary to measure is required")
	}
	if o.sim == "" {
		o.sim = o.ferry
	}
	if o.pushes < 1 || o.defaultPushes < 1 {
		return o, errors.New("-pushes and -default-pushes must be at least 1")
	}
	if o.second <= 0 || o.tick <= 0 || o.poll <= 0 || o.bootDelay < 0 || o.defaultInterval <= 0 || o.timeout < time.Minute {
		return o, errors.New("-second, -tick, -poll and -default-interval must be positive, -boot-delay not negative, -timeout at least 1m")
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano()
	}
	return o, nil
}

// interval is how often the agent polls the remote in a mode: the bound
// of the random pause before each push and of the goal.
func (o options) interval(mode string) time.Duration {
	switch mode {
	case modePoll1s:
		return time.Second
	case modePollDefault:
		return o.defaultInterval
	}
	return time.Second // webhook: pushes spread over a second
}

// goal is issue 18's bound on p99: 1 s with the webhook, the interval
// plus 1 s without.
func (o options) goal(mode string) time.Duration {
	if mode == modeWebhook {
		return time.Second
	}
	return o.interval(mode) + time.Second
}

func (o options) pushesFor(mode string) int {
	if mode == modePollDefault {
		return o.defaultPushes
	}
	return o.pushes
}

func run(ctx context.Context, o options) error {
	version, err := benchproc.FerryVersion(ctx, o.ferry)
	if err != nil {
		return err
	}
	load := benchproc.LoadAverage()
	var results []result
	for i, mode := range o.modes {
		logf("== %s: %d push(es), agent %s", mode, o.pushesFor(mode), version)
		r, err := runMode(ctx, o, mode, o.seed+int64(i))
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		results = append(results, r)
		printTable(os.Stderr, o, results[len(results)-1:])
	}
	fmt.Fprintf(os.Stdout, "Agent %s; ferry sim --second %s --boot-delay %s --tick %s; policy.poll_interval %s; seed %d; %s; load %s before, %s after.\n\n",
		version, o.second, o.bootDelay, o.tick, o.poll, o.seed, time.Now().UTC().Format("2006-01-02"), load, benchproc.LoadAverage())
	printTable(os.Stdout, o, results)
	printBreakdown(os.Stdout, results)
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	return nil
}

// runMode builds one world for a mode and measures its pushes, bounded in
// time whatever happens.
func runMode(ctx context.Context, o options, mode string, seed int64) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	w, err := newWorld(o, mode)
	if err != nil {
		return result{}, err
	}
	defer w.close()
	if err := w.setUp(ctx); err != nil {
		return result{}, err
	}
	return w.measure(ctx, seed)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
