package forge

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestBusy(t *testing.T) {
	now := testNow
	epoch := func(d time.Duration) string { return fmt.Sprint(now.Add(d).Unix()) }
	gh, _ := newGitHub("", "o/r")
	gl, _ := newGitLab("", "g/p")
	gt, _ := newGitea("https://gitea.example.com", "o/r")
	tests := []struct {
		name   string
		p      provider
		code   int
		header map[string]string
		busy   bool
		wait   time.Duration
	}{
		{"github 403 primary", gh, 403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(30 * time.Second)}, true, 31 * time.Second},
		{"github 403 reset passed", gh, 403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(-time.Minute)}, true, 0},
		{"github 403 Retry-After wins", gh, 403, map[string]string{"Retry-After": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(time.Hour)}, true, 5 * time.Second},
		{"github 403 forbidden", gh, 403, map[string]string{"X-RateLimit-Remaining": "12"}, false, 0},
		{"github 429 bare", gh, 429, nil, true, 0},
		{"github 429 garbage Retry-After", gh, 429, map[string]string{"Retry-After": "-5"}, true, 0},
		{"github 404", gh, 404, map[string]string{"Retry-After": "5"}, false, 0},
		{"gitlab 429", gl, 429, map[string]string{"Retry-After": "60"}, true, time.Minute},
		{"gitlab 429 reset only", gl, 429, map[string]string{"RateLimit-Reset": epoch(9 * time.Second)}, true, 10 * time.Second},
		{"gitlab 403 is not a rate limit", gl, 403, map[string]string{"Retry-After": "60"}, false, 0},
		{"gitlab 409 update in progress", gl, 409, nil, true, 0},
		{"gitea 429 date", gt, 429, map[string]string{"Retry-After": now.Add(2 * time.Minute).Format(http.TimeFormat)}, true, 2 * time.Minute},
		{"gitea 503", gt, 503, map[string]string{"Retry-After": "60"}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.code, Header: http.Header{}}
			for k, v := range tt.header {
				resp.Header.Set(k, v)
			}
			busy, wait := tt.p.busy(resp, now)
			if busy != tt.busy || wait != tt.wait {
				t.Errorf("busy = %v, %s; want %v, %s", busy, wait, tt.busy, tt.wait)
			}
		})
	}
}

func TestStatusURLs(t *testing.T) {
	tests := []struct {
		provider, apiURL, repo, want string
	}{
		{"github", "", "octo-org/hello.world", "https://api.github.com/repos/octo-org/hello.world/statuses/"},
		{"github", "https://ghe.example.com/api/v3/", "ops/site", "https://ghe.example.com/api/v3/repos/ops/site/statuses/"},
		{"gitlab", "", "group/sub/project", "https://gitlab.com/api/v4/projects/group%2Fsub%2Fproject/statuses/"},
		{"gitlab", "https://gitlab.example.com", "42", "https://gitlab.example.com/api/v4/projects/42/statuses/"},
		{"gitlab", "https://gitlab.example.com/api/v4", "a/b", "https://gitlab.example.com/api/v4/projects/a%2Fb/statuses/"},
		{"gitea", "https://git.example.com/forgejo/", "ops/site", "https://git.example.com/forgejo/api/v1/repos/ops/site/statuses/"},
		{"gitea", "https://git.example.com/api/v1", "ops/site", "https://git.example.com/api/v1/repos/ops/site/statuses/"},
	}
	for _, tt := range tests {
		t.Run(tt.provider+" "+tt.apiURL, func(t *testing.T) {
			var p provider
			var err error
			switch tt.provider {
			case "github":
				p, err = newGitHub(tt.apiURL, tt.repo)
			case "gitlab":
				p, err = newGitLab(tt.apiURL, tt.repo)
			case "gitea":
				p, err = newGitea(tt.apiURL, tt.repo)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.statusURL(commitA.String()); got != tt.want+commitA.String() {
				t.Errorf("status URL %s, want %s", got, tt.want+commitA.String())
			}
		})
	}
}
