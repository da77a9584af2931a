package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferry-deploy/ferry/pkg/backoff"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/lock"
	"github.com/ferry-deploy/ferry/pkg/notify"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// Options configure an Agent.
type Options struct {
	Config *config.Config
	Mirror *watch.Mirror
	// Clouds holds each environment's AWS client.
	Clouds map[string]Cloud
	// Listen is the address of /healthz, /metrics and /hooks/git; empty
	// serves nothing.
	Listen string
	Logger *slog.Logger
	// Recheck is how often each environment is looked at again without a
	// new target (a deploy window opening, another agent's lock, a group
	// changed by hand), give or take a tenth so that environments spread
	// their reads. Default one minute.
	Recheck time.Duration
	// Rand returns jitter draws in [0,1); default math/rand/v2.
	Rand func() float64
	// Hooks, when set, builds each deploy's hooks instead of SSH.
	Hooks HooksFunc
	// Dialer, when set, makes the TCP connections of the deploys' SSH
	// (hooks and bakes) in place of a net.Dialer: ferry demo --machines,
	// whose machines live in a network namespace of their own.
	Dialer remote.Dialer
	// UserAgent names Ferry to the forges.
	UserAgent string
	// Page, when set, makes the handler of / on the listener (the
	// dashboard, pkg/ui); it reads the agent through Views, Changed,
	// Commit, History and Logs.
	Page func(*Agent) http.Handler
}

// Agent keeps every environment of a project at its wanted commit.
type Agent struct {
	opts    Options
	log     *slog.Logger
	watcher *watch.Watcher
	control Control
	reg     *prometheus.Registry
	metrics *metrics
	// notifier sends deploy events to the [[notify]] targets; nil when
	// there are none.
	notifier *notify.Notifier

	mu       sync.Mutex
	states   map[string]EnvState
	deployed map[string]commit.ID
	progress map[string]execute.Progress
	drift    map[string][]string // [launch] drift as last seen in sync
	changed  chan struct{}       // closed at the next change (see Changed)
	uiToken  []byte              // the dashboard's actions' token; nil: off
	tls      *tls.Config         // the listener's; nil: plain HTTP
	addr     string
}

// EnvState is what an environment is doing, for /healthz and logs.
type EnvState struct {
	Env    string    `json:"env"`
	State  string    `json:"state"` // idle, deploying, paused, blocked, waiting
	Detail string    `json:"detail,omitempty"`
	Target commit.ID `json:"target,omitzero"`
}

