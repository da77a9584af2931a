// Command idlebench measures, from outside, an idle agent: `ferry run`
// watching one git repository with N environments that are all in sync, at
// default intervals, for a given duration. Each environment has its own
// branch, Auto Scaling group and classic load balancer on `ferry sim`, run
// as its own process. The agent is brought in sync first; then the
// simulator's call counts are reset and the run measures:
//
//   - the agent's RSS (VmRSS every second: start, end, peak);
//   - CPU in % of one core: the agent itself (utime+stime), the git
//     processes it starts and waits for (cutime+cstime), and, with a
//     git daemon, the daemon's own git processes (the server side);
//   - AWS calls per minute by API and the most calls in any one second
//     (the simulator's counts, read every second);
//   - the remote's refs and objects, and the agent's mirror and state dir,
//     before and after;
//   - the log lines the agent wrote while idle, by level.
//
// One markdown table row per N (JSON with -json).
//
//	bench/idle.sh -n 1,10,50 -duration 3m
//	go run ./bench/idlebench -ferry /tmp/ferry-before -n 10 -duration 1m
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
	envs     []int
	duration time.Duration
	settle   time.Duration
	ferry    string
	sim      string
	remote   string
	size     int
	keep     bool
	json     bool
}

const (
	remoteDaemon = "git-daemon"
	remoteFile   = "file"
)

func main() { benchproc.Main("idlebench", parseFlags, run) }

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("idlebench", flag.ContinueOnError)
	var o options
	n := fs.String("n", "1,10,50", "numbers of environments, comma separated (one run each, one after another)")
	fs.DurationVar(&o.duration, "duration", 3*time.Minute, "how long each run measures the idle agent")
	fs.DurationVar(&o.settle, "settle", 4*time.Minute, "how long to wait for every environment to be in sync before measuring (measured anyway after it)")
	fs.StringVar(&o.ferry, "ferry", "", "the ferry binary whose `ferry run` is measured (required; bench/idle.sh builds the checkout's)")
	fs.StringVar(&o.sim, "sim", "", "the ferry binary that runs `ferry sim` (default: -ferry)")
	fs.StringVar(&o.remote, "remote", remoteDaemon, "how the remote is served: git-daemon (git:// on 127.0.0.1, default settings plus receive-pack) or file")
	fs.IntVar(&o.size, "size", 1, "instances in each environment's web group")
	fs.BoolVar(&o.keep, "keep", false, "keep each run's work directory (config, logs, remote, state dir)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON after the table")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	envs, err := parseInts(*n)
	if err != nil {
		return o, fmt.Errorf("-n: %w", err)
	}
	o.envs = envs
	if o.ferry == "" {
		return o, errors.New("-ferry: the ferry binary to measure is required")
	}
	if o.sim == "" {
		o.sim = o.ferry
	}
	if o.remote != remoteDaemon && o.remote != remoteFile {
		return o, fmt.Errorf("-remote %q: use %s or %s", o.remote, remoteDaemon, remoteFile)
	}
	if o.duration < 10*time.Second || o.size < 1 {
		return o, errors.New("-duration must be at least 10s and -size at least 1")
	}
	return o, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 || v > 999 {
			return nil, fmt.Errorf("%q is not a number of environments (1-999)", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// run measures every N in turn and prints the table.
func run(ctx context.Context, o options) error {
	version, err := benchproc.FerryVersion(ctx, o.ferry)
	if err != nil {
		return err
	}
	var results []result
	for _, n := range o.envs {
		logf("== %d environment(s), %s remote, %s idle, agent %s", n, o.remote, o.duration, version)
		r, err := runOne(ctx, o, n)
		if err != nil {
			return fmt.Errorf("%d environments: %w", n, err)
		}
		r.Version = version
		results = append(results, r)
		printTable(os.Stderr, results[len(results)-1:]) // progress, in case a later run fails
	}
	fmt.Fprintf(os.Stdout, "Agent %s; %s remote; %s idle per run; git %s; %s.\n\n", version, o.remote, o.duration, gitVersion(ctx), time.Now().UTC().Format("2006-01-02"))
	printTable(os.Stdout, results)
	printCalls(os.Stdout, results)
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	return nil
}

// runOne sets up one world of n environments, waits for it to settle and
// measures it, bounded in time whatever happens.
func runOne(ctx context.Context, o options, n int) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute+o.settle+o.duration+2*time.Minute)
	defer cancel()
	w, err := newWorld(o, n)
	if err != nil {
		return result{}, err
	}
	defer w.close()
	if err := w.setUp(ctx); err != nil {
		return result{}, err
	}
	return w.measure(ctx)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
