package forge

import (
	"fmt"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"
)

// gitlab posts to POST {api}/projects/:id/statuses/:sha, where :id is the
// project's numeric ID or its URL-encoded path ("group%2Fsub%2Fproject").
type gitlab struct{ prefix string }

const (
	gitlabAPI = "https://gitlab.com/api/v4"
	// GitLab refuses a description, ref or target_url over 255 characters.
	gitlabMaxDescription = 255
	gitlabMaxRef         = 255
	gitlabMaxTargetURL   = 255
)

func newGitLab(apiURL, repo string) (*gitlab, error) {
	if apiURL == "" {
		apiURL = gitlabAPI
	}
	base, err := parseBase(apiURL)
	if err != nil {
		return nil, err
	}
	if base.Path == "" {
		base.Path = "/api/v4"
	}
	if repo == "" || repo[0] == '/' || repo[len(repo)-1] == '/' {
		return nil, fmt.Errorf("repository %q: must be the project's path (\"group/project\") or numeric ID", repo)
	}
	return &gitlab{prefix: base.String() + "/projects/" + url.PathEscape(repo) + "/statuses/"}, nil
}

func (*gitlab) name() string                     { return "gitlab" }
func (g *gitlab) statusURL(commit string) string { return g.prefix + commit }
func (*gitlab) maxDescription() int              { return gitlabMaxDescription }
func (*gitlab) message(body []byte) string       { return jsonMessage(body) }

// redundant: besides an identical status, GitLab refuses to move a
// running status to running again ("Cannot transition status via :run
// from :running"), so a new description while the deploy runs cannot be
// shown there; the final state can.
func (*gitlab) redundant(last, next Status) bool {
	if last == next {
		return true
	}
	return gitlabState(last.State) == "running" && gitlabState(next.State) == "running" && last.Ref == next.Ref
}

func (*gitlab) header(h http.Header, token string) {
	h.Set("Accept", "application/json")
	h.Set("PRIVATE-TOKEN", token)
}

type gitlabStatus struct {
	State       string `json:"state"`
	Name        string `json:"name"`
	Ref         string `json:"ref,omitempty"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description,omitempty"`
}

// gitlabState maps Ferry's states to GitLab's job states: a deploy under
// way is "running"; GitLab has no "error", so Ferry's error is "failed".
func gitlabState(s State) string {
	switch s {
	case StatePending:
		return "running"
	case StateSuccess:
		return "success"
	default:
		return "failed"
	}
}

func (*gitlab) body(st Status) any {
	// A cut ref or URL would name nothing: better none. Without a ref
	// GitLab picks a branch holding the commit.
	ref, target := st.Ref, st.TargetURL
	if utf8.RuneCountInString(ref) > gitlabMaxRef {
		ref = ""
	}
	if utf8.RuneCountInString(target) > gitlabMaxTargetURL {
		target = ""
	}
	return gitlabStatus{
		State:       gitlabState(st.State),
		Name:        st.Context,
		Ref:         ref,
		TargetURL:   target,
		Description: st.Description,
	}
}

// busy: GitLab answers 429 with Retry-After (and RateLimit-Reset) to a
// client over its rate limit, and 409 when another update of the same
// commit's statuses holds the lock for longer than it waits.
func (*gitlab) busy(resp *http.Response, now time.Time) (bool, time.Duration) {
	switch resp.StatusCode {
	case http.StatusConflict:
		d, _ := parseRetryAfter(resp.Header, now)
		return true, d
	case http.StatusTooManyRequests:
	default:
		return false, 0
	}
	if d, ok := parseRetryAfter(resp.Header, now); ok {
		return true, d
	}
	d, _ := parseResetEpoch(resp.Header, "RateLimit-Reset", now)
	return true, d
}
