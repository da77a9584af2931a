package forge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/config"
)

// provider is what differs between forges: where a status is posted, how
// it is encoded and authenticated, the description's limit, how the forge
// says "slow down" and how it explains a refusal.
type provider interface {
	name() string
	statusURL(commit string) string
	header(h http.Header, token string)
	body(st Status) any
	maxDescription() int
	// busy reports whether a 4xx answer asks to try again later (a rate
	// limit, mostly), and how long to wait if the forge said.
	busy(resp *http.Response, now time.Time) (bool, time.Duration)
	message(body []byte) string
	// redundant reports whether next, for the same commit and context as
	// last (the last status the forge accepted), would change nothing or
	// cannot be sent.
	redundant(last, next Status) bool
}

func newProvider(f config.Forge) (provider, error) {
	switch f.Provider {
	case config.ForgeGitHub:
		return newGitHub(f.APIURL, f.Repository)
	case config.ForgeGitLab:
		return newGitLab(f.APIURL, f.Repository)
	case config.ForgeGitea:
		return newGitea(f.APIURL, f.Repository)
	}
	return nil, fmt.Errorf("provider %q: use %q, %q or %q", f.Provider, config.ForgeGitHub, config.ForgeGitLab, config.ForgeGitea)
}

// parseBase checks an API base URL and returns it without a trailing
// slash. Credentials in it are refused: they would end up in logs and
// errors, and the token has its own, safer place.
func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api_url %q: must be an http:// or https:// URL", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("api_url %s: must not carry credentials; use token_file or token_env", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("api_url %q: must not have a query or fragment", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// ownerRepo splits "owner/name" for the forges that address a repository
// by its two path segments.
func ownerRepo(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("repository %q: must be \"owner/name\"", repo)
	}
	return owner, name, nil
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// parseResetEpoch reads a header holding the Unix time a rate limit resets
// at (GitHub's X-RateLimit-Reset, GitLab's RateLimit-Reset).
func parseResetEpoch(h http.Header, name string, now time.Time) (time.Duration, bool) {
	epoch, err := strconv.ParseInt(strings.TrimSpace(h.Get(name)), 10, 64)
	if err != nil || epoch <= 0 {
		return 0, false
	}
	// A second of margin: the reset time is rounded down to the second.
	return max(0, time.Unix(epoch, 0).Sub(now)+time.Second), true
}

// jsonMessage pulls a forge's explanation out of an error body: a
// "message" (a string, or GitLab's field → errors object), an "error", and
// the details of an "errors" list. Anything else is returned as short text.
// The explanation is not cut to length: the caller redacts the token
// first (a cut could leave a piece of it that redaction no longer finds),
// then cuts it to maxMessage.
func jsonMessage(body []byte) string {
	var v struct {
		Message json.RawMessage   `json:"message"`
		Error   string            `json:"error"`
		Errors  []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return truncate(strings.TrimSpace(string(body)), 200)
	}
	var parts []string
	var s string
	var fields map[string]any
	switch {
	case json.Unmarshal(v.Message, &s) == nil && s != "":
		parts = append(parts, s)
	case json.Unmarshal(v.Message, &fields) == nil && len(fields) > 0:
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %v", k, fields[k]))
		}
	}
	if v.Error != "" {
		parts = append(parts, v.Error)
	}
	for _, raw := range v.Errors {
		var e struct {
			Resource, Field, Code, Message string
		}
		if json.Unmarshal(raw, &s) == nil {
			parts = append(parts, s)
		} else if json.Unmarshal(raw, &e) == nil {
			var d []string
			for _, x := range []string{e.Resource, e.Field, e.Code, e.Message} {
				if x != "" {
					d = append(d, x)
				}
			}
			parts = append(parts, strings.Join(d, " "))
		}
	}
	return strings.Join(parts, "; ")
}

// maxMessage bounds a forge's explanation in an error, in characters.
const maxMessage = 500
