package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/ui"
)

func newRunCmd(logs *logOptions) *cobra.Command {
	var path, listen string
	cmd := &cobra.Command{
		Use:   "run [-c FILE]",
		Short: "Run the agent: watch the repository and deploy every environment",
		Long: `Run is the long-lived agent systemd starts. For every environment of the
config it watches the git remote (by poll_interval or poll_cron, and at once
when a webhook arrives on POST /hooks/git), and when the environment's
branch or release tag moves it plans and deploys the newest commit, one
deploy per environment at a time (environments are independent), holding
the environment's lock so that several agents never deploy twice.

A commit whose deploy failed, rolled back or was refused is not retried in
a loop: the environment waits for a new commit or ferry retry. Deploy
windows ([[environments.NAME.windows]]) hold deploys back (deny wins; a
deploy already running finishes); ferry pause stops an environment until
ferry resume. The agent asks for no confirmation: pushing the branch or the
tag is the decision.

The listener (--listen, loopback by default) serves the dashboard (/, live
in a browser: every environment, the running deploy's steps and waits,
history and per-server logs; docs/ui.md), /healthz, /metrics (Prometheus)
and the webhook receiver; in HTTPS with [agent.ui] tls_cert_file and
tls_key_file. The dashboard's actions (pause, resume, retry, approve,
reject) are on only with [agent.ui] token_file, and refused on a listener
that is not loopback without TLS. SIGTERM or SIGINT stops polling, lets
a running deploy reach a safe point (processes resumed, journal written; the
next start recovers it) and exits 0. SIGHUP reloads the config; an invalid
new config is reported and the old one kept.`,
		Example: `  ferry run -c /etc/ferry/ferry.toml
  ferry run -c ferry.toml --listen 127.0.0.1:9180 --log-format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			return runAgent(cmd.Context(), cfg, path, listen, log, hup)
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9180", "address of the dashboard, /healthz, /metrics and /hooks/git (empty: none)")
	return cmd
}

// runAgent runs agents until ctx ends, replacing the running one with a new
// one built from the reloaded config on every signal from reload.
func runAgent(ctx context.Context, cfg *config.Config, path, listen string, log *slog.Logger, reload <-chan os.Signal) error {
	for {
		a, err := buildAgent(ctx, cfg, listen, log)
		if err != nil {
			return err
		}
		actx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(actx) }()
		for next := (*config.Config)(nil); next == nil; {
			select {
			case err := <-done:
				stop()
				return err
			case <-reload:
				c, err := loadConfig(path)
				if err != nil {
					log.Error("config reload failed; keeping the running config", "file", path, "err", err)
					continue
				}
				log.Info("config reloaded; restarting the agent", "file", path)
				next = c
			}
		}
		stop()
		if err := <-done; err != nil {
			return err
		}
		cfg = nextConfig(path, cfg, log)
	}
}

// nextConfig loads the config again after a reload was accepted.
func nextConfig(path string, old *config.Config, log *slog.Logger) *config.Config {
	c, err := loadConfig(path)
	if err != nil {
		log.Error("config changed again and is invalid; keeping the previous one", "err", err)
		return old
	}
	return c
}

func buildAgent(ctx context.Context, cfg *config.Config, listen string, log *slog.Logger) (*agent.Agent, error) {
	m, err := agent.OpenMirror(cfg, log)
	if err != nil {
		return nil, err
	}
	clouds, err := agent.ConnectAll(ctx, cfg, cloudFunc(newCloud).connect, log)
	if err != nil {
		return nil, err
	}
	a, err := agent.New(agent.Options{Config: cfg, Mirror: m, Clouds: clouds, Listen: listen, Logger: log, UserAgent: "ferry/" + version,
		Page: func(a *agent.Agent) http.Handler { return ui.New(a, ui.Options{Logger: log}) }})
	if err != nil {
		return nil, errors.Join(errors.New("start the agent"), err)
	}
	return a, nil
}
