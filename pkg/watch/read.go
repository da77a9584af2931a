package watch

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// What pkg/plan reads from the mirror. All of these work on objects already
// in the mirror and never contact the remote.

// Commit is one commit with what plan needs to read trailers.
type Commit struct {
	Hash    plumbing.Hash
	Message string
	Author  string
	When    time.Time
}

// ReadFile returns the content of path at commit. A missing path gives an
// error matching fs.ErrNotExist.
func (m *Mirror) ReadFile(commit plumbing.Hash, path string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := object.GetCommit(m.st, commit)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	f, err := c.File(path)
	if errors.Is(err, object.ErrFileNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, fmt.Errorf("%s at %s: %w", path, commit, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("%s at %s: %w", path, commit, err)
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// ChangedPaths lists the paths that differ between the trees of two commits
// (added, removed or modified), sorted. A zero from means the empty tree.
func (m *Mirror) ChangedPaths(from, to plumbing.Hash) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	toTree, err := m.treeLocked(to)
	if err != nil {
		return nil, err
	}
	fromTree := &object.Tree{}
	if !from.IsZero() {
		if fromTree, err = m.treeLocked(from); err != nil {
			return nil, err
		}
	}
	changes, err := object.DiffTree(fromTree, toTree)
	if err != nil {
		return nil, fmt.Errorf("diff %s..%s: %w", from, to, err)
	}
	seen := map[string]bool{}
	for _, ch := range changes {
		for _, p := range []string{ch.From.Name, ch.To.Name} {
			if p != "" {
				seen[p] = true
			}
		}
	}
	paths := make([]string, 0, len(seen))
	for p := range seen {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths, nil
}

func (m *Mirror) treeLocked(commit plumbing.Hash) (*object.Tree, error) {
	c, err := object.GetCommit(m.st, commit)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	return c.Tree()
}

// Commits lists the commits reachable from to but not from from (git log
// from..to), newest first, at most limit of them (limit <= 0: no limit).
func (m *Mirror) Commits(from, to plumbing.Hash, limit int) ([]Commit, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exclude := map[plumbing.Hash]bool{}
	if !from.IsZero() {
		fc, err := object.GetCommit(m.st, from)
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", from, err)
		}
		err = object.NewCommitPreorderIter(fc, nil, nil).ForEach(func(c *object.Commit) error {
			exclude[c.Hash] = true
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	tc, err := object.GetCommit(m.st, to)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", to, err)
	}
	var out []Commit
	err = object.NewCommitPreorderIter(tc, exclude, nil).ForEach(func(c *object.Commit) error {
		if limit > 0 && len(out) >= limit {
			return errStop
		}
		out = append(out, Commit{Hash: c.Hash, Message: c.Message, Author: c.Author.String(), When: c.Committer.When})
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].When.After(out[j].When) })
	return out, nil
}

var errStop = errors.New("stop")

// IsAncestor reports whether ancestor is reachable from commit (a commit is
// its own ancestor, as with git merge-base --is-ancestor).
func (m *Mirror) IsAncestor(ancestor, commit plumbing.Hash) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.isAncestorLocked(ancestor, commit)
}

func (m *Mirror) isAncestorLocked(ancestor, commit plumbing.Hash) (bool, error) {
	a, err := object.GetCommit(m.st, ancestor)
	if err != nil {
		return false, fmt.Errorf("commit %s: %w", ancestor, err)
	}
	c, err := object.GetCommit(m.st, commit)
	if err != nil {
		return false, fmt.Errorf("commit %s: %w", commit, err)
	}
	return a.IsAncestor(c)
}
