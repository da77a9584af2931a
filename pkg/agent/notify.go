package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/notify"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// NotifyRoutes builds the [[notify]] targets of cfg, reading their URL and
// secret files now so that a missing file stops the agent at start rather
// than at its first deploy. Errors name the target, never a file's
// content.
func NotifyRoutes(cfg *config.Config, userAgent string) ([]notify.Route, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	var routes []notify.Route
	for _, n := range cfg.Notify {
		var t notify.Target
		switch n.Kind {
		case config.NotifySlack:
			u, err := readFileValue(n.URLFile)
			if err != nil {
				return nil, fmt.Errorf("notify %s: url_file: %w", n.Name, err)
			}
			t = &notify.Slack{URL: u, Client: client, UserAgent: userAgent}
		case config.NotifyWebhook:
			u := n.URL
			if n.URLFile != "" {
				var err error
				if u, err = readFileValue(n.URLFile); err != nil {
					return nil, fmt.Errorf("notify %s: url_file: %w", n.Name, err)
				}
			}
			secret, err := readFileValue(n.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("notify %s: secret_file: %w", n.Name, err)
			}
			t = &notify.Webhook{URL: u, Secret: []byte(secret), Client: client, UserAgent: userAgent}
		case config.NotifyExec:
			t = &notify.Exec{Argv: n.Command}
		default:
			return nil, fmt.Errorf("notify %s: unknown kind %q", n.Name, n.Kind)
		}
		routes = append(routes, notify.Route{Name: n.Name, Target: t, Environments: n.Environments, Events: n.Events})
	}
	return routes, nil
}

func readFileValue(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", errors.New(path + " is empty")
	}
	return v, nil
}

// BakeFailedEvent is the bake-failed notification of a bake of commit c
// for env: what the agent's deploys and bakes ahead, ferry bake and ferry
// prepare send when a bake fails.
func BakeFailedEvent(project, env string, c commit.ID, err error) notify.Event {
	return notify.Event{Event: notify.BakeFailed, Project: project, Environment: env,
		Commit: c.String(), Reason: err.Error(), At: time.Now().UTC()}
}

// notifyTimeout bounds NotifyNow: a command that failed does not hang on
// a target that does not answer.
const notifyTimeout = 30 * time.Second

// NotifyNow sends ev to cfg's [[notify]] targets that want it and waits,
// at most notifyTimeout, for them to have it: for a command that exits
// next (ferry bake, ferry prepare), where the agent queues instead. A
// target that cannot be reached is logged, never an error of the command.
func NotifyNow(ctx context.Context, cfg *config.Config, userAgent string, ev notify.Event, log *slog.Logger) {
	routes, err := NotifyRoutes(cfg, userAgent)
	if err != nil {
		log.Warn("notification not sent", "event", ev.Event, "env", ev.Environment, "err", err)
		return
	}
	if len(routes) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	n := notify.New(routes, notify.Options{Logger: log, Attempts: 3, Timeout: 10 * time.Second})
	if err := n.Send(ctx, ev); err != nil {
		log.Warn("notification not delivered", "event", ev.Event, "env", ev.Environment, "err", err)
	}
}

// notifyMetrics count what the notifier could not deliver.
func notifyMetrics(reg prometheus.Registerer) (dropped, failed *prometheus.CounterVec) {
	dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_notifications_dropped_total", Help: "Notifications dropped because the target's queue was full.",
	}, []string{"target"})
	failed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_notifications_failed_total", Help: "Notifications given up on after every retry failed.",
	}, []string{"target"})
	reg.MustRegister(dropped, failed)
	return dropped, failed
}

// event is the notification about env's deploy of p.
func (a *Agent) event(kind string, env string, p *plan.Plan, reason string) notify.Event {
	ev := notify.Event{Event: kind, Project: a.opts.Config.Project.Name, Environment: env, Reason: reason, At: time.Now().UTC()}
	if p != nil {
		ev.Commit = p.Target.Commit.String()
		ev.Method = string(p.Method)
		ev.Summary = planSummary(p)
	}
	return ev
}

// outcomeEvent is the kind of event a finished deploy's outcome is.
func outcomeEvent(o execute.Outcome) string {
	switch o {
	case execute.Succeeded:
		return notify.Succeeded
	case execute.RolledBack:
		return notify.RolledBack
	default:
		return notify.Failed
	}
}

// planSummary is one line saying what a plan does: its method, the groups
// it replaces and whether the site goes down.
func planSummary(p *plan.Plan) string {
	if p.Action == plan.NoOp {
		return "nothing to do"
	}
	var groups []string
	n := 0
	for _, g := range p.Groups {
		groups = append(groups, g.Role)
		n += len(g.Replace)
	}
	s := fmt.Sprintf("%s deploy of %s to %s", p.Method, p.Environment, p.Target.Commit.Short())
	if !p.Deployed.Commit.IsZero() {
		s += " from " + p.Deployed.Commit.Short()
	}
	s += fmt.Sprintf(": %s, %d instances replaced", strings.Join(groups, ", "), n)
	if p.Downtime {
		s += ", downtime (upgrade page)"
	}
	return s
}