// New prepares an agent; Run starts it.
func New(opts Options) (*Agent, error) {
	cfg := opts.Config
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Recheck <= 0 {
		opts.Recheck = time.Minute
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	var sched watch.Schedule = watch.Every(cfg.Project.Git.PollInterval.Std())
	if spec := cfg.Project.Git.PollCron; spec != "" {
		s, err := watch.CronSchedule(spec)
		if err != nil {
			return nil, err
		}
		sched = s
	}
	var rules []watch.Rule
	for _, name := range envNames(cfg) {
		env := cfg.Environments[name]
		rules = append(rules, rule(env))
		if opts.Clouds[name] == nil {
			return nil, fmt.Errorf("no AWS client for environment %s", name)
		}
	}
	w, err := watch.New(watch.Options{
		Mirror: opts.Mirror, Rules: rules, Schedule: sched, StateDir: cfg.Project.StateDir,
		NotesRef: cfg.Project.Git.NotesRef, Logger: opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	tlsCfg, err := listenerTLS(cfg.Agent.UI)
	if err != nil {
		return nil, err
	}
	tok, err := uiToken(cfg.Agent.UI.TokenFile, opts.Listen, tlsCfg != nil)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		uiToken: tok, tls: tlsCfg, opts: opts, log: opts.Logger, watcher: w, reg: prometheus.NewRegistry(),
		control: ControlFor(cfg), states: map[string]EnvState{},
		deployed: map[string]commit.ID{}, progress: map[string]execute.Progress{}, drift: map[string][]string{}, changed: make(chan struct{}),
	}
	a.metrics = newMetrics(a.reg, func() (time.Time, int) {
		st := w.Status()
		return st.LastSuccess, st.Failures
	})
	routes, err := NotifyRoutes(cfg, opts.UserAgent)
	if err != nil {
		return nil, err
	}
	dropped, failed := notifyMetrics(a.reg)
	for _, r := range routes {
		dropped.WithLabelValues(r.Name)
		failed.WithLabelValues(r.Name)
	}
	if len(routes) > 0 {
		a.notifier = notify.New(routes, notify.Options{
			Logger:  opts.Logger,
			Rand:    opts.Rand,
			Dropped: func(target string) { dropped.WithLabelValues(target).Inc() },
			Delivered: func(target string, _ notify.Event, err error) {
				if err != nil {
					failed.WithLabelValues(target).Inc()
				}
			},
		})
	}
	// Every series an environment can have exists from the start (at 0),
	// so that a fresh agent, or one rebuilt by a reload, shows its
	// environments before their first deploy.
	for _, name := range envNames(cfg) {
		for _, m := range []plan.Method{plan.Full, plan.Serial} {
			for _, o := range []execute.Outcome{execute.Succeeded, execute.Failed, execute.RolledBack} {
				a.metrics.deploys.WithLabelValues(name, string(m), string(o))
			}
		}
		a.metrics.blocked.WithLabelValues(name)
		a.metrics.paused.WithLabelValues(name)
		a.metrics.looks.WithLabelValues(name)
	}
	return a, nil
}

// ControlFor returns the control files of a project.
func ControlFor(cfg *config.Config) Control {
	return Control{Dir: filepath.Join(cfg.Project.StateDir, "control")}
}

// Addr is the address the HTTP listener is bound to, once Run has started.
func (a *Agent) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// Run watches the repository and deploys until ctx ends. A deploy running
// when ctx ends stops at its next safe point, resumes what it suspended
// and keeps its journal for the next start; Run then returns nil.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup

	if a.opts.Listen != "" {
		srv, err := a.serve()
		if err != nil {
			return err
		}
		defer func() {
			sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
		}()
	}

	control := a.watchControl()
	if control != nil {
		defer control.Close()
	}
	// Notifications are sent until the agent stops; a deploy only queues
	// them.
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.notifier.Run(ctx)
	}()
	wake := map[string]chan struct{}{}
	targets := map[string]*newest{}
	for _, name := range envNames(a.opts.Config) {
		ch := make(chan struct{}, 1)
		wake[name] = ch
		in := &newest{ch: make(chan watch.Target, 1)}
		targets[name] = in
		// Every environment is looked at once at start: at the target the
		// watcher saved last time, if any, which a newer one found before
		// the worker takes it replaces.
		if t, ok := a.watcher.Current(name); ok {
			in.put(t)
		} else {
			poke(ch)
		}
		env := a.opts.Config.Environments[name]
		reporters, err := Reporters(env, a.opts.UserAgent, a.log)
		if err != nil {
			return err
		}
		// The agent never waits on a forge: a queue per forge delivers the
		// newest status when the forge answers, until the agent stops.
		q := startQueues(ctx, reporters, a.log)
		defer q.flush(0)
		d := NewDeployer(a.opts.Config, env, a.opts.Mirror, a.opts.Clouds[name], a.log).WithHooks(a.opts.Hooks).WithDialer(a.opts.Dialer).WithStatuses(q.setters()).WithObserver(a.setProgress).
			WithBakeFailed(func(c commit.ID, err error) {
				a.notifier.Notify(BakeFailedEvent(a.opts.Config.Project.Name, name, c, err))
			})
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.worker(ctx, env, d, in.ch, ch)
		}()
	}

	if control != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.forwardControl(ctx, control, wake)
		}()
	}

	found := make(chan watch.Target)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = a.watcher.Run(ctx, found)
	}()
	a.log.Info("agent started", "project", a.opts.Config.Project.Name, "environments", strings.Join(envNames(a.opts.Config), ","))

	for {
		select {
		case <-ctx.Done():
			a.log.Info("agent stopping: waiting for running deploys to reach a safe point")
			wg.Wait()
			a.log.Info("agent stopped")
			return nil
		case t := <-found:
			a.log.Info("new target", "env", t.Env, "ref", t.Ref, "commit", t.Commit, "force_pushed", t.Forced)
			if in := targets[t.Env]; in != nil {
				in.put(t)
			}
		}
	}
}

