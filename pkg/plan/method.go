package plan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/ferry-deploy/ferry/pkg/commit"
)

// TrailerMethod is the commit trailer that forces a method:
// "Ferry-Method: full".
const TrailerMethod = "Ferry-Method"

// chooseMethod applies the method rules to a known deployed commit. It
// returns every rule that asked for a full deploy, in the order of the
// rules, or the serial verdict when none did.
func chooseMethod(ctx context.Context, repo Repo, in Input, from, to commit.ID) ([]Reason, error) {
	var reasons []Reason

	// No marker, no marker rule: an empty path would name the whole tree,
	// and every change would be a full deploy. (A configuration always has
	// one: project.schema_marker defaults to .ferry/schema-version.)
	marker := "no schema marker"
	if in.SchemaMarker != "" {
		marker = in.SchemaMarker + " is unchanged"
		before, err := readMarker(ctx, repo, from, in.SchemaMarker)
		if err != nil {
			return nil, err
		}
		after, err := readMarker(ctx, repo, to, in.SchemaMarker)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(before, after) {
			reasons = append(reasons, Reason{Rule: RuleSchemaMarker, Method: Full,
				Detail: fmt.Sprintf("%s changed from %s to %s", in.SchemaMarker, markerText(before), markerText(after))})
		}
	}

	if len(in.FullDeployGlobs) > 0 {
		paths, err := repo.ChangedPaths(ctx, from, to)
		if err != nil {
			return nil, fmt.Errorf("list changed paths %s..%s: %w", from.Short(), to.Short(), err)
		}
		slices.Sort(paths)
	globs:
		for _, g := range in.FullDeployGlobs {
			for _, p := range paths {
				if ok, _ := doublestar.Match(g, p); ok {
					reasons = append(reasons, Reason{Rule: RuleGlob, Method: Full,
						Detail: fmt.Sprintf("%s matches %q", p, g)})
					break globs
				}
			}
		}
	}

	msgs, err := repo.CommitMessages(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("read commits %s..%s: %w", from.Short(), to.Short(), err)
	}
	shas := make([]commit.ID, 0, len(msgs))
	for sha := range msgs {
		shas = append(shas, sha)
	}
	slices.SortFunc(shas, func(a, b commit.ID) int { return strings.Compare(a.String(), b.String()) })
	for _, sha := range shas {
		if m := trailerValue(msgs[sha], TrailerMethod); strings.EqualFold(m, string(Full)) {
			reasons = append(reasons, Reason{Rule: RuleTrailer, Method: Full,
				Detail: fmt.Sprintf("commit %s carries %q", sha.Short(), TrailerMethod+": "+m)})
			break
		}
	}

	if len(reasons) == 0 {
		reasons = append(reasons, Reason{Rule: RuleNoSchemaChange, Method: Serial,
			Detail: marker + ", no full-deploy path changed, no commit asks for a full deploy"})
	}
	return reasons, nil
}

// readMarker returns the marker's content at a commit; a missing marker is
// empty content (adding one is a change).
func readMarker(ctx context.Context, repo Repo, c commit.ID, path string) ([]byte, error) {
	b, err := repo.ReadFile(ctx, c, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", path, c.Short(), err)
	}
	return bytes.TrimSpace(b), nil
}

func markerText(b []byte) string {
	if b == nil {
		return "(absent)"
	}
	s := string(b)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// trailerValue returns the value of the last trailer named key in the
// message's final paragraph, as git interpret-trailers reads it.
func trailerValue(message, key string) string {
	paras := strings.Split(strings.TrimSpace(strings.ReplaceAll(message, "\r\n", "\n")), "\n\n")
	if len(paras) < 2 {
		return "" // a subject line alone has no trailers
	}
	var value string
	sc := bufio.NewScanner(strings.NewReader(paras[len(paras)-1]))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), key) {
			value = strings.TrimSpace(v)
		}
	}
	return value
}
