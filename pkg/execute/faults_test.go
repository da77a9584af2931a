package execute_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// faultCell is one cell of the AWS fault matrix (docs/reliability.md): a
// deploy against a simulator that misbehaves one way.
type faultCell struct {
	name string
	full bool
	// setup runs before the plan is made; during runs alongside the
	// deploy until it ends (ctx is cancelled then), and says whether it
	// did its part.
	setup  func(f *fixture)
	during func(ctx context.Context, f *fixture) error
	// rollbackOK: rolling back cleanly is an acceptable outcome.
	rollbackOK bool
	// kept is what the fault itself leaves suspended (a person's
	// suspension is theirs to undo).
	kept []string
	// seen, when set, checks that the fault happened: the AWS answers the
	// deploy's client got.
	seen func(a *answers) error
	// policy is added to the environment's policy.
	policy string
}

// answers counts the AWS error codes a client received: it stands
// between the client and the simulator, as the endpoint the client knows,
// and can be taken away (gone) and brought back on the same address.
type answers struct {
	mu    sync.Mutex
	codes map[string]int
	addr  string
	srv   *http.Server
	h     http.Handler
	downs int
}

// serveLocked listens on a.addr (a free port the first time).
func (a *answers) serveLocked(t testing.TB) {
	addr := a.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	// The port was ours a moment ago; another process may bind it first
	// only by chance, and then the test fails, saying so.
	for range 50 {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("the AWS endpoint could not come back on %s: %v", addr, err)
		return
	}
	a.addr = l.Addr().String()
	a.srv = &http.Server{Handler: a.h}
	go func(srv *http.Server) { _ = srv.Serve(l) }(a.srv)
}

// gone takes the endpoint away for d: connections are refused, those open
// are cut. Then it comes back.
func (a *answers) gone(t testing.TB, ctx context.Context, d time.Duration) {
	a.mu.Lock()
	_ = a.srv.Close()
	a.downs++
	a.mu.Unlock()
	sleep(context.WithoutCancel(ctx), d)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.serveLocked(t)
}

var errorCode = regexp.MustCompile(`<Code>([^<]+)</Code>`)

// proxy returns the URL of a proxy to the simulator at target that
// records the error codes of its answers.
func (a *answers) proxy(t testing.TB, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode < 400 {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		code := fmt.Sprint(resp.StatusCode)
		if m := errorCode.FindSubmatch(body); m != nil {
			code = string(m[1])
		}
		a.mu.Lock()
		a.codes[code]++
		a.mu.Unlock()
		return nil
	}
	a.h = rp
	a.mu.Lock()
	defer a.mu.Unlock()
	a.serveLocked(t)
	t.Cleanup(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		_ = a.srv.Close()
	})
	return "http://" + a.addr
}

// got returns an error unless the client received code at least once.
func (a *answers) got(codes ...string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range codes {
		if a.codes[c] > 0 {
			return nil
		}
	}
	return fmt.Errorf("the deploy's client never received %v (it received %v)", codes, a.codes)
}

func got(codes ...string) func(*answers) error {
	return func(a *answers) error { return a.got(codes...) }
}

// personSuspends is what a person suspends mid-deploy in its cell.
var personSuspends = []string{"ScheduledActions", "AlarmNotification"}

