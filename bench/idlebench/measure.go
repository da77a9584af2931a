package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/bench/internal/benchproc"
)

// result is one run's figures.
type result struct {
	Version     string        `json:"version"`
	Envs        int           `json:"environments"`
	Remote      string        `json:"remote"`
	Duration    time.Duration `json:"duration_ns"`
	Settled     int           `json:"settled"` // environments in sync when measuring started
	SettleTime  time.Duration `json:"settle_ns"`
	InSyncAtEnd int           `json:"in_sync_at_end"`
	NotInSync   []envState    `json:"not_in_sync_at_end,omitempty"`

	RSSStartKiB int64 `json:"rss_start_kib"`
	RSSEndKiB   int64 `json:"rss_end_kib"`
	RSSPeakKiB  int64 `json:"rss_peak_kib"`

	// CPU in % of one core over the run.
	AgentCPU  float64 `json:"agent_cpu_pct"`
	ChildCPU  float64 `json:"agent_git_children_cpu_pct"`
	DaemonCPU float64 `json:"git_daemon_cpu_pct"` // git daemon and the git it serves with; 0 for file://

	Calls          map[string]int `json:"aws_calls"` // by service:Action over the run
	CallsTotal     int            `json:"aws_calls_total"`
	MaxCallsPerSec int            `json:"aws_max_calls_in_one_second"`
	BusySeconds    int            `json:"aws_seconds_with_calls"`

	RemoteBefore repoStats `json:"remote_before"`
	RemoteAfter  repoStats `json:"remote_after"`
	StateBefore  dirStats  `json:"state_before"`
	StateAfter   dirStats  `json:"state_after"`

	LogLines  map[string]int `json:"log_lines"` // by level, written while measured
	Deploying int            `json:"deploying_state_lines"`
	Problems  []problem      `json:"problems,omitempty"` // WARN and ERROR lines, grouped
}

// repoStats describe the remote's bare repository.
type repoStats struct {
	Refs         int   `json:"refs"`
	LooseObjects int   `json:"loose_objects"`
	LooseKiB     int64 `json:"loose_kib"`
	PackedObjs   int   `json:"packed_objects"`
	Packs        int   `json:"packs"`
	PackKiB      int64 `json:"pack_kib"`
}

// dirStats describe the agent's state dir.
type dirStats struct {
	MirrorBytes int64 `json:"mirror_bytes"`
	MirrorFiles int   `json:"mirror_files"`
	StateFiles  int   `json:"state_files"`
}

// problem is a WARN or ERROR message and how often it was logged.
type problem struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Err   string `json:"err,omitempty"`
	Count int    `json:"count"`
}

// measure waits for the environments to settle, then measures the idle
// agent for the run's duration.
func (w *world) measure(ctx context.Context) (result, error) {
	r := result{Envs: w.n, Remote: w.o.remote, Duration: w.o.duration}
	var err error
	if r.Settled, r.SettleTime, err = w.settle(ctx); err != nil {
		return r, err
	}
	logf("%d of %d in sync after %s; measuring for %s", r.Settled, w.n, r.SettleTime.Round(time.Second), w.o.duration)
	if r.RemoteBefore, err = w.remoteStats(ctx); err != nil {
		return r, err
	}
	if r.StateBefore, err = stateStats(w.stateDir); err != nil {
		return r, err
	}
	if err := w.resetCounts(ctx); err != nil {
		return r, err
	}
	logStart, err := fileSize(w.agentLog)
	if err != nil {
		return r, err
	}
	s, err := w.sample(ctx)
	if err != nil {
		return r, err
	}
	s.fill(&r, benchproc.ClockTicks(ctx))
	if r.RemoteAfter, err = w.remoteStats(ctx); err != nil {
		return r, err
	}
	if r.StateAfter, err = stateStats(w.stateDir); err != nil {
		return r, err
	}
	if r.LogLines, r.Deploying, r.Problems, err = readLog(w.agentLog, logStart); err != nil {
		return r, err
	}
	r.InSyncAtEnd, r.NotInSync, err = w.inSyncAtEnd(ctx)
	return r, err
}

