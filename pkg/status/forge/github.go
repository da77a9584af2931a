package forge

import (
	"net/http"
	"net/url"
	"time"
)

// github posts to POST {api}/repos/{owner}/{repo}/statuses/{sha}, where
// {api} is https://api.github.com or, on GitHub Enterprise Server,
// https://HOST/api/v3.
type github struct{ prefix string }

const (
	githubAPI        = "https://api.github.com"
	githubAPIVersion = "2022-11-28"
	// GitHub refuses longer descriptions with 422.
	githubMaxDescription = 140
)

func newGitHub(apiURL, repo string) (*github, error) {
	if apiURL == "" {
		apiURL = githubAPI
	}
	base, err := parseBase(apiURL)
	if err != nil {
		return nil, err
	}
	owner, name, err := ownerRepo(repo)
	if err != nil {
		return nil, err
	}
	return &github{prefix: base.String() + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/statuses/"}, nil
}

func (*github) name() string                     { return "github" }
func (g *github) statusURL(commit string) string { return g.prefix + commit }
func (*github) maxDescription() int              { return githubMaxDescription }
func (*github) message(body []byte) string       { return jsonMessage(body) }
func (*github) redundant(last, next Status) bool { return last == next }

func (*github) header(h http.Header, token string) {
	h.Set("Accept", "application/vnd.github+json")
	h.Set("X-GitHub-Api-Version", githubAPIVersion)
	h.Set("Authorization", "Bearer "+token)
}

type githubStatus struct {
	State       State  `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
	Context     string `json:"context"`
}

func (*github) body(st Status) any {
	return githubStatus{State: st.State, TargetURL: st.TargetURL, Description: st.Description, Context: st.Context}
}

// busy: GitHub answers 403 or 429 to a client over its primary
// limit (X-RateLimit-Remaining: 0, reset at X-RateLimit-Reset) or a
// secondary limit (Retry-After). A 403 without those headers is a refusal.
func (*github) busy(resp *http.Response, now time.Time) (bool, time.Duration) {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return false, 0
	}
	if d, ok := parseRetryAfter(resp.Header, now); ok {
		return true, d
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		d, _ := parseResetEpoch(resp.Header, "X-RateLimit-Reset", now)
		return true, d
	}
	return resp.StatusCode == http.StatusTooManyRequests, 0
}
