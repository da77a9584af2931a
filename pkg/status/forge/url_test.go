package forge

import (
	"testing"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
)

func TestCommitURL(t *testing.T) {
	c := commit.MustParse("0123456789abcdef0123456789abcdef01234567")
	for _, tc := range []struct {
		f    config.Forge
		want string
	}{
		{config.Forge{Provider: "github", Repository: "acme/shop"}, "https://github.com/acme/shop/commit/" + c.String()},
		{config.Forge{Provider: "github", APIURL: "https://api.github.com", Repository: "acme/shop"}, "https://github.com/acme/shop/commit/" + c.String()},
		{config.Forge{Provider: "github", APIURL: "https://ghe.example/api/v3/", Repository: "acme/shop"}, "https://ghe.example/acme/shop/commit/" + c.String()},
		{config.Forge{Provider: "gitlab", APIURL: "https://gl.example/api/v4", Repository: "acme/shop"}, "https://gl.example/acme/shop/-/commit/" + c.String()},
		{config.Forge{Provider: "gitea", APIURL: "https://tea.example/api/v1", Repository: "acme/shop"}, "https://tea.example/acme/shop/commit/" + c.String()},
		{config.Forge{Provider: "other", Repository: "acme/shop"}, ""},
	} {
		if got := CommitURL(tc.f, c); got != tc.want {
			t.Errorf("CommitURL(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}