// newest hands a worker the newest target of its environment: a target
// that arrives while the worker is busy replaces one it has not taken yet,
// so the next look takes the newest target and stale ones never queue.
type newest struct {
	mu sync.Mutex // one put at a time: the drain and the send go together
	ch chan watch.Target
}

func (n *newest) put(t watch.Target) {
	n.mu.Lock()
	defer n.mu.Unlock()
	select {
	case <-n.ch: // stale: replaced
	default:
	}
	n.ch <- t // cannot block: the channel holds one, and only put sends
}

// poke wakes a worker; wakes that arrive while it is busy fold into one, so
// the next look takes the newest target and stale ones never queue.
func poke(ch chan struct{}) {
	if ch == nil {
		return
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// worker looks at one environment when it receives a target, when woken
// (a control file) and on its own timer otherwise; it deploys the last
// target it received, and never reads the watcher itself. Each
// environment's timer runs on its own, first at a random point of the
// interval and then every interval give or take a tenth, so that an agent
// with many environments spreads their AWS reads over the minute instead
// of making them all at once. After a transient failure it looks again
// after a jittered backoff.
func (a *Agent) worker(ctx context.Context, env *config.Environment, d *Deployer, targets <-chan watch.Target, wake <-chan struct{}) {
	var current *watch.Target
	retry := backoff.Backoff{Base: min(5*time.Second, a.opts.Recheck), Max: a.opts.Recheck}
	// Every environment is looked at once at start (Run hands it its saved
	// target or a wake): the first recheck after that comes at a random
	// point of the interval, which spreads the environments over it.
	next := time.Duration(a.opts.Rand() * float64(a.opts.Recheck))
	first := true
	failures := 0
	for {
		timer := time.NewTimer(next)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case t := <-targets:
			current = &t
		case <-wake:
		case <-timer.C:
		}
		timer.Stop()
		st, r := a.reconcile(ctx, env, d, current)
		if st.State != "" {
			a.setState(st)
		}
		a.metrics.looks.WithLabelValues(env.Name).Inc()
		if !first {
			next = a.jittered(a.opts.Recheck)
		}
		first = false
		switch {
		case !r.leaseExpires.IsZero():
			if wait := time.Until(r.leaseExpires); wait < a.opts.Recheck {
				next = max(wait, 0) + leaseMargin
			}
		case r.transient:
			failures++
			next = retry.Delay(failures, a.opts.Rand())
		default:
			failures = 0
		}
	}
}

// jittered is d give or take a tenth.
func (a *Agent) jittered(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(a.opts.Rand()*float64(d/5))
}

// leaseMargin is how long after another holder's lease expires the agent
// tries to take it over.
const leaseMargin = 100 * time.Millisecond

// result is what a look at an environment asks of the next one.
type result struct {
	// leaseExpires is when the lease of another holder that was in the way
	// expires: the environment is looked at again then rather than at the
	// next recheck, since an agent that crashed mid-deploy leaves its lease
	// behind and its deploy waits for whoever takes it over.
	leaseExpires time.Time
	// transient: AWS or git could not be reached; look again soon, after a
	// jittered backoff.
	transient bool
}

// reconcile brings one environment to its newest target t, if it may, and
// returns the state the environment is left in (zero: unchanged) and when
// to look again. The environment's state says "deploying" only once a
// deploy starts: an environment in sync stays idle, and its look at AWS
// logs nothing.
func (a *Agent) reconcile(ctx context.Context, env *config.Environment, d *Deployer, t *watch.Target) (EnvState, result) {
	log := a.log.With("env", env.Name)
	state := func(s, detail string, target commit.ID) EnvState {
		return EnvState{Env: env.Name, State: s, Detail: detail, Target: target}
	}
	if err := d.RecoverPending(ctx); err != nil {
		log.Error("an interrupted deploy could not be recovered yet; will try again", "err", err)
		return state("waiting", "recovering an interrupted deploy: "+err.Error(), commit.ID{}),
			result{leaseExpires: heldUntil(err), transient: !errors.Is(err, lock.ErrHeld)}
	}
	d.FlushNotes(ctx)
	if t == nil {
		return state("idle", "no target yet", commit.ID{}), result{}
	}
	target := t.Commit
	paused, err := a.control.PausedState(env.Name)
	a.metrics.paused.WithLabelValues(env.Name).Set(bool01(paused != nil))
	if err != nil {
		log.Error("cannot read the pause state", "err", err)
		return EnvState{}, result{}
	}
	if paused != nil {
		return state("paused", fmt.Sprintf("by %s since %s %s", paused.By, paused.Since.Format(time.RFC3339), paused.Reason), target), result{}
	}
	blocked, err := a.control.BlockedState(env.Name)
	if err != nil {
		log.Error("cannot read the blocked state", "err", err)
		return EnvState{}, result{}
	}
	a.metrics.blocked.WithLabelValues(env.Name).Set(bool01(blocked != nil && blocked.Commit == target))
	if blocked != nil && blocked.Commit == target {
		return state("blocked", fmt.Sprintf("%s %s: %s; push a new commit or run ferry retry %s", target.Short(), blocked.Outcome, blocked.Reason, env.Name), target), result{}
	}
	in := planInput(a.opts.Config, env, plan.Revision{Commit: target, Ref: t.Ref}, time.Now())
	if len(env.Policy.Approve) > 0 {
		if st, ok := a.approval(ctx, env, d, t, in); !ok {
			return st, result{}
		}
	}
	win, err := Windows(env.Windows, time.Now())
	if err != nil {
		log.Error("cannot evaluate deploy windows", "err", err)
		return EnvState{}, result{}
	}
	if !win.Open {
		detail := windowDetail + win.Reason
		if env.Policy.BakeAhead {
			switch img, err := d.BakeAhead(ctx, in); {
			case err != nil:
				log.Warn("the image was not baked ahead; the deploy bakes it when the window opens", "commit", target.Short(), "err", err)
				return state("waiting", detail, target), result{leaseExpires: heldUntil(err)}
			case img != "":
				detail += "; image " + img + " baked ahead"
			}
		}
		return state("waiting", detail, target), result{}
	}
	// The agent asks nobody: pushing the branch or the tag was the
	// confirmation (policy.confirm governs `ferry deploy` by hand). It is
	// told the plan under the lock, just before the deploy starts, and
	// shows the deploy while it runs.
	var started *plan.Plan
	starting := func(p *plan.Plan) error {
		if p.Action == plan.Deploy && needsApproval(env, p.Method) {
			// The plan under the lock is the one that counts: a
			// deploy that needs approval starts only once approved.
			dec, err := a.control.DecisionState(env.Name)
			if err != nil || dec == nil || !dec.Approved || dec.Commit != p.Target.Commit {
				return errNeedsApproval
			}
			a.approved(ctx, env, d, p)
		}
		if p.Action == plan.Deploy {
			a.setState(state("deploying", string(p.Method), target))
			a.notifier.Notify(a.event(notify.Started, env.Name, p, ""))
			started = p
		}
		return nil
	}
	rep, err := d.Deploy(ctx, in, starting)
	if rep != nil && started != nil {
		a.notifier.Notify(a.event(outcomeEvent(rep.Outcome), env.Name, started, rep.Reason))
	}
	if started != nil && len(env.Policy.Approve) > 0 {
		// An approval is for one deploy: whatever its outcome, the next
		// deploy that needs one asks again.
		if err := a.control.clearApproval(env.Name); err != nil {
			log.Error("cannot clear the used approval", "err", err)
		}
	}
	switch {
	case err == nil && rep == nil:
		a.setDeployed(env.Name, target)
		a.noteDrift(ctx, env, d)
		return state("idle", "in sync", target), result{}
	case err == nil:
		a.recordMetrics(*rep)
		a.noteDrift(ctx, env, d)
		return state("idle", "deployed", target), result{}
	case errors.Is(err, errNeedsApproval):
		// The plan under the lock needs an approval the plan before it
		// did not see: look again, which asks for it.
		return state("waiting", err.Error(), target), result{transient: true}
	case errors.Is(err, lock.ErrHeld):
		return state("waiting", err.Error(), target), result{leaseExpires: heldUntil(err)}
	case plan.IsRefused(err):
		log.Error("deploy refused; waiting for a new commit or ferry retry", "commit", target, "err", err)
		return a.block(env.Name, Blocked{Commit: target, Outcome: "refused", Reason: err.Error(), At: time.Now().UTC()}), result{}
	case rep != nil && (rep.Outcome == execute.Failed || rep.Outcome == execute.RolledBack):
		a.recordMetrics(*rep)
		return a.block(env.Name, Blocked{Commit: target, Outcome: string(rep.Outcome), Reason: rep.Reason, At: time.Now().UTC()}), result{}
	case ctx.Err() != nil:
		return state("idle", "stopped", target), result{}
	default:
		// AWS or git unreachable, or something else transient: look
		// again after a backoff.
		log.Error("deploy could not run; will try again", "commit", target, "err", err)
		return state("waiting", err.Error(), target), result{transient: true}
	}
}

// noteDrift reads env's [launch] drift, which no push deploys (ferry
// redeploy does), and logs it once per change: the agent looks every
// minute, and the same drift each time would drown the log.
func (a *Agent) noteDrift(ctx context.Context, env *config.Environment, d *Deployer) {
	drift, err := d.Drift(ctx)
	if err != nil {
		a.log.Debug("cannot compare the [launch] settings with the launch sources", "env", env.Name, "err", err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if slices.Equal(a.drift[env.Name], drift) {
		return
	}
	a.drift[env.Name] = drift
	a.changedLocked()
	if len(drift) == 0 {
		a.log.Info("the launch sources have the [launch] settings again", "env", env.Name)
		return
	}
	a.log.Info("[launch] settings drift: the launch sources lack them; ferry redeploy applies them", "env", env.Name,
		"drift", strings.Join(drift, "; "), "redeploy", "ferry redeploy "+env.Name)
}

// windowDetail starts the detail of an environment waiting for its deploy
// window.
const windowDetail = "deploy window: "

// heldUntil returns when the lease that err reports in the way expires,
// or zero when err is not about a lease.
func heldUntil(err error) time.Time {
	var held *lock.HeldError
	if !errors.As(err, &held) {
		return time.Time{}
	}
	if held.Expires.IsZero() {
		// Lost a race to a holder already gone: the lock is likely free
		// again.
		return time.Now()
	}
	return held.Expires
}

// block records a commit the agent must not deploy again on its own, and
// returns the state that says so.
func (a *Agent) block(env string, b Blocked) EnvState {
	if err := a.control.Block(env, b); err != nil {
		a.log.Error("cannot record the blocked commit; the agent may retry it", "env", env, "err", err)
	}
	a.metrics.blocked.WithLabelValues(env).Set(1)
	return EnvState{Env: env, State: "blocked", Detail: fmt.Sprintf("%s %s: %s", b.Commit.Short(), b.Outcome, b.Reason), Target: b.Commit}
}

func (a *Agent) recordMetrics(r execute.Report) {
	a.metrics.deploys.WithLabelValues(r.Environment, string(r.Method), string(r.Outcome)).Inc()
	a.metrics.duration.WithLabelValues(r.Environment, string(r.Method)).Observe(r.Finished.Sub(r.Started).Seconds())
	if r.Outcome == execute.Succeeded {
		a.setDeployed(r.Environment, r.Commit)
	}
}

// setDeployed makes commit env's one deployed commit in /metrics.
func (a *Agent) setDeployed(env string, c commit.ID) {
	a.metrics.deployed.DeletePartialMatch(prometheus.Labels{"env": env})
	a.metrics.deployed.WithLabelValues(env, c.String()).Set(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.deployed[env] != c {
		a.deployed[env] = c
		a.changedLocked()
	}
}

// setState records what an environment is doing, logged when it changes.
func (a *Agent) setState(next EnvState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.states[next.Env]
	a.states[next.Env] = next
	if prev != next {
		a.changedLocked()
		a.log.Info("environment", "env", next.Env, "state", next.State, "detail", next.Detail, "target", next.Target.Short())
	}
}

// States returns every environment's state, sorted by name.
func (a *Agent) States() []EnvState {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]EnvState, 0, len(a.states))
	for _, s := range a.states {
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y EnvState) int { return strings.Compare(x.Env, y.Env) })
	return out
}

func (a *Agent) serve() (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	if wh := a.opts.Config.Project.Git.Webhook; wh != nil {
		secret, err := readSecret(wh.SecretFile, wh.SecretEnv)
		if err != nil {
			return nil, fmt.Errorf("webhook secret: %w", err)
		}
		h, err := watch.NewHookHandler(watch.HookOptions{
			Projects: []watch.HookProject{{Name: a.opts.Config.Project.Name, Secret: secret, Trigger: a.watcher.Trigger}},
			Logger:   a.log,
		})
		if err != nil {
			return nil, err
		}
		mux.Handle("POST /hooks/git", h)
	}
	if a.opts.Page != nil {
		mux.Handle("/", a.opts.Page(a))
	}
	ln, err := net.Listen("tcp", a.opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", a.opts.Listen, err)
	}
	scheme := "http"
	if a.tls != nil {
		ln, scheme = tls.NewListener(ln, a.tls), "https"
	}
	a.mu.Lock()
	a.addr = ln.Addr().String()
	a.mu.Unlock()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("HTTP listener stopped", "err", err)
		}
	}()
	// The message is what e2e waits for: keep it.
	a.log.Info("serving /healthz, /metrics and /hooks/git", "addr", a.addr, "scheme", scheme, "dashboard", a.opts.Page != nil, "actions", a.uiToken != nil)
	return srv, nil
}

// healthz answers 200 while the agent can reach its git remote, 503 after
// several polls failed in a row; the body says what each environment does.
func (a *Agent) healthz(w http.ResponseWriter, _ *http.Request) {
	st := a.watcher.Status()
	body := struct {
		OK           bool       `json:"ok"`
		LastPoll     time.Time  `json:"last_successful_poll"`
		PollFailures int        `json:"poll_failures"`
		LastError    string     `json:"last_error,omitempty"`
		Environments []EnvState `json:"environments"`
	}{OK: st.Failures < 5, LastPoll: st.LastSuccess, PollFailures: st.Failures, Environments: a.States()}
	if st.LastError != nil {
		body.LastError = st.LastError.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	if !body.OK {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}

// readSecret reads a secret from a file or an environment variable.
func readSecret(file, env string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		return []byte(strings.TrimSpace(string(b))), nil
	}
	v := os.Getenv(env)
	if v == "" {
		return nil, fmt.Errorf("environment variable %s is empty", env)
	}
	return []byte(v), nil
}
