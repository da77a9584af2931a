package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/ui"
)

// loggingHooks stands for the SSH hooks, which need an sshd on each
// instance that the fast simulator's instances lack: each hook run writes
// one line to each server's log file, where pkg/remote writes it.
type loggingHooks struct {
	stateDir string
}

func (h loggingHooks) hooks(env *config.Environment, deployID string) (execute.Hooks, error) {
	return hookFunc(func(_ context.Context, run execute.HookRun) error {
		logs := remote.Logs{Root: remote.LogRoot(h.stateDir), Env: env.Name, DeployID: deployID}
		for _, host := range run.Hosts {
			path, err := logs.Path(run.Role, host.InstanceID)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(f, "%s out | %s on %s: done\n", time.Now().UTC().Format(time.RFC3339), run.Hook, host.InstanceID)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
		return nil
	}), nil
}

type hookFunc func(context.Context, execute.HookRun) error

func (f hookFunc) RunHook(ctx context.Context, run execute.HookRun) error { return f(ctx, run) }

// startDashboard runs the agent with its dashboard, as ferry run wires it.
func startDashboard(t *testing.T, p *project) *agent.Agent {
	t.Helper()
	cfg, err := config.Load(p.config)
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger()
	ctx, cancel := context.WithCancel(context.Background())
	m, err := agent.OpenMirror(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCloud(ctx, cfg.Environments["staging"], log)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{Config: cfg, Mirror: m, Clouds: map[string]agent.Cloud{"staging": c},
		Listen: "127.0.0.1:0", Logger: log, Recheck: 200 * time.Millisecond,
		Hooks: loggingHooks{stateDir: p.stateDir}.hooks,
		Page:  func(a *agent.Agent) http.Handler { return ui.New(a, ui.Options{Logger: log}) }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	testutil.Eventually(t, 30*time.Second, "the listener", func() (bool, string) { return a.Addr() != "", "" })
	return a
}

func testLogger() *slog.Logger {
	if os.Getenv("FERRY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// browser starts Debian's chromium, headless, with a profile of its own
// and nothing that reaches outside the machine. It trusts the test's
// certificate with the public key of hash spki (base64 SHA-256), if any.
func browser(t *testing.T, spki string) context.Context {
	t.Helper()
	path := testutil.RequireTool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.NoFirstRun,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true), chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true), chromedp.Flag("metrics-recording-only", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(420, 900),
	}
	if spki != "" {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", spki))
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("chromium: %v", err)
	}
	return ctx
}

// artifacts is where the test's screenshots go: $FERRY_TEST_ARTIFACTS/NAME
// when set, else the test's artifact directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := t.ArtifactDir()
	if root := os.Getenv("FERRY_TEST_ARTIFACTS"); root != "" {
		dir = filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// record makes the page note each (current step's number, its label, the
// wait's progress) it shows as the event stream replaces the card:
// window.seen.
const record = `(() => {
  window.seen = [];
  const look = () => {
    const steps = [...document.querySelectorAll('#env-staging .steps li')];
    const c = document.querySelector('#env-staging .step.current');
    const w = document.querySelector('#env-staging .wait .progress');
    const s = (c ? steps.indexOf(c) + '|' + c.firstChild.textContent.trim() : '|') + '|' + (w ? w.textContent : '');
    if (window.seen[window.seen.length - 1] !== s) window.seen.push(s);
  };
  new MutationObserver(look).observe(document.querySelector('main'), {childList: true, subtree: true});
  look();
  return true;
})()`

// until waits for a JavaScript predicate to hold in the page.
func until(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main').innerHTML`))
		t.Fatalf("waiting for %s: %v\n%s", what, err, html)
	}
}

func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// checkSteps: the page showed the deploy's steps in the plan's order, more
// than one of them as the current step, and some wait's progress, all
// through the event stream (the page was never reloaded).
func checkSteps(t *testing.T, ctx context.Context) int {
	t.Helper()
	seen := evaluate[[]string](t, ctx, `window.seen`)
	steps := evaluate[[]string](t, ctx, `[...document.querySelectorAll('#env-staging .steps li')].map(li => li.firstChild.textContent.trim())`)
	last, currents, waits := -1, 0, 0
	for _, s := range seen {
		parts := strings.SplitN(s, "|", 3)
		if len(parts) != 3 || parts[0] == "" {
			continue
		}
		i, err := strconv.Atoi(parts[0])
		if err != nil || i < 0 || i >= len(steps) || steps[i] != parts[1] {
			t.Errorf("the page showed step %s %q, not the plan's %q", parts[0], parts[1], steps)
			continue
		}
		if i < last {
			t.Errorf("the page showed step %d after step %d: %q", i+1, last+1, seen)
		}
		if i != last {
			currents++
		}
		last = i
		if parts[2] != "" {
			waits++
		}
	}
	if currents == 0 || waits == 0 {
		t.Errorf("the page showed %d current steps and %d waits' progress; want a step and its wait: %q", currents, waits, seen)
	}
	t.Logf("the page showed: %q", seen)
	return currents
}

// dashboard is the page open in the browser, and what the test needs to
// drive it as a person would.
type dashboard struct {
	t     *testing.T
	ctx   context.Context
	dir   string // where screenshots go
	url   string
	token string
}

// open loads the page and waits for its event stream.
func (d *dashboard) open() {
	d.t.Helper()
	if err := chromedp.Do(d.ctx, chromedp.EmulateViewport(420, 900), chromedp.Navigate(d.url)); err != nil {
		d.t.Fatal(err)
	}
	d.live()
}

// live waits for the event stream, then records what the card shows.
func (d *dashboard) live() {
	d.t.Helper()
	until(d.t, d.ctx, "the event stream", `document.getElementById('live') && !document.getElementById('live').hidden`)
	evaluate[bool](d.t, d.ctx, record)
}

// act types the token (and a reason) into the staging card's form and
// presses the action's button: the form posts, and the agent answers with
// the page again, the card as the action left it.
func (d *dashboard) act(action, reason string) {
	d.t.Helper()
	button := chromedp.CSS("#env-staging .action-" + action)
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(button),
		chromedp.SetValue(chromedp.CSS("#env-staging input[name=token]"), d.token),
	}
	if reason != "" {
		steps = append(steps, chromedp.SetValue(chromedp.CSS("#env-staging input[name=reason]"), reason))
	}
	resp, err := chromedp.RunResponse(d.ctx, append(steps, chromedp.Click(button))...)
	if err != nil {
		d.t.Fatalf("%s from the page: %v", action, err)
	}
	if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/") {
		msg := evaluate[string](d.t, d.ctx, `(document.getElementById('error') || {}).textContent || ''`)
		d.t.Fatalf("%s from the page: %d at %s: %s", action, resp.Status, resp.URL, msg)
	}
	d.live()
}

// card waits until the staging card is in state with wanted commit c.
func (d *dashboard) card(state, c string) {
	d.t.Helper()
	until(d.t, d.ctx, fmt.Sprintf("the card %s at %.12s", state, c), fmt.Sprintf(
		`document.querySelector('#env-staging').dataset.state === %q && [...document.querySelectorAll('#env-staging dd code')].map(e => e.textContent).includes(%q)`, state, c[:12]))
}

// succeeded waits until the card's deploy of c succeeded, by method.
func (d *dashboard) succeeded(c, method string) {
	d.t.Helper()
	until(d.t, d.ctx, "the deploy of "+c[:12]+" to succeed", fmt.Sprintf(
		`document.querySelector('#env-staging .deploy h3 .outcome-succeeded') && (document.querySelector('#env-staging .deploy h3 code') || {}).textContent === %q`, c[:12]))
	if h3 := evaluate[string](d.t, d.ctx, `document.querySelector('#env-staging .deploy h3').textContent`); !strings.Contains(h3, "("+method+",") {
		d.t.Errorf("deploy heading %q; want a %s deploy", h3, method)
	}
}

// history is the staging card's history, a row's text each.
func (d *dashboard) history() []string {
	return evaluate[[]string](d.t, d.ctx, `[...document.querySelectorAll('#env-staging .history tbody tr')].map(tr => tr.textContent)`)
}

// hasRow reports whether a history row names commit c and holds each of words.
func hasRow(rows []string, c string, words ...string) bool {
	return slices.ContainsFunc(rows, func(r string) bool {
		if !strings.Contains(r, c[:12]) {
			return false
		}
		for _, w := range words {
			if !strings.Contains(r, w) {
				return false
			}
		}
		return true
	})
}

// serialDeploy: paused from the page, the agent leaves a new commit
// alone; resumed from the page, it deploys it serially, and the page
// follows the steps. It returns the commit and the current steps seen.
func (d *dashboard) serialDeploy(p *project) (string, int) {
	d.t.Helper()
	d.act("pause", "")
	until(d.t, d.ctx, "the card paused", `document.querySelector('#env-staging').dataset.state === 'paused'`)
	serial := p.push("Speed up the cart", map[string]string{"app.py": "2\n"})
	d.card("paused", serial) // the agent saw the commit, and stayed paused
	if detail := evaluate[string](d.t, d.ctx, `document.querySelector('#env-staging .detail').textContent`); !strings.Contains(detail, "by dashboard (") {
		d.t.Errorf("the paused card says %q; want who paused it", detail)
	}
	screenshot(d.t, d.ctx, d.dir, "paused.png")
	d.act("resume", "")
	until(d.t, d.ctx, "a wait's progress", `document.querySelector('#env-staging .wait .progress')`)
	screenshot(d.t, d.ctx, d.dir, "serial-deploying.png")
	d.succeeded(serial, "serial")
	currents := checkSteps(d.t, d.ctx)
	screenshot(d.t, d.ctx, d.dir, "serial-done.png")
	return serial, currents
}

// fullDeploy: a full deploy awaits approval (policy.approve), is rejected
// from the page with a reason, asked again with retry, approved, and the
// page follows its steps. It returns the commit and the current steps
// seen.
func (d *dashboard) fullDeploy(p *project) (string, int) {
	d.t.Helper()
	full := p.push("Add the orders table", map[string]string{".ferry/schema-version": "2\n"})
	d.card("awaiting approval", full)
	screenshot(d.t, d.ctx, d.dir, "awaiting-approval.png")
	d.act("reject", "not during the sale")
	d.card("blocked", full)
	until(d.t, d.ctx, "the rejection in the history", fmt.Sprintf(
		`[...document.querySelectorAll('#env-staging .history tbody tr')].some(tr => tr.textContent.includes(%q) && tr.textContent.includes('rejected') && tr.textContent.includes('not during the sale'))`, full[:12]))
	d.act("retry", "")
	d.card("awaiting approval", full) // asked again
	d.act("approve", "")
	until(d.t, d.ctx, "the full deploy's wait", fmt.Sprintf(
		`(document.querySelector('#env-staging .deploy h3 code') || {}).textContent === %q && document.querySelector('#env-staging .wait .progress')`, full[:12]))
	screenshot(d.t, d.ctx, d.dir, "full-deploying.png")
	d.succeeded(full, "full")
	currents := checkSteps(d.t, d.ctx)
	if n := evaluate[int](d.t, d.ctx, `document.querySelectorAll('#env-staging .timeline rect').length`); n == 0 {
		d.t.Error("no timeline after the full deploy")
	}
	if rows := d.history(); !hasRow(rows, full, "approved") {
		d.t.Errorf("the history lacks the approval of %.12s: %q", full, rows)
	}
	return full, currents
}

// withoutJavaScript: in a tab with JavaScript off, the page that refreshes
// itself hides the actions' form and links to the card's actions page,
// which does not refresh; pausing from there works as with JavaScript.
func (d *dashboard) withoutJavaScript(p *project, a *agent.Agent, target string) {
	d.t.Helper()
	ctx, cancel := chromedp.NewContext(d.ctx) // a tab of the same browser
	defer cancel()
	noScript := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
	if err := chromedp.Do(ctx, noScript, chromedp.EmulateViewport(420, 900), chromedp.Navigate(d.url)); err != nil {
		d.t.Fatal(err)
	}
	shown := evaluate[string](d.t, ctx, `[document.getElementById('live').hidden, getComputedStyle(document.querySelector('#env-staging .actions')).display, getComputedStyle(document.querySelector('#env-staging .act-link')).display].join('|')`)
	if shown != "true|none|inline-block" {
		d.t.Errorf("without JavaScript the page shows live hidden|form|link as %q; want true|none|inline-block", shown)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#env-staging .act-link")))
	if err != nil || resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/actions/staging") {
		d.t.Fatalf("the actions page: %v, %+v", err, resp)
	}
	screenshot(d.t, ctx, d.dir, "no-javascript-actions.png")
	resp, err = chromedp.RunResponse(ctx,
		chromedp.SetValue(chromedp.CSS("#env-staging input[name=token]"), d.token),
		chromedp.Click(chromedp.CSS("#env-staging .action-pause")))
	if err != nil || resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/") {
		d.t.Fatalf("pause without JavaScript: %v, %+v", err, resp)
	}
	p.waitState(a, "paused", target)
}

