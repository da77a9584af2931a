package agent

import (
	"context"
	"errors"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// Repo lets the planner read the mirror. A commit the mirror does not hold
// is a *plan.UnknownCommitError, which the planner acts on.
type Repo struct{ Mirror *watch.Mirror }

var _ plan.Repo = Repo{}

// HasCommit reports whether the mirror holds the commit.
func (r Repo) HasCommit(_ context.Context, commit string) (bool, error) {
	found := false
	err := r.Mirror.WithRepository(func(repo *git.Repository) error {
		_, err := repo.CommitObject(plumbing.NewHash(commit))
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}

func (r Repo) ReadFile(ctx context.Context, commit, path string) ([]byte, error) {
	b, err := r.Mirror.ReadFile(plumbing.NewHash(commit), path)
	return b, r.unknown(ctx, err, commit)
}

func (r Repo) ChangedPaths(ctx context.Context, from, to string) ([]string, error) {
	paths, err := r.Mirror.ChangedPaths(plumbing.NewHash(from), plumbing.NewHash(to))
	return paths, r.unknown(ctx, err, from, to)
}

func (r Repo) CommitMessages(ctx context.Context, from, to string) (map[string]string, error) {
	commits, err := r.Mirror.Commits(plumbing.NewHash(from), plumbing.NewHash(to), 0)
	if err != nil {
		return nil, r.unknown(ctx, err, from, to)
	}
	out := make(map[string]string, len(commits))
	for _, c := range commits {
		out[c.Hash.String()] = c.Message
	}
	return out, nil
}

func (r Repo) IsAncestor(ctx context.Context, ancestor, descendant string) (bool, error) {
	ok, err := r.Mirror.IsAncestor(plumbing.NewHash(ancestor), plumbing.NewHash(descendant))
	return ok, r.unknown(ctx, err, ancestor, descendant)
}

// unknown turns the mirror's "object not found" into a
// *plan.UnknownCommitError when it is one of commits that is missing (and
// not, say, a tree of a damaged mirror); other errors pass unchanged.
func (r Repo) unknown(ctx context.Context, err error, commits ...string) error {
	if !errors.Is(err, plumbing.ErrObjectNotFound) {
		return err
	}
	for _, c := range commits {
		if ok, herr := r.HasCommit(ctx, c); herr == nil && !ok {
			return &plan.UnknownCommitError{Commit: c}
		}
	}
	return err
}
