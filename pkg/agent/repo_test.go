package agent_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/internal/gittest"
	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// TestRepoUnknownCommit: every question about a commit the mirror does not
// hold (history rewritten, never fetched) answers a *plan.UnknownCommitError
// naming it, which the planner acts on; a missing file is not one.
func TestRepoUnknownCommit(t *testing.T) {
	srv := gittest.NewServer(t)
	srv.InitRepo("app.git")
	d := srv.StartDaemon()
	work := gittest.NewWork(t, d.URL("app.git"))
	first := commit.MustParse(work.Commit("first", map[string]string{".ferry/schema-version": "1\n"}))
	second := commit.MustParse(work.Commit("second", map[string]string{"app.py": "2\n"}))
	work.Push("main")
	m, err := watch.OpenMirror(watch.MirrorOptions{Dir: filepath.Join(t.TempDir(), "mirror"), URL: d.URL("app.git")})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fetch(t.Context(), plumbing.NewBranchReferenceName("main")); err != nil {
		t.Fatal(err)
	}
	repo := agent.Repo{Mirror: m}
	ctx := t.Context()

	if ok, err := repo.IsAncestor(ctx, first, second); !ok || err != nil {
		t.Fatalf("IsAncestor(first, second) = %v, %v; want true", ok, err)
	}
	if _, err := repo.ReadFile(ctx, second, "missing.txt"); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, plan.ErrUnknownCommit) {
		t.Errorf("a missing file: %v; want fs.ErrNotExist, not an unknown commit", err)
	}

	gone := commit.MustParse("0123456789abcdef0123456789abcdef01234567")
	for _, tc := range []struct {
		name string
		call func(context.Context) error
	}{
		{"IsAncestor, ancestor", func(ctx context.Context) error { _, err := repo.IsAncestor(ctx, gone, second); return err }},
		{"IsAncestor, descendant", func(ctx context.Context) error { _, err := repo.IsAncestor(ctx, first, gone); return err }},
		{"ReadFile", func(ctx context.Context) error {
			_, err := repo.ReadFile(ctx, gone, ".ferry/schema-version")
			return err
		}},
		{"ChangedPaths", func(ctx context.Context) error { _, err := repo.ChangedPaths(ctx, gone, second); return err }},
		{"CommitMessages", func(ctx context.Context) error { _, err := repo.CommitMessages(ctx, first, gone); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(ctx)
			var uc *plan.UnknownCommitError
			if !errors.As(err, &uc) || uc.Commit != gone || !errors.Is(err, plan.ErrUnknownCommit) {
				t.Errorf("got %v (%T); want a *plan.UnknownCommitError naming %s", err, err, gone)
			}
		})
	}
}
