package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"time"
)

// SignatureHeader carries a webhook body's HMAC-SHA256 under the shared
// secret, as "sha256=" and the hex digest (the form GitHub uses).
const SignatureHeader = "X-Ferry-Signature-256"

// EventHeader names the event of a webhook request.
const EventHeader = "X-Ferry-Event"

// Sign returns the value of SignatureHeader for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Webhook POSTs the event as JSON, signed when Secret is set.
type Webhook struct {
	URL       string
	Secret    []byte
	Client    *http.Client
	UserAgent string
}

// Send implements Target.
func (w *Webhook) Send(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	h := http.Header{EventHeader: {ev.Event}}
	if len(w.Secret) > 0 {
		h.Set(SignatureHeader, Sign(w.Secret, body))
	}
	return post(ctx, w.Client, w.URL, w.UserAgent, h, body)
}

// Slack posts a message to an incoming webhook.
type Slack struct {
	URL       string
	Client    *http.Client
	UserAgent string
}

// Send implements Target.
func (s *Slack) Send(ctx context.Context, ev Event) error {
	body, err := json.Marshal(map[string]string{"text": Text(ev)})
	if err != nil {
		return err
	}
	return post(ctx, s.Client, s.URL, s.UserAgent, nil, body)
}

// Text is an event as one line a person reads.
func Text(ev Event) string {
	var b strings.Builder
	short := ev.Commit
	if len(short) > 12 {
		short = short[:12]
	}
	fmt.Fprintf(&b, "%s/%s: %s", ev.Project, ev.Environment, ev.Event)
	if short != "" {
		fmt.Fprintf(&b, " at %s", short)
	}
	if ev.Method != "" {
		fmt.Fprintf(&b, " (%s)", ev.Method)
	}
	if ev.Summary != "" {
		fmt.Fprintf(&b, ": %s", ev.Summary)
	}
	if ev.Reason != "" {
		fmt.Fprintf(&b, " — %s", ev.Reason)
	}
	return b.String()
}

// post sends body and wants a 2xx. Its errors never name the URL: a Slack
// webhook's path is its token.
func post(ctx context.Context, client *http.Client, target, ua string, h http.Header, body []byte) error {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("invalid URL: %w", ue.Err)
		}
		return errors.New("invalid URL")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("POST to %s: %w", req.URL.Host, ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST to %s: %s", req.URL.Host, resp.Status)
	}
	return nil
}

// Exec runs a command with the event as JSON on stdin; a non-zero exit is
// a failure. The command's environment is the agent's.
type Exec struct {
	Argv []string
}

// Send implements Target.
func (e *Exec) Send(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, e.Argv[0], e.Argv[1:]...)
	cmd.Stdin = bytes.NewReader(append(body, '\n'))
	var out tail
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if s := strings.TrimSpace(string(out.b)); s != "" {
			return fmt.Errorf("%s: %w: %s", e.Argv[0], err, s)
		}
		return fmt.Errorf("%s: %w", e.Argv[0], err)
	}
	return nil
}

// tail keeps the last 512 bytes written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 512 {
		t.b = t.b[len(t.b)-512:]
	}
	return len(p), nil
}