// inSyncAtEnd counts the environments in sync once no re-check is under
// way: the end of a run may fall on the agent's once-a-minute re-check,
// which shows every environment "deploying" for a moment.
func (w *world) inSyncAtEnd(ctx context.Context) (int, []envState, error) {
	var n int
	var other []envState
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := benchproc.WaitFor(wctx, 500*time.Millisecond, "a re-check to end", func() (bool, error) {
		var err error
		if n, other, err = w.inSync(ctx); err != nil {
			return false, fmt.Errorf("/healthz at the end: %w", err)
		}
		return !slices.ContainsFunc(other, func(s envState) bool { return s.State == "deploying" }), nil
	})
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		err = nil // still deploying after 30 s: report what it is
	}
	return n, other, err
}

// samples are what the run read every second.
type samples struct {
	wall                time.Duration
	rss                 []int64
	agent0, agent1      benchproc.CPUTicks
	daemon0, daemon1    benchproc.CPUTicks
	calls               map[string]int
	perSecond           []int
	counted0, countedAt int
}

// sample reads the agent's RSS and the simulator's counts every second
// for the run's duration, and CPU times at both ends.
func (w *world) sample(ctx context.Context) (samples, error) {
	var s samples
	var err error
	if s.agent0, err = benchproc.ReadCPU(w.agent.PID()); err != nil {
		return s, err
	}
	if w.daemon != nil {
		if s.daemon0, err = benchproc.ReadCPU(w.daemon.PID()); err != nil {
			return s, err
		}
	}
	t0 := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.After(w.o.duration)
	prev := 0
	for done := false; !done; {
		rss, err := benchproc.ReadStatusKiB(w.agent.PID(), "VmRSS")
		if err != nil {
			return s, fmt.Errorf("the agent's RSS (did it exit? see %s): %w", w.agentLog, err)
		}
		s.rss = append(s.rss, rss)
		counts, err := w.counts(ctx)
		if err != nil {
			return s, err
		}
		total := sum(counts)
		if len(s.rss) > 1 {
			s.perSecond = append(s.perSecond, total-prev)
		}
		prev, s.calls = total, counts
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-end:
			done = true
		case <-tick.C:
		}
	}
	s.wall = time.Since(t0)
	if s.agent1, err = benchproc.ReadCPU(w.agent.PID()); err != nil {
		return s, err
	}
	if w.daemon != nil {
		if s.daemon1, err = benchproc.ReadCPU(w.daemon.PID()); err != nil {
			return s, err
		}
	}
	// The last reading, after the loop's final sleep.
	rss, err := benchproc.ReadStatusKiB(w.agent.PID(), "VmRSS")
	if err != nil {
		return s, err
	}
	s.rss = append(s.rss, rss)
	counts, err := w.counts(ctx)
	if err != nil {
		return s, err
	}
	s.perSecond = append(s.perSecond, sum(counts)-prev)
	s.calls = counts
	return s, nil
}

