package agent

import (
	"context"
	"errors"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// Repo lets the planner read the mirror. A commit the mirror does not hold
// is a *plan.UnknownCommitError, which the planner acts on.
type Repo struct{ Mirror *watch.Mirror }

var _ plan.Repo = Repo{}

// hash is go-git's name for a commit id: the planner speaks commit.IDs,
// the mirror plumbing.Hashes.
func hash(c commit.ID) plumbing.Hash { return plumbing.NewHash(c.String()) }

// HasCommit reports whether the mirror holds the commit.
func (r Repo) HasCommit(_ context.Context, c commit.ID) (bool, error) {
	found := false
	err := r.Mirror.WithRepository(func(repo *git.Repository) error {
		_, err := repo.CommitObject(hash(c))
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}

func (r Repo) ReadFile(ctx context.Context, c commit.ID, path string) ([]byte, error) {
	b, err := r.Mirror.ReadFile(hash(c), path)
	return b, r.unknown(ctx, err, c)
}

func (r Repo) ChangedPaths(ctx context.Context, from, to commit.ID) ([]string, error) {
	paths, err := r.Mirror.ChangedPaths(hash(from), hash(to))
	return paths, r.unknown(ctx, err, from, to)
}

func (r Repo) CommitMessages(ctx context.Context, from, to commit.ID) (map[commit.ID]string, error) {
	commits, err := r.Mirror.Commits(hash(from), hash(to), 0)
	if err != nil {
		return nil, r.unknown(ctx, err, from, to)
	}
	out := make(map[commit.ID]string, len(commits))
	for _, c := range commits {
		out[commit.FromSHA1(c.Hash)] = c.Message
	}
	return out, nil
}

func (r Repo) IsAncestor(ctx context.Context, ancestor, descendant commit.ID) (bool, error) {
	ok, err := r.Mirror.IsAncestor(hash(ancestor), hash(descendant))
	return ok, r.unknown(ctx, err, ancestor, descendant)
}

// unknown turns the mirror's "object not found" into a
// *plan.UnknownCommitError when it is one of commits that is missing (and
// not, say, a tree of a damaged mirror); other errors pass unchanged.
func (r Repo) unknown(ctx context.Context, err error, commits ...commit.ID) error {
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
