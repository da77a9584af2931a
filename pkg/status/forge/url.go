package forge

import (
	"strings"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
)

// CommitURL is the page of commit c on forge f, for people (not the API):
// the web address is the API's without its API path, GitHub's public API
// standing for github.com. It is "" for a provider it does not know.
func CommitURL(f config.Forge, c commit.ID) string {
	base := strings.TrimSuffix(f.APIURL, "/")
	repo := strings.Trim(f.Repository, "/")
	switch f.Provider {
	case config.ForgeGitHub:
		if base == "" || base == "https://api.github.com" {
			base = "https://github.com"
		}
		return strings.TrimSuffix(base, "/api/v3") + "/" + repo + "/commit/" + c.String()
	case config.ForgeGitLab:
		if base == "" {
			base = "https://gitlab.com"
		}
		return strings.TrimSuffix(base, "/api/v4") + "/" + repo + "/-/commit/" + c.String()
	case config.ForgeGitea:
		return strings.TrimSuffix(base, "/api/v1") + "/" + repo + "/commit/" + c.String()
	}
	return ""
}
