package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/pkg/config"
)

// TestDashboardActionsNeedTLSOffLoopback: ferry run turns the dashboard's
// actions on only with a token, and refuses them on a listener that is not
// loopback unless it serves TLS. Nothing here listens beyond loopback:
// building the agent decides, before any listener opens.
func TestDashboardActionsNeedTLSOffLoopback(t *testing.T) {
	p := newProject(t, 1)
	_, cert := dashboardConfig(t, p)
	loaded, err := config.Load(p.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		listen  string
		token   bool
		tls     bool
		refused string // "": the agent is built
	}{
		{"read-only anywhere", "0.0.0.0:9180", false, false, ""},
		{"token on loopback", "127.0.0.1:9180", true, false, ""},
		{"token off loopback without TLS", "0.0.0.0:9180", true, false, "non-loopback listener 0.0.0.0:9180 (--listen) without TLS"},
		{"token on every address without TLS", ":9180", true, false, "non-loopback listener :9180"},
		{"token off loopback with TLS", "0.0.0.0:9180", true, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := *loaded
			cfg.Agent.UI = config.AgentUI{}
			if tc.token {
				cfg.Agent.UI.TokenFile = loaded.Agent.UI.TokenFile
			}
			if tc.tls {
				cfg.Agent.UI.TLSCertFile, cfg.Agent.UI.TLSKeyFile = cert.CertFile, cert.KeyFile
			}
			a, err := buildAgent(context.Background(), &cfg, tc.listen, testLogger())
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) || !strings.Contains(err.Error(), "[agent.ui] token_file") {
					t.Fatalf("buildAgent: %v; want a refusal naming [agent.ui] token_file with %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.ActionsEnabled() != tc.token {
				t.Errorf("actions on: %v; want %v", a.ActionsEnabled(), tc.token)
			}
		})
	}
}

// TestDashboardOverTLS: with tls_cert_file and tls_key_file the listener
// serves HTTPS only (the page, /healthz, the actions); an action needs
// the token, and one with it pauses and resumes the environment.
func TestDashboardOverTLS(t *testing.T) {
	p := newProject(t, 1)
	token, cert := dashboardConfig(t, p)
	a := startDashboard(t, p)
	p.waitState(a, "idle", p.first)
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	base := "https://" + a.Addr()
	get := func(c *http.Client, url string) (int, string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, readAll(t, resp)
	}
	if code, body := get(client, base+"/"); code != http.StatusOK || !strings.Contains(body, `formaction="/actions/staging/pause"`) || strings.Contains(body, token) {
		t.Errorf("GET / over TLS: %d, the pause form and no token wanted:\n%s", code, body)
	}
	if code, _ := get(client, base+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz over TLS: %d", code)
	}
	// Plain HTTP on the same port gets no page.
	if code, body := get(http.DefaultClient, "http://"+a.Addr()+"/"); code != http.StatusBadRequest || strings.Contains(body, "staging") {
		t.Errorf("GET / in plain HTTP: %d\n%s", code, body)
	}
	act := func(action, token string) int {
		t.Helper()
		resp, err := client.PostForm(base+"/actions/staging/"+action, url.Values{"token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := act("pause", token+"x"); code != http.StatusForbidden {
		t.Errorf("pause with a wrong token: %d, want 403", code)
	}
	if code := act("pause", ""); code != http.StatusForbidden {
		t.Errorf("pause without a token: %d, want 403", code)
	}
	if s := p.envState(a); s.State != "idle" {
		t.Errorf("after refused actions staging is %+v", s)
	}
	if code := act("pause", token); code != http.StatusSeeOther {
		t.Fatalf("pause: %d, want 303", code)
	}
	p.waitState(a, "paused", p.first)
	if code := act("resume", token); code != http.StatusSeeOther {
		t.Fatalf("resume: %d, want 303", code)
	}
	p.waitState(a, "idle", p.first)
}
