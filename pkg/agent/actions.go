package agent

import (
	"crypto/subtle"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Actions the dashboard may ask for.
const (
	ActionPause  = "pause"
	ActionResume = "resume"
	ActionRetry  = "retry"
)

// uiToken reads [agent.ui] token_file, the token the dashboard's actions
// need; nil when actions are off. It refuses a listener that is not
// loopback: the listener serves no TLS, so the token would cross the
// network in the clear.
func uiToken(file, listen string) ([]byte, error) {
	if file == "" {
		return nil, nil
	}
	if listen == "" {
		return nil, fmt.Errorf("[agent.ui] token_file is set but --listen is empty: the dashboard's actions need the listener")
	}
	if !loopback(listen) {
		return nil, fmt.Errorf("[agent.ui] token_file: the dashboard's actions are refused on the non-loopback listener %s (--listen), which serves no TLS; listen on loopback (127.0.0.1) behind a TLS proxy, or remove token_file", listen)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("[agent.ui] token_file: %w", err)
	}
	tok := []byte(strings.TrimSpace(string(b)))
	if len(tok) < 16 {
		return nil, fmt.Errorf("[agent.ui] token_file %s: the token is shorter than 16 characters", file)
	}
	return tok, nil
}

// loopback reports whether a listen address binds only loopback.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ActionsEnabled reports whether the dashboard may act ([agent.ui]
// token_file is set).
func (a *Agent) ActionsEnabled() bool { return a.uiToken != nil }

// Authorized reports whether token is the dashboard's token.
func (a *Agent) Authorized(token string) bool {
	return a.uiToken != nil && subtle.ConstantTimeCompare([]byte(token), a.uiToken) == 1
}

// Act pauses, resumes or retries env as ferry pause, resume and retry do:
// through the control files, which wake the environment's worker.
func (a *Agent) Act(env, action, by string) error {
	if _, ok := a.opts.Config.Environments[env]; !ok {
		return fmt.Errorf("no environment %q", env)
	}
	switch action {
	case ActionPause:
		return a.control.Pause(env, Paused{Since: time.Now().UTC(), By: by, Reason: "from the dashboard"})
	case ActionResume:
		return a.control.Resume(env)
	case ActionRetry:
		return a.control.Retry(env)
	}
	return fmt.Errorf("no action %q: use %s, %s or %s", action, ActionPause, ActionResume, ActionRetry)
}
