package agent

import (
	"context"
	"errors"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// Repo lets the planner read the mirror.
type Repo struct{ Mirror *watch.Mirror }

var _ plan.Repo = Repo{}

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

func (r Repo) ReadFile(_ context.Context, commit, path string) ([]byte, error) {
	return r.Mirror.ReadFile(plumbing.NewHash(commit), path)
}

func (r Repo) ChangedPaths(_ context.Context, from, to string) ([]string, error) {
	return r.Mirror.ChangedPaths(plumbing.NewHash(from), plumbing.NewHash(to))
}

func (r Repo) CommitMessages(_ context.Context, from, to string) (map[string]string, error) {
	commits, err := r.Mirror.Commits(plumbing.NewHash(from), plumbing.NewHash(to), 0)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(commits))
	for _, c := range commits {
		out[c.Hash.String()] = c.Message
	}
	return out, nil
}

func (r Repo) IsAncestor(_ context.Context, ancestor, descendant string) (bool, error) {
	return r.Mirror.IsAncestor(plumbing.NewHash(ancestor), plumbing.NewHash(descendant))
}
