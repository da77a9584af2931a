package agent

import (
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/config"
)

// Actions the dashboard may ask for.
const (
	ActionPause   = "pause"
	ActionResume  = "resume"
	ActionRetry   = "retry"
	ActionApprove = "approve"
	ActionReject  = "reject"
)

// Action is one action asked from the dashboard.
type Action struct {
	Env  string
	Name string // one of the Action* constants
	// Commit is the commit an approve or reject answers: the one the
	// page showed awaiting, so that an answer never lands on a newer
	// commit that superseded it meanwhile.
	Commit string
	// Reason goes to the note of an approve or reject.
	Reason string
	// By says who asked, for the log and the notes.
	By string
}

// uiToken reads [agent.ui] token_file, the token the dashboard's actions
// need; nil when actions are off. Actions are never on where the token
// would cross a network in the clear: on a listener that is not loopback
// they need TLS ([agent.ui] tls_cert_file and tls_key_file).
func uiToken(file, listen string, withTLS bool) ([]byte, error) {
	if file == "" {
		return nil, nil
	}
	if listen == "" {
		return nil, fmt.Errorf("[agent.ui] token_file is set but --listen is empty: the dashboard's actions need the listener")
	}
	if !withTLS && !loopback(listen) {
		return nil, fmt.Errorf("[agent.ui] token_file: the dashboard's actions are refused on the non-loopback listener %s (--listen) without TLS; set [agent.ui] tls_cert_file and tls_key_file, listen on loopback (127.0.0.1) behind a TLS proxy, or remove token_file", listen)
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

// listenerTLS loads [agent.ui] tls_cert_file and tls_key_file, the
// listener's certificate; nil when unset (plain HTTP).
func listenerTLS(ui config.AgentUI) (*tls.Config, error) {
	if ui.TLSCertFile == "" && ui.TLSKeyFile == "" {
		return nil, nil
	}
	if ui.TLSCertFile == "" || ui.TLSKeyFile == "" {
		return nil, errors.New("[agent.ui]: set both tls_cert_file and tls_key_file, or neither")
	}
	cert, err := tls.LoadX509KeyPair(ui.TLSCertFile, ui.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("[agent.ui] tls_cert_file %s, tls_key_file %s: %w", ui.TLSCertFile, ui.TLSKeyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
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

// Act does what ferry pause, resume, retry, approve and reject do, through
// the same control files, which wake the environment's worker.
func (a *Agent) Act(act Action) error {
	if _, ok := a.opts.Config.Environments[act.Env]; !ok {
		return fmt.Errorf("no environment %q", act.Env)
	}
	now := time.Now().UTC()
	switch act.Name {
	case ActionPause:
		return a.control.Pause(act.Env, Paused{Since: now, By: act.By, Reason: act.Reason})
	case ActionResume:
		return a.control.Resume(act.Env)
	case ActionRetry:
		return a.control.Retry(act.Env)
	case ActionApprove, ActionReject:
		_, err := a.control.Decide(act.Env, act.Commit, Decision{Approved: act.Name == ActionApprove, By: act.By, At: now, Reason: act.Reason})
		return err
	}
	return fmt.Errorf("no action %q: use %s, %s, %s, %s or %s", act.Name, ActionPause, ActionResume, ActionRetry, ActionApprove, ActionReject)
}
