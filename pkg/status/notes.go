package status

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/commit"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Remote is what the notes writer needs from the local mirror of the
// repository (watch.Mirror provides it).
type Remote interface {
	// WithRepository runs fn with exclusive use of the repository that
	// holds the objects; new ones are written into it.
	WithRepository(fn func(*git.Repository) error) error
	// Sync makes the local ref equal to the remote's and returns its hash
	// (zero when the remote has none).
	Sync(ctx context.Context, name plumbing.ReferenceName) (plumbing.Hash, error)
	// PushCAS sets the remote ref to newHash if it is oldHash (zero: must
	// not exist) and reports whether it did.
	PushCAS(ctx context.Context, name plumbing.ReferenceName, oldHash, newHash plumbing.Hash) (bool, error)
}

// ErrConflict is returned when the notes ref kept moving under us for every
// allowed attempt. It is transient: nothing was lost, try again later.
var ErrConflict = errors.New("notes ref kept changing; gave up for now")

// Notes appends and reads deploy records on one notes ref.
type Notes struct {
	Remote Remote
	// Ref is the notes ref (project.git.notes_ref; its default,
	// refs/notes/ferry, is config.DefaultNotesRef). Required.
	Ref string
	// Attempts bounds the fetch-merge-push loop on conflicts; default 5.
	Attempts int
	Logger   *slog.Logger
}

// errNoRef is a Notes without its ref: a mistake of the caller's.
var errNoRef = errors.New("status.Notes: no notes ref")

func (n *Notes) ref() (plumbing.ReferenceName, error) {
	if n.Ref == "" {
		return "", errNoRef
	}
	return plumbing.ReferenceName(n.Ref), nil
}

// Append adds rec to the note on commit and pushes the notes ref. If another
// agent pushed first, it fetches their notes, adds rec on top of them (their
// records are kept) and tries again, up to Attempts times. Appending a
// record the note already holds is a no-op, so a retry after a lost reply
// does not duplicate it.
func (n *Notes) Append(ctx context.Context, c commit.ID, rec Record) error {
	attempts := n.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	log := n.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ref, err := n.ref()
	if err != nil {
		return err
	}
	var lastErr error
	for i := 0; i < attempts; i++ {
		base, err := n.Remote.Sync(ctx, ref)
		if err != nil {
			return fmt.Errorf("fetch %s: %w", ref, err)
		}
		var next plumbing.Hash
		err = n.Remote.WithRepository(func(repo *git.Repository) error {
			var err error
			next, err = n.build(repo, base, c, rec)
			return err
		})
		if err != nil {
			// A compaction of the mirror between the fetch and the build can
			// make a read fail; the next attempt starts from a fresh fetch.
			lastErr = err
			log.Warn("building the notes commit failed; retrying", "ref", ref, "attempt", i+1, "err", err)
			continue
		}
		if next == base {
			return nil
		}
		ok, err := n.Remote.PushCAS(ctx, ref, base, next)
		if err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
		if ok {
			return nil
		}
		log.Info("notes ref moved while writing; merging with the new notes and retrying", "ref", ref, "attempt", i+1)
	}
	if lastErr != nil {
		return fmt.Errorf("append note to %s: %w", c, lastErr)
	}
	return fmt.Errorf("append note to %s: %w", c, ErrConflict)
}

// build makes a notes commit on top of base with rec appended to commit's
// note. It returns base itself when the note already has rec.
func (n *Notes) build(repo *git.Repository, base plumbing.Hash, target commit.ID, rec Record) (plumbing.Hash, error) {
	s := repo.Storer
	tree := &object.Tree{}
	var parents []plumbing.Hash
	if !base.IsZero() {
		bc, err := object.GetCommit(s, base)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("notes commit %s: %w", base, err)
		}
		if tree, err = bc.Tree(); err != nil {
			return plumbing.ZeroHash, err
		}
		parents = []plumbing.Hash{base}
	}
	text := ""
	if h, ok, err := findNote(s, tree, target.String()); err != nil {
		return plumbing.ZeroHash, err
	} else if ok {
		if text, err = readBlob(s, h); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read note of %s: %w", target, err)
		}
	}
	block := rec.Format()
	if strings.Contains("\n"+text, "\n"+block) {
		return base, nil
	}
	if text != "" {
		text = strings.TrimRight(text, "\n") + "\n\n"
	}
	blob, err := writeBlob(s, text+block)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	th, err := setNote(s, tree, target.String(), blob)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	host, _ := os.Hostname()
	sig := object.Signature{Name: "Ferry", Email: "ferry@" + host, When: time.Now().UTC()}
	c := &object.Commit{
		Author: sig, Committer: sig, TreeHash: th, ParentHashes: parents,
		Message: fmt.Sprintf("ferry: %s %s at %s\n", rec.Env, rec.Outcome, target.Short()),
	}
	o := s.NewEncodedObject()
	if err := c.Encode(o); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(o)
}

// Read returns the records in commit's note as the mirror has them now
// (call Refresh first for the remote's latest). No note: no records.
func (n *Notes) Read(c commit.ID) ([]Record, error) {
	ref, err := n.ref()
	if err != nil {
		return nil, err
	}
	var recs []Record
	err = n.Remote.WithRepository(func(repo *git.Repository) error {
		var err error
		recs, err = ReadNote(repo, ref, c)
		return err
	})
	return recs, err
}

// Refresh fetches the notes ref if it moved on the remote.
func (n *Notes) Refresh(ctx context.Context) error {
	ref, err := n.ref()
	if err != nil {
		return err
	}
	_, err = n.Remote.Sync(ctx, ref)
	return err
}

// ReadNote reads commit's records from the notes ref in repo.
func ReadNote(repo *git.Repository, ref plumbing.ReferenceName, target commit.ID) ([]Record, error) {
	r, err := repo.Storer.Reference(ref)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := object.GetCommit(repo.Storer, r.Hash())
	if err != nil {
		return nil, fmt.Errorf("notes commit %s: %w", r.Hash(), err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	h, ok, err := findNote(repo.Storer, tree, target.String())
	if err != nil || !ok {
		return nil, err
	}
	text, err := readBlob(repo.Storer, h)
	if err != nil {
		return nil, err
	}
	return ParseNote(text)
}

// All reads every note on the ref as the mirror has it now (call Refresh
// first for the remote's latest), keyed by annotated commit: what `ferry
// status` lists. Notes that hold no Ferry record are left out.
func (n *Notes) All() (map[commit.ID][]Record, error) {
	ref, err := n.ref()
	if err != nil {
		return nil, err
	}
	out := map[commit.ID][]Record{}
	err = n.Remote.WithRepository(func(repo *git.Repository) error {
		r, err := repo.Storer.Reference(ref)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		c, err := object.GetCommit(repo.Storer, r.Hash())
		if err != nil {
			return fmt.Errorf("notes commit %s: %w", r.Hash(), err)
		}
		tree, err := c.Tree()
		if err != nil {
			return err
		}
		return walkNotes(repo.Storer, tree, "", func(hex string, blob plumbing.Hash) error {
			text, err := readBlob(repo.Storer, blob)
			if err != nil {
				return err
			}
			recs, err := ParseNote(text)
			if err != nil {
				return fmt.Errorf("note of %s: %w", hex, err)
			}
			id, err := commit.Parse(hex)
			if err != nil {
				return fmt.Errorf("note of %s: %w", hex, err)
			}
			if len(recs) > 0 {
				out[id] = recs
			}
			return nil
		})
	})
	return out, err
}