// fill puts the samples' figures into r.
func (s samples) fill(r *result, hz float64) {
	pct := func(ticks int64) float64 { return float64(ticks) / hz / s.wall.Seconds() * 100 }
	r.AgentCPU = pct(s.agent1.Self - s.agent0.Self)
	r.ChildCPU = pct(s.agent1.Children - s.agent0.Children)
	r.DaemonCPU = pct(s.daemon1.Self - s.daemon0.Self + s.daemon1.Children - s.daemon0.Children)
	r.RSSStartKiB, r.RSSEndKiB = s.rss[0], s.rss[len(s.rss)-1]
	for _, v := range s.rss {
		r.RSSPeakKiB = max(r.RSSPeakKiB, v)
	}
	r.Calls, r.CallsTotal = s.calls, sum(s.calls)
	for _, n := range s.perSecond {
		r.MaxCallsPerSec = max(r.MaxCallsPerSec, n)
		if n > 0 {
			r.BusySeconds++
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func (w *world) counts(ctx context.Context) (map[string]int, error) {
	var m map[string]int
	err := w.simCall(ctx, http.MethodGet, "/_awssim/counts", &m)
	return m, err
}

func (w *world) resetCounts(ctx context.Context) error {
	return w.simCall(ctx, http.MethodPost, "/_awssim/counts/reset", nil)
}

// simCall calls one of the simulator's own endpoints.
func (w *world) simCall(ctx context.Context, method, path string, into any) error {
	return benchproc.SimCall(ctx, w.simURL, method, path, into)
}

// remoteStats counts the bare remote's refs and objects with git.
func (w *world) remoteStats(ctx context.Context) (repoStats, error) {
	out, err := w.git(ctx, w.bare, "count-objects", "-v")
	if err != nil {
		return repoStats{}, err
	}
	st, err := parseCountObjects(out)
	if err != nil {
		return st, err
	}
	refs, err := w.git(ctx, w.bare, "for-each-ref", "--format=%(refname)")
	if err != nil {
		return st, err
	}
	if refs != "" {
		st.Refs = len(strings.Split(refs, "\n"))
	}
	return st, nil
}

// parseCountObjects reads `git count-objects -v`.
func parseCountObjects(out string) (repoStats, error) {
	var st repoStats
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return st, fmt.Errorf("count-objects %s: %w", k, err)
		}
		switch k {
		case "count":
			st.LooseObjects = int(n)
		case "size":
			st.LooseKiB = n
		case "in-pack":
			st.PackedObjs = int(n)
		case "packs":
			st.Packs = int(n)
		case "size-pack":
			st.PackKiB = n
		}
	}
	return st, nil
}

// stateStats sizes the agent's mirror and counts the state dir's files.
func stateStats(dir string) (dirStats, error) {
	var st dirStats
	mirror := filepath.Join(dir, "mirror") + string(filepath.Separator)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // a file the agent removed meanwhile
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		st.StateFiles++
		if strings.HasPrefix(path, mirror) {
			info, err := d.Info()
			if err != nil {
				return nil
			}
			st.MirrorFiles++
			st.MirrorBytes += info.Size()
		}
		return nil
	})
	return st, err
}

func fileSize(path string) (int64, error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// readLog counts the agent's JSON log lines from offset on, by level, the
// lines announcing the state "deploying", and groups warnings and errors.
func readLog(path string, offset int64) (map[string]int, int, []problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, 0, nil, err
	}
	return parseLog(f)
}

// digits are replaced in grouped errors: ports, environment numbers and
// addresses would make every line its own group.
var digits = regexp.MustCompile(`[0-9]+`)

func parseLog(r io.Reader) (map[string]int, int, []problem, error) {
	levels := map[string]int{}
	deploying := 0
	grouped := map[problem]int{}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for s.Scan() {
		var line struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			State string `json:"state"`
			Err   string `json:"err"`
		}
		if json.Unmarshal(s.Bytes(), &line) != nil || line.Level == "" {
			levels["other"]++ // not the agent's JSON log (a panic, a child's stderr)
			continue
		}
		levels[line.Level]++
		if line.State == "deploying" {
			deploying++
		}
		if line.Level == "WARN" || line.Level == "ERROR" {
			grouped[problem{Level: line.Level, Msg: line.Msg, Err: digits.ReplaceAllString(line.Err, "N")}]++
		}
	}
	var problems []problem
	for p, n := range grouped {
		p.Count = n
		problems = append(problems, p)
	}
	sort.Slice(problems, func(i, j int) bool {
		if problems[i].Count != problems[j].Count {
			return problems[i].Count > problems[j].Count
		}
		return problems[i].Msg+problems[i].Err < problems[j].Msg+problems[j].Err
	})
	return levels, deploying, problems, s.Err()
}
