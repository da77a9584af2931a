package watch

import (
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/bmatcuk/doublestar/v4"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/pkg/commit"
)

// Rule maps a ref to an environment: either a branch, whose head is the
// environment's wanted commit, or a tag pattern (a glob such as "v*"), where
// the highest semantic version among matching tags is wanted.
type Rule struct {
	Env        string
	Branch     string
	TagPattern string
	// Prerelease lets tags such as v1.5.0-rc.1 be targets; off by default
	// so a release candidate never reaches production by accident.
	Prerelease bool
}

// Validate checks one rule on its own.
func (r Rule) Validate() error {
	switch {
	case r.Env == "":
		return fmt.Errorf("rule has no environment: %w", ErrPermanent)
	case (r.Branch == "") == (r.TagPattern == ""):
		return fmt.Errorf("rule for %s: set exactly one of branch or tag pattern: %w", r.Env, ErrPermanent)
	case r.Branch != "" && !plumbing.NewBranchReferenceName(r.Branch).IsBranch():
		return fmt.Errorf("rule for %s: bad branch %q: %w", r.Env, r.Branch, ErrPermanent)
	}
	if r.TagPattern != "" {
		if !doublestar.ValidatePattern(r.TagPattern) {
			return fmt.Errorf("rule for %s: tag pattern %q does not compile: %w", r.Env, r.TagPattern, ErrPermanent)
		}
	}
	return nil
}

// Target is what an environment should run.
type Target struct {
	Env    string
	Ref    string    // e.g. refs/heads/staging or refs/tags/v1.4.0
	Commit commit.ID // the commit (tags peeled)
	// Forced is set when a branch moved to a commit that does not descend
	// from the previous target (a force-push).
	Forced bool
}

// tagCandidate is a tag that matched a rule's pattern and parsed as semver.
type tagCandidate struct {
	ref     RemoteRef
	version *semver.Version
}

// matchTags returns the semver tags among refs that match the rule, highest
// first, and the names of matching tags that are not valid versions.
func (r Rule) matchTags(refs map[plumbing.ReferenceName]RemoteRef) (tags []tagCandidate, invalid []string) {
	for name, ref := range refs {
		if !name.IsTag() {
			continue
		}
		short := name.Short()
		// The same glob syntax the config validated the pattern with.
		if ok, _ := doublestar.Match(r.TagPattern, short); !ok {
			continue
		}
		v, err := semver.NewVersion(short)
		if err != nil || !strictEnough(short) {
			invalid = append(invalid, short)
			continue
		}
		if v.Prerelease() != "" && !r.Prerelease {
			continue
		}
		tags = append(tags, tagCandidate{ref: ref, version: v})
	}
	sort.Slice(tags, func(i, j int) bool {
		if c := tags[i].version.Compare(tags[j].version); c != 0 {
			return c > 0
		}
		return tags[i].ref.Name < tags[j].ref.Name // v1.0.0 and 1.0.0: stable order
	})
	sort.Strings(invalid)
	return tags, invalid
}

// strictEnough refuses the partial versions semver.NewVersion coerces
// ("v1", "1.2"): a release tag must say major.minor.patch.
func strictEnough(tag string) bool {
	core := strings.TrimPrefix(tag, "v")
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	return strings.Count(core, ".") == 2
}