func faultCells() []faultCell {
	return []faultCell{
		{name: "none"},
		{name: "none, full", full: true},
		{name: "throttling 30%", seen: got("Throttling", "RequestLimitExceeded"), setup: func(f *fixture) {
			f.sim.SetFault(awssim.Fault{Action: "*", ThrottleRate: 0.3})
		}},
		{name: "throttling 30%, full", full: true, seen: got("Throttling", "RequestLimitExceeded"), setup: func(f *fixture) {
			f.sim.SetFault(awssim.Fault{Action: "*", ThrottleRate: 0.3})
		}},
		{name: "5xx 10%", seen: got("InternalError", "InternalFailure", "ServiceUnavailable"), setup: func(f *fixture) {
			f.sim.SetFault(awssim.Fault{Action: "*", ErrorRate: 0.1})
		}},
		{name: "eventual consistency", seen: got("InvalidInstance", "InvalidInstanceID.NotFound"), setup: func(f *fixture) {
			// A few seconds, as AWS documents for a new instance; the same
			// for a new launch template version (Auto Scaling's launches
			// from it fail until it is visible, and are tried again). The
			// window is on the wall clock: 5 of the simulator's seconds,
			// but at least 200 ms, so that the deploy's reads meet it on a
			// slow machine (longer, to the simulator's boots, than AWS's
			// few seconds are to a real instance's).
			f.sim.SetEventualConsistency(max(5*f.second, 200*time.Millisecond))
		}},
		{name: "insufficient capacity, then retried", setup: func(f *fixture) {
			f.sim.SetCapacityErrors(2)
		}},
		{name: "flapping health", rollbackOK: true, during: flap},
		{name: "MaxSize too small", setup: func(f *fixture) {
			max := f.before.DesiredCapacity
			if err := f.cloud.UpdateGroup(f.ctx, group, cloud.GroupUpdate{MaxSize: &max}); err != nil {
				f.t.Fatal(err)
			}
			f.before = f.group()
		}},
		{name: "the AWS endpoint gone for 30 s mid-deploy", policy: awsGonePolicy, during: func(ctx context.Context, f *fixture) error {
			if err := launchSourceChanged(ctx, f); err != nil {
				return err
			}
			f.aws.gone(f.t, ctx, 30*time.Second)
			return nil
		}},
		{name: "a person suspends processes mid-deploy", kept: personSuspends, during: func(ctx context.Context, f *fixture) error {
			if err := launchSourceChanged(ctx, f); err != nil {
				return err
			}
			return f.cloud.SuspendProcesses(ctx, group, personSuspends)
		}},
	}
}

// awsGonePolicy gives waits room for an AWS gone 30 s: a wait AWS does not
// answer for longer than its limit times out (and the deploy rolls back).
const awsGonePolicy = "timeouts.instances_in_service = \"90s\"\ntimeouts.healthy_in_balancers = \"90s\"\n"

// launchSourceChanged returns once the deploy has changed something: the
// group's launch source.
func launchSourceChanged(ctx context.Context, f *fixture) error {
	for ctx.Err() == nil {
		if g, err := f.cloud.Group(ctx, group, nil, nil); err == nil && *g.LaunchTemplate != *f.before.LaunchTemplate {
			return nil
		}
		sleep(ctx, 10*time.Millisecond)
	}
	return errors.New("the deploy ended before it changed the launch source")
}

// flap makes each new instance, once it is healthy in the balancer, fail
// its health checks for a while and then pass again.
func flap(ctx context.Context, f *fixture) error {
	flapped := map[string]bool{}
	for ctx.Err() == nil {
		g, err := f.cloud.Group(ctx, group, nil, nil)
		if err != nil {
			sleep(ctx, 10*time.Millisecond)
			continue
		}
		for _, inst := range g.Instances {
			if flapped[inst.ID] || slices.Contains(instanceIDs(f.before), inst.ID) || !inst.Balancers["shop-staging"].Healthy {
				continue
			}
			flapped[inst.ID] = true
			f.sim.SetInstanceNeverHealthy(inst.ID, true)
			go func(id string) {
				sleep(context.Background(), 300*time.Millisecond)
				f.sim.SetInstanceNeverHealthy(id, false)
			}(inst.ID)
		}
		sleep(ctx, 10*time.Millisecond)
	}
	if len(flapped) == 0 {
		return errors.New("no new instance was healthy to flap")
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// TestFaultMatrix runs a serial deploy (and a full one under throttling)
// against each fault: each must succeed, or roll back cleanly where the
// fault makes the new version look broken, and leave nothing suspended
// but what a person suspended. The AWS client is configured as Ferry's
// is in production (cloud.New's retry defaults). Every wait is bounded by
// the environment's timeouts; the test's context bounds the rest.
func TestFaultMatrix(t *testing.T) {
	for _, tc := range faultCells() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, elapsed := runFaultCell(t, tc, awssim.Options{App: awssim.DemoApp})
			t.Logf("%s in %s", r.Outcome, elapsed.Round(time.Millisecond))
		})
	}
}

