package ui

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// FuzzActions posts arbitrary actions to the dashboard (it may listen on
// a network): any method, environment, action, form fields, extra body,
// content type and Authorization header, with actions on or off and an
// agent that accepts or refuses. The handler must never panic; it must
// ask the agent to act only with actions on, on a POST carrying the token
// (the Bearer header, else the form's field), and then pass the path's
// environment and action and the form's commit and reason (trimmed) as
// they were sent; it must answer 404 with actions off, 403 without the
// token, 303 once done and 400 when the agent refused; and neither its
// answer nor its log may show the token.
func FuzzActions(f *testing.F) {
	const tok = "s3cret-token-for-fuzzing"
	f.Add(uint8(0), "staging", "approve", tok, "0123456789abcdef0123456789abcdef01234567", " ok ", "", "", true, false)
	f.Add(uint8(0), "staging", "pause", "", "", "", "Bearer "+tok, "", true, false)
	f.Add(uint8(0), "staging", "pause", tok, "", "", "Bearer nope", "", true, false)
	f.Add(uint8(0), "production", "reject", tok, "0123456", "no", "", "&token=x", true, true)
	f.Add(uint8(0), "a/b", "..", tok, "", "", "", "", true, false)
	f.Add(uint8(1), "staging", "pause", tok, "", "", "", "", true, false)
	f.Add(uint8(0), "staging", "pause", tok, "", "", "", strings.Repeat("x", 5000), true, false)
	f.Add(uint8(3), "staging", "pause", tok, "", "", "", "", true, false)
	f.Add(uint8(0), "staging", "pause", tok, "", "", "", "", false, false)
	f.Fuzz(func(t *testing.T, kind uint8, env, action, token, sha, reason, authorization, extra string, on, refuse bool) {
		st := newState()
		if on {
			st.token = tok
		}
		if refuse {
			st.refuse = errors.New(env + ": not awaiting approval")
		}
		logs := &testutil.Buffer{}
		srv := New(st, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})

		method, contentType := http.MethodPost, "application/x-www-form-urlencoded"
		switch kind % 4 {
		case 1:
			method = http.MethodGet
		case 2:
			contentType = "text/plain"
		case 3:
			method = http.MethodPut
		}
		// Extra fields (or junk) after the form's: a field's first value
		// is the one that counts.
		body := url.Values{"token": {token}, "commit": {sha}, "reason": {reason}}.Encode() + "&" + extra
		req := httptest.NewRequest(method, "/", strings.NewReader(body))
		req.URL.Path = "/actions/" + env + "/" + action
		req.URL.RawPath = "/actions/" + url.PathEscape(env) + "/" + url.PathEscape(action)
		req.Header.Set("Content-Type", contentType)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)

		bearer, hasBearer := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		// postable: the action's route may take the request; routed: it
		// certainly does (a name with a slash, escaped, may be cleaned
		// into another path).
		postable := method == http.MethodPost && !slices.Contains([]string{"", ".", ".."}, env) && !slices.Contains([]string{"", ".", ".."}, action)
		routed := postable && !strings.Contains(env+action, "/")
		formOK := contentType == "application/x-www-form-urlencoded" && len(body) <= 4096
		if len(st.acted) > 1 {
			t.Fatalf("acted %d times", len(st.acted))
		}
		if len(st.acted) == 1 {
			a := st.acted[0]
			switch {
			case !on || !postable:
				t.Fatalf("acted with actions on=%v on %s %s: %+v", on, method, req.URL.RawPath, a)
			case hasBearer && bearer != tok, !hasBearer && token != tok:
				t.Fatalf("acted without the token (bearer %q, form %q): %+v", bearer, token, a)
			case a.Env != env || a.Name != action:
				t.Fatalf("acted on %q %q, the path said %q %q", a.Env, a.Name, env, action)
			case formOK && (a.Commit != sha || a.Reason != strings.TrimSpace(reason)):
				t.Fatalf("acted with commit %q reason %q, the form said %q %q", a.Commit, a.Reason, sha, reason)
			}
			want := http.StatusSeeOther
			if refuse {
				want = http.StatusBadRequest
			}
			if rec.Code != want {
				t.Fatalf("acted; answered %d, want %d", rec.Code, want)
			}
		} else if on && routed && ((hasBearer && bearer == tok) || (!hasBearer && token == tok && formOK)) {
			t.Fatalf("the token was given (bearer %v) but nothing was done: %d %s", hasBearer, rec.Code, rec.Body)
		}
		if routed {
			switch {
			case !on && rec.Code != http.StatusNotFound:
				t.Fatalf("actions off: answered %d", rec.Code)
			case on && len(st.acted) == 0 && rec.Code != http.StatusForbidden:
				t.Fatalf("without the token: answered %d", rec.Code)
			}
		}
		if sent := env + action + sha + reason + extra; !strings.Contains(sent, tok) {
			if strings.Contains(rec.Body.String(), tok) || strings.Contains(logs.String(), tok) {
				t.Fatalf("the token shown:\n%s\n%s", rec.Body, logs)
			}
		}
	})
}
