package forge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/config"
)

// answer is an http.RoundTripper that gives every request one canned
// answer, in memory: the forge's error answers are what is under test,
// not the network.
type answer struct {
	code   int
	header http.Header
	body   []byte
}

func (a answer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: a.code, Status: http.StatusText(a.code), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: a.header, Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: int64(len(a.body)), Request: req,
	}, nil
}

// answerReporter is a Reporter of provider whose forge gives every request
// the answer a.
func answerReporter(t testing.TB, provider string, a answer) (*Reporter, *testutil.Buffer) {
	t.Helper()
	logs := new(testutil.Buffer)
	r, err := New(config.Forge{Provider: provider, APIURL: "https://" + forgeHost + "/api", Repository: "octo/shop", Context: "ferry/staging", TokenEnv: "FORGE_TOKEN"},
		Options{HTTPClient: &http.Client{Transport: a}, Getenv: func(string) string { return testToken }, Jitter: noJitter,
			Logger: testLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	return r, logs
}

// TestForgeMessageNeverCarriesPartOfTheToken: a forge that echoes the
// token near the end of a long message must not have it cut into a piece
// that escapes redaction.
func TestForgeMessageNeverCarriesPartOfTheToken(t *testing.T) {
	for _, pad := range []int{480, 490, 495, 499, 190, 195} {
		for _, body := range []string{
			`{"message":"` + strings.Repeat("x", pad) + testToken + `"}`,
			strings.Repeat("x", pad) + testToken,
		} {
			r, _ := answerReporter(t, config.ForgeGitHub, answer{code: 401, header: http.Header{}, body: []byte(body)})
			err := r.Send(context.Background(), Status{Commit: commitA, State: StateSuccess, Description: "deployed"})
			if err == nil {
				t.Fatal("a 401 was taken for a success")
			}
			if strings.Contains(err.Error(), testToken[:8]) {
				t.Errorf("pad %d: part of the token in %q", pad, err)
			}
		}
	}
}

// FuzzErrorAnswer gives a Reporter arbitrary answers to a status (any
// status code, body and rate-limit headers, from any of the three
// forges): it must never panic; a 2xx is a success and anything else an
// *APIError that names the forge, the repository and the code, is either
// transient or permanent, asks for no negative wait, and carries a
// message of at most maxMessage characters of valid UTF-8 that never
// holds the token, whole or cut, nor does the log.
func FuzzErrorAnswer(f *testing.F) {
	f.Add(uint8(0), uint16(422), []byte(`{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","field":"state","message":"state is not included in the list"}],"documentation_url":"https://docs.github.com/rest"}`), "", "", "")
	f.Add(uint8(0), uint16(403), []byte(`{"message":"API rate limit exceeded for user ID 1."}`), "", "0", "1795000000")
	f.Add(uint8(0), uint16(429), []byte(`{"message":"You have exceeded a secondary rate limit."}`), "60", "", "")
	f.Add(uint8(1), uint16(400), []byte(`{"message":{"state":["is invalid"],"name":["is too long"]}}`), "", "", "")
	f.Add(uint8(1), uint16(409), []byte(`{"message":"Cannot transition status via :run from :running"}`), "Wed, 23 Nov 2026 12:00:30 GMT", "", "")
	f.Add(uint8(1), uint16(401), []byte(`{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}`), "", "", "")
	f.Add(uint8(2), uint16(404), []byte(`{"errors":["repo not found"],"message":"not found","url":"https://gitea.example.com/api/swagger"}`), "", "", "")
	f.Add(uint8(2), uint16(502), []byte("<html><body><h1>502 Bad Gateway</h1></body></html>"), "", "", "")
	f.Add(uint8(0), uint16(401), []byte(`{"message":"Bad credentials: `+strings.Repeat("x", 470)+testToken+`"}`), "", "", "")
	f.Add(uint8(0), uint16(301), []byte(""), "", "", "")
	f.Add(uint8(0), uint16(201), []byte(`{"id":1}`), "", "", "")
	providers := []string{config.ForgeGitHub, config.ForgeGitLab, config.ForgeGitea}
	f.Fuzz(func(t *testing.T, which uint8, code uint16, body []byte, retryAfter, remaining, reset string) {
		status := 200 + int(code)%400 // 200-599
		provider := providers[int(which)%len(providers)]
		h := http.Header{}
		for k, v := range map[string]string{"Retry-After": retryAfter, "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset, "RateLimit-Reset": reset, "Location": retryAfter} {
			if v != "" {
				h.Set(k, v)
			}
		}
		r, logs := answerReporter(t, provider, answer{code: status, header: h, body: body})
		err := r.Send(context.Background(), Status{Commit: commitA, State: StateFailure, Description: "rolled back"})
		if strings.Contains(logs.String(), testToken[:8]) {
			t.Fatalf("part of the token logged:\n%s", logs)
		}
		if status/100 == 2 {
			if err != nil {
				t.Fatalf("a %d answer: %v", status, err)
			}
			return
		}
		switch {
		case err == nil:
			t.Fatalf("a %d answer taken for a success", status)
		case !strings.HasPrefix(err.Error(), provider+" octo/shop: "):
			t.Fatalf("the error does not start with the forge and repository: %v", err)
		case errors.Is(err, ErrUnavailable) == errors.Is(err, ErrRejected):
			t.Fatalf("neither or both transient and permanent: %v", err)
		case strings.Contains(err.Error(), testToken):
			t.Fatalf("the token in the error: %v", err)
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			// net/http gives no answer, only an error, for a redirect
			// whose Location does not parse.
			if status/100 == 3 && h.Get("Location") != "" {
				return
			}
			t.Fatalf("a %d answer gave %T %v, want an *APIError", status, err, err)
		}
		switch {
		case ae.Forge != provider || ae.Repository != "octo/shop" || ae.StatusCode != status:
			t.Fatalf("the error names %s %s %d, want %s octo/shop %d", ae.Forge, ae.Repository, ae.StatusCode, provider, status)
		case ae.RetryAfter < 0:
			t.Fatalf("a negative wait: %v", ae.RetryAfter)
		case utf8.RuneCountInString(ae.Message) > maxMessage || !utf8.ValidString(ae.Message):
			t.Fatalf("a message of %d characters (valid UTF-8: %v)", utf8.RuneCountInString(ae.Message), utf8.ValidString(ae.Message))
		}
		// The token, or a piece of it that only a cut could have made
		// (a body with JSON escapes may spell a piece that is not there
		// as sent).
		sent := strings.ReplaceAll(string(body)+retryAfter, testToken, "")
		if strings.Contains(err.Error(), testToken[:8]) && !strings.Contains(sent, testToken[:8]) && !strings.Contains(sent, `\`) {
			t.Fatalf("part of the token in the error: %v", err)
		}
	})
}
