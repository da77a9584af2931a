package plan

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// TagCommit is the group tag holding the full SHA of the deployed commit,
// and the tag of an image baked for a commit (set once it is available).
const TagCommit = "ferry:commit"

// The tags of a baked image (with TagCommit) and of its builder.
const (
	TagEnv     = "ferry:env"
	TagProject = "ferry:project"
	// TagBaking marks an image from CreateImage until it is available and
	// tagged TagCommit, and a bake's builder: a bake interrupted between
	// two journal writes leaves nothing that recovery cannot find.
	TagBaking = "ferry:baking"
	// TagBase is a baked image's base image (launch.base_image's id): a
	// later bake starts its builder from it only when its base is the
	// same (images.cache).
	TagBase = "ferry:base"
)

// BakedImageTags are the tags that find the image baked for commit c of
// an environment: an image carrying them is complete and available.
func BakedImageTags(project, env string, c commit.ID) map[string]string {
	return map[string]string{TagProject: project, TagEnv: env, TagCommit: c.String()}
}

// launchSourceTime is the UTC timestamp layout in launch source names.
const launchSourceTime = "20060102T150405"

// LaunchSourceName names the launch configuration or launch template version
// (its description) Ferry creates for a commit:
// <project>-<env>-<sha12>-<UTC yyyymmddThhmmss>.
func LaunchSourceName(project, env string, c commit.ID, at time.Time) string {
	return fmt.Sprintf("%s-%s-%s-%s", project, env, c.Short(), at.UTC().Format(launchSourceTime))
}

// RoleLaunchConfigurationName names the launch configuration of one role's
// group when an environment has several groups: launch configurations are
// per group (each copied from the group's own), and their names are unique
// per account and region.
func RoleLaunchConfigurationName(name, role string) string {
	return name + "-" + role
}

// launchSourceRE matches what LaunchSourceName writes, with the optional
// role suffix of RoleLaunchConfigurationName.
var launchSourceRE = regexp.MustCompile(`-([0-9a-f]{12})-([0-9]{8}T[0-9]{6})(?:-(?:` + roleAlternatives() + `))?$`)

func roleAlternatives() string {
	var names []string
	for _, r := range roles.All() {
		names = append(names, regexp.QuoteMeta(string(r)))
	}
	return strings.Join(names, "|")
}

// CommitOfLaunchSource returns the 12-hex-digit commit prefix a launch source
// name or description carries, with or without a role suffix, or "" when it
// was not named by Ferry.
func CommitOfLaunchSource(name string) string {
	m := launchSourceRE.FindStringSubmatch(name)
	if m == nil {
		return ""
	}
	return m[1]
}
