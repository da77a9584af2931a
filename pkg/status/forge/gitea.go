package forge

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// gitea posts to POST {server}/api/v1/repos/{owner}/{repo}/statuses/{sha};
// Forgejo serves the same API.
type gitea struct{ prefix string }

// Gitea stores the description as TEXT and documents no limit; Ferry caps
// it so that a runaway message (a command's whole output) stays a
// description.
const giteaMaxDescription = 1024

func newGitea(apiURL, repo string) (*gitea, error) {
	if apiURL == "" {
		return nil, errors.New(`api_url: required for gitea, e.g. "https://gitea.example.com"`)
	}
	base, err := parseBase(apiURL)
	if err != nil {
		return nil, err
	}
	// api_url is the server's URL; accept it with /api/v1 too.
	if !strings.HasSuffix(base.Path, "/api/v1") {
		base.Path += "/api/v1"
	}
	owner, name, err := ownerRepo(repo)
	if err != nil {
		return nil, err
	}
	return &gitea{prefix: base.String() + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + "/statuses/"}, nil
}

func (*gitea) name() string                     { return "gitea" }
func (g *gitea) statusURL(commit string) string { return g.prefix + commit }
func (*gitea) maxDescription() int              { return giteaMaxDescription }
func (*gitea) message(body []byte) string       { return jsonMessage(body) }
func (*gitea) redundant(last, next Status) bool { return last == next }

func (*gitea) header(h http.Header, token string) {
	h.Set("Accept", "application/json")
	h.Set("Authorization", "token "+token)
}

// giteaStatus is Gitea's CreateStatusOption; its states are GitHub's.
type giteaStatus struct {
	State       State  `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
	Context     string `json:"context"`
}

func (*gitea) body(st Status) any {
	return giteaStatus{State: st.State, TargetURL: st.TargetURL, Description: st.Description, Context: st.Context}
}

// busy: Gitea (or the proxy in front of it) answers 429 to a client over
// its rate limit.
func (*gitea) busy(resp *http.Response, now time.Time) (bool, time.Duration) {
	if resp.StatusCode != http.StatusTooManyRequests {
		return false, 0
	}
	d, _ := parseRetryAfter(resp.Header, now)
	return true, d
}