// runFaultCell deploys under one fault and checks the end state; it
// returns the report and how long the deploy took.
func runFaultCell(t testing.TB, tc faultCell, simOpts awssim.Options) (execute.Report, time.Duration) {
	f := newFixtureSim(t, 2, tc.full, tc.policy, simOpts)
	a := f.productionRetries()
	if tc.setup != nil {
		tc.setup(f)
	}
	p := f.plan()
	var wg sync.WaitGroup
	var duringErr error
	ctx, stop := context.WithCancel(f.ctx)
	if tc.during != nil {
		wg.Add(1)
		go func() { defer wg.Done(); duringErr = tc.during(ctx, f) }()
	}
	start := time.Now()
	r, err := f.executor().Run(f.ctx, p, "d1")
	elapsed := time.Since(start)
	stop()
	wg.Wait()
	f.sim.ClearFaults()
	switch {
	case r.Outcome == execute.Succeeded:
		f.assertNewVersionKept(p, tc.kept)
	case r.Outcome == execute.RolledBack && tc.rollbackOK:
		f.assertOldVersionKept(tc.kept)
	default:
		t.Fatalf("outcome %s: %v", r.Outcome, err)
	}
	if duringErr != nil {
		t.Error(duringErr)
	}
	if tc.seen != nil {
		if err := tc.seen(a); err != nil {
			t.Error(err)
		}
	}
	return r, elapsed
}

// productionRetries gives the fixture an AWS client with Ferry's
// production retry settings (the fixture's retries are short, for tests
// whose faults are meant to reach the executor).
func (f *fixture) productionRetries() *answers {
	a := &answers{codes: map[string]int{}}
	c, err := cloud.New(f.ctx, cloud.Options{Region: simenv.Region, Endpoint: a.proxy(f.t, f.sim.URL), Credentials: simenv.Credentials()})
	if err != nil {
		f.t.Fatal(err)
	}
	f.cloud, f.aws = c, a
	return a
}

// assertNewVersionKept is assertNewVersion where kept stays suspended.
func (f *fixture) assertNewVersionKept(p *plan.Plan, kept []string) {
	f.t.Helper()
	if len(kept) > 0 {
		f.resumeKept(kept)
	}
	f.assertNewVersion(p)
}

func (f *fixture) assertOldVersionKept(kept []string) {
	f.t.Helper()
	if len(kept) > 0 {
		f.resumeKept(kept)
	}
	f.settled()
	f.assertOldVersion()
}

// resumeKept checks that exactly kept is suspended, then resumes it, as
// the person would, so that the common checks apply.
func (f *fixture) resumeKept(kept []string) {
	f.t.Helper()
	got := slices.Sorted(slices.Values(f.group().SuspendedProcesses))
	want := slices.Sorted(slices.Values(kept))
	if !slices.Equal(got, want) {
		f.t.Errorf("suspended after the deploy %v, want the person's %v", got, want)
	}
	if err := f.cloud.ResumeProcesses(f.ctx, group, kept); err != nil {
		f.t.Fatal(err)
	}
}

// BenchmarkFaultDuration measures how long a deploy takes under a fault,
// against the simulator as e2e and `ferry sim` tests run it (one AWS second
// in 20 ms, boots of 100 ms), where a deploy of two instances takes a few
// seconds: the SDK's retries wait on the wall clock, so the ratio to the
// deploy without a fault is what a faster simulator would overstate. The
// ratios are in docs/reliability.md.
func BenchmarkFaultDuration(b *testing.B) {
	cells := map[string]faultCell{}
	for _, c := range faultCells() {
		cells[c.name] = c
	}
	opts := awssim.Options{App: awssim.DemoApp, Second: 20 * time.Millisecond, BootDelay: 100 * time.Millisecond}
	for _, name := range []string{"none", "throttling 30%", "5xx 10%", "eventual consistency", "none, full", "throttling 30%, full"} {
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				_, d := runFaultCell(b, cells[name], opts)
				total += d
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/deploy")
			b.ReportMetric(0, "ns/op")
		})
	}
}
