package watch

import (
	"container/heap"
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
	defer m.lock()()
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
	defer m.lock()()
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
// from..to), newest first, at most limit of them (limit <= 0: no limit). A
// zero from means all of to's history.
//
// Like git rev-list, it walks both sides at once in committer-time order and
// stops as soon as nothing left to visit can be in the range, so the cost
// follows the size of the range, not of the repository. As with git, a
// committer clock far behind its parents' can let an excluded commit
// through.
func (m *Mirror) Commits(from, to plumbing.Hash, limit int) ([]Commit, error) {
	defer m.lock()()
	const (
		inRange  = 1 // queued from `to`
		excluded = 2 // reachable from `from`
		exclQ    = 4 // queued from `from`
	)
	flags := map[plumbing.Hash]uint8{}
	q := &commitQueue{}
	good := 0 // in-range entries still queued
	enqueue := func(h plumbing.Hash, excl bool) error {
		c, err := object.GetCommit(m.st, h)
		if err != nil {
			return fmt.Errorf("commit %s: %w", h, err)
		}
		heap.Push(q, queued{c: c, excluded: excl})
		return nil
	}
	include := func(h plumbing.Hash) error {
		if flags[h]&(inRange|excluded) != 0 {
			return nil
		}
		flags[h] |= inRange
		good++
		return enqueue(h, false)
	}
	exclude := func(h plumbing.Hash) error {
		if flags[h]&exclQ != 0 {
			return nil
		}
		flags[h] |= excluded | exclQ
		return enqueue(h, true)
	}
	if !from.IsZero() {
		if err := exclude(from); err != nil {
			return nil, err
		}
	}
	if err := include(to); err != nil {
		return nil, err
	}
	var out []Commit
	for q.Len() > 0 && good > 0 {
		it := heap.Pop(q).(queued)
		if it.excluded {
			for _, p := range it.c.ParentHashes {
				if err := exclude(p); err != nil {
					return nil, err
				}
			}
			continue
		}
		good--
		if flags[it.c.Hash]&excluded != 0 {
			continue // found reachable from `from` after it was queued
		}
		if limit > 0 && len(out) >= limit {
			break
		}
		c := it.c
		out = append(out, Commit{Hash: c.Hash, Message: c.Message, Author: c.Author.String(), When: c.Committer.When})
		for _, p := range c.ParentHashes {
			if err := include(p); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// commitQueue orders commits newest first.
type commitQueue []queued

type queued struct {
	c        *object.Commit
	excluded bool
}

func (q commitQueue) Len() int { return len(q) }
func (q commitQueue) Less(i, j int) bool {
	ti, tj := q[i].c.Committer.When, q[j].c.Committer.When
	if ti.Equal(tj) {
		// On a tie, exclusions go first, so commits made in the same second
		// (scripts, rebases) are excluded before they could be listed.
		return q[i].excluded && !q[j].excluded
	}
	return ti.After(tj)
}
func (q commitQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *commitQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// IsAncestor reports whether ancestor is reachable from commit (a commit is
// its own ancestor, as with git merge-base --is-ancestor).
func (m *Mirror) IsAncestor(ancestor, commit plumbing.Hash) (bool, error) {
	defer m.lock()()
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
