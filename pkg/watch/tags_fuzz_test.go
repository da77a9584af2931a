package watch

import (
	"slices"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/bmatcuk/doublestar/v4"
	"github.com/go-git/go-git/v5/plumbing"
)

// FuzzMatchTags feeds the tag names a remote advertises (anything a
// server may list, each a name git accepts, as ListRemote keeps them) to a
// tag rule: whatever they are, the candidates are matching tags with full
// major.minor.patch versions (prereleases only where allowed), highest
// first, the same however the listing is ordered; the invalid ones are the
// other matching tags that are not versions; no matching tag is lost.
func FuzzMatchTags(f *testing.F) {
	f.Add("v1.2.0\nv1.10.0\nv2\nV3.0.0\nv1.11.0-rc.1\ndocs/v9.0.0", uint8(0), false)
	f.Add("v1.0.0\n1.0.0\nv1.0.0+build.2\nv1.0.0+build.1", uint8(1), true)
	f.Add("v1.0.0-alpha\nv1.0.0-alpha.1\nv1.0.0-alpha.beta\nv1.0.0-beta.2\nv1.0.0-beta.11\nv1.0.0-rc.1\nv1.0.0", uint8(0), true)
	f.Add("v1.0.0-01\nv1.0.0-1\nv01.0.0\nv1.0.0-0a\nv1.0.0-a0", uint8(1), true)
	f.Add("v9999999999999999999999.0.0\nv1.2.3.4\nv1..2\nv\nrelease-2.0.0", uint8(2), false)
	patterns := []string{"v*", "*", "{v,release-}*", "[vV][0-9]*", "**/v*", "v1.*"}
	f.Fuzz(func(t *testing.T, list string, pattern uint8, prerelease bool) {
		r := Rule{Env: "production", TagPattern: patterns[int(pattern)%len(patterns)], Prerelease: prerelease}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		refs := map[plumbing.ReferenceName]RemoteRef{}
		for _, tag := range strings.Split(list, "\n") {
			name := plumbing.NewTagReferenceName(tag)
			if checkRefName(name) != nil {
				continue // ListRemote drops it
			}
			refs[name] = RemoteRef{Name: name}
		}
		tags, invalid := r.matchTags(refs)

		matching := map[string]bool{}
		for name := range refs {
			if ok, _ := doublestar.Match(r.TagPattern, name.Short()); ok {
				matching[name.Short()] = true
			}
		}
		seen := map[string]bool{}
		for i, c := range tags {
			short := c.ref.Name.Short()
			if !matching[short] || seen[short] {
				t.Fatalf("candidate %q: not a matching tag, or twice", short)
			}
			seen[short] = true
			v, err := semver.NewVersion(short)
			if err != nil || !strictEnough(short) || !v.Equal(c.version) {
				t.Fatalf("candidate %q is not the full version %v (%v)", short, c.version, err)
			}
			if c.version.Prerelease() != "" && !prerelease {
				t.Fatalf("candidate %q is a prerelease, not allowed", short)
			}
			if i > 0 && tags[i-1].version.LessThan(c.version) {
				t.Fatalf("candidates out of order: %q before %q", tags[i-1].ref.Name.Short(), short)
			}
			if tags[0].version.LessThan(c.version) {
				t.Fatalf("%q is higher than the chosen %q", short, tags[0].ref.Name.Short())
			}
		}
		if !slices.IsSorted(invalid) {
			t.Fatalf("invalid tags not sorted: %q", invalid)
		}
		for _, short := range invalid {
			if !matching[short] || seen[short] {
				t.Fatalf("invalid %q: not a matching tag, or also a candidate or listed twice", short)
			}
			seen[short] = true
			if _, err := semver.NewVersion(short); err == nil && strictEnough(short) {
				t.Fatalf("%q is a full version, reported invalid", short)
			}
		}
		for short := range matching {
			if !seen[short] {
				// Only an excluded prerelease may be left out.
				v, err := semver.NewVersion(short)
				if err != nil || !strictEnough(short) || prerelease || v.Prerelease() == "" {
					t.Fatalf("matching tag %q is neither a candidate nor invalid", short)
				}
			}
		}
		// The map's order is random: another pass picks the same.
		again, _ := r.matchTags(refs)
		for i := range tags {
			if again[i].ref.Name != tags[i].ref.Name {
				t.Fatalf("another pass orders the candidates %q, then %q", again[i].ref.Name, tags[i].ref.Name)
			}
		}
	})
}