// dashboardConfig turns the dashboard's actions on (a token) over TLS,
// and has full deploys await approval.
func dashboardConfig(t *testing.T, p *project) (token string, cert testutil.TLSCert) {
	t.Helper()
	token = "dashboard-token-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	tokenFile := filepath.Join(t.TempDir(), "ui-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert = testutil.WriteTLSCert(t)
	data, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(data), "[environments.staging.policy]\n", "[environments.staging.policy]\napprove = [\"full\"]\n", 1)
	doc += fmt.Sprintf("\n[agent.ui]\ntoken_file = %q\ntls_cert_file = %q\ntls_key_file = %q\n", tokenFile, cert.CertFile, cert.KeyFile)
	if err := os.WriteFile(p.config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return token, cert
}

// TestDashboardInABrowser: the page, in a real browser over TLS, follows
// a serial and a full deploy step by step, and its actions work: pause and
// resume around the serial deploy, reject, retry and approve of the full
// one; it shows the history after a rollback, and opens a server's log.
func TestDashboardInABrowser(t *testing.T) {
	broken := &brokenApp{}
	// Boots take a second, so that each wait lasts long enough to be seen.
	p := newProjectSim(t, 2, awssim.Options{App: broken.app, BootDelay: time.Second})
	// Room for boots on a loaded machine; the broken commit still fails
	// its health check within the test's wait.
	slowerTimeouts(t, p.config)
	token, cert := dashboardConfig(t, p)
	d := &dashboard{t: t, ctx: browser(t, cert.SPKIHash), dir: artifacts(t), token: token}
	a := startDashboard(t, p)
	p.waitState(a, "idle", p.first)
	d.url = "https://" + a.Addr() + "/"
	d.open()

	serial, serialSteps := d.serialDeploy(p)
	full, fullSteps := d.fullDeploy(p)
	// Steps follow one another faster than the stream's 200 ms on the
	// fast simulator; over both deploys the page still shows them change.
	if currents := fullSteps + serialSteps; currents < 3 {
		t.Errorf("the page showed %d current steps over two deploys; want the steps changing", currents)
	}

	// A rollback: the card says blocked, the history says why.
	bad := p.work.Commit("Break the health check", map[string]string{"app.py": "3\n"})
	broken.set(bad)
	p.work.Git("push", "-q", "origin", "main:staging")
	until(t, d.ctx, "the rollback in the history", fmt.Sprintf(
		`document.querySelector('#env-staging').dataset.state === 'blocked' && [...document.querySelectorAll('#env-staging .history tbody tr')].some(tr => tr.textContent.includes(%q) && tr.textContent.includes('rolled-back'))`, bad[:12]))
	rows := d.history()
	for _, c := range []string{serial, full} {
		if !hasRow(rows, c, "succeeded") {
			t.Errorf("the history lacks the deploy of %.12s: %q", c, rows)
		}
	}
	if step := evaluate[string](t, d.ctx, `(document.querySelector('#env-staging .step.failed') || {}).textContent || ''`); !strings.Contains(step, "replace-batch") {
		t.Errorf("the step the deploy stopped at is %q; want a replace-batch", step)
	}
	screenshot(t, d.ctx, d.dir, "rolled-back.png")

	// A server's log, opened from the page.
	if err := chromedp.Do(d.ctx,
		chromedp.Click(chromedp.CSS("#env-staging .logs summary")),
		chromedp.Click(chromedp.CSS("#env-staging .logs a")),
		chromedp.WaitVisible(chromedp.CSS("#log")),
	); err != nil {
		t.Fatal(err)
	}
	if text := evaluate[string](t, d.ctx, `document.getElementById('log').textContent`); !strings.Contains(text, ": done") {
		t.Errorf("the log page shows %q", text)
	}
	screenshot(t, d.ctx, d.dir, "log.png")

	d.withoutJavaScript(p, a, bad)
}

// slowerTimeouts gives instances a minute to boot and 20 s to pass the
// health check: the project's 20 s and 5 s are too tight for boots of a
// second on a machine busy with other tests.
func slowerTimeouts(t *testing.T, config string) {
	t.Helper()
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(data), `instances_in_service = "20s"`, `instances_in_service = "60s"`, 1)
	doc = strings.Replace(doc, `healthy_in_balancers = "5s"`, `healthy_in_balancers = "20s"`, 1)
	if doc == string(data) {
		t.Fatal("the project's timeouts moved; update slowerTimeouts")
	}
	if err := os.WriteFile(config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
}
