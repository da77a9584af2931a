package agent

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
