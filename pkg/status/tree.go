package status

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// A notes tree maps an annotated commit's hex name to a blob. `git notes`
// starts flat (one entry "abcdef…") and, once there are many notes, fans out
// into directories of the leading hex pairs ("ab/cdef…", "ab/cd/ef…").

// findNote returns the blob of the note for hex in tree, at any fan-out
// depth.
func findNote(s storer.EncodedObjectStorer, tree *object.Tree, hex string) (plumbing.Hash, bool, error) {
	for _, e := range tree.Entries {
		switch {
		case e.Mode == filemode.Dir && len(e.Name) == 2 && strings.HasPrefix(hex, e.Name):
			sub, err := object.GetTree(s, e.Hash)
			if err != nil {
				return plumbing.ZeroHash, false, fmt.Errorf("notes subtree %s: %w", e.Name, err)
			}
			if h, ok, err := findNote(s, sub, hex[2:]); ok || err != nil {
				return h, ok, err
			}
		case e.Mode != filemode.Dir && e.Name == hex:
			return e.Hash, true, nil
		}
	}
	return plumbing.ZeroHash, false, nil
}

// setNote writes a new tree with hex's note set to blob and returns its
// hash. An existing note is replaced where it is; a new one goes into the
// fan-out directories this level already uses, or flat when it uses none.
func setNote(s storer.EncodedObjectStorer, tree *object.Tree, hex string, blob plumbing.Hash) (plumbing.Hash, error) {
	entries := append([]object.TreeEntry(nil), tree.Entries...)
	if _, ok, err := findNote(s, tree, hex); err != nil {
		return plumbing.ZeroHash, err
	} else if ok {
		for i, e := range entries {
			if e.Mode != filemode.Dir && e.Name == hex {
				entries[i].Hash = blob
				return writeTree(s, entries)
			}
		}
	}
	fannedOut := false
	for i, e := range entries {
		if e.Mode != filemode.Dir || len(e.Name) != 2 {
			continue
		}
		fannedOut = true
		if !strings.HasPrefix(hex, e.Name) {
			continue
		}
		sub, err := object.GetTree(s, e.Hash)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		h, err := setNote(s, sub, hex[2:], blob)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries[i].Hash = h
		return writeTree(s, entries)
	}
	if fannedOut && len(hex) > 2 {
		sub, err := setNote(s, &object.Tree{}, hex[2:], blob)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: hex[:2], Mode: filemode.Dir, Hash: sub})
		return writeTree(s, entries)
	}
	entries = append(entries, object.TreeEntry{Name: hex, Mode: filemode.Regular, Hash: blob})
	return writeTree(s, entries)
}

// writeTree stores entries in git's order: by name, with directories
// compared as if their name ended in "/".
func writeTree(s storer.EncodedObjectStorer, entries []object.TreeEntry) (plumbing.Hash, error) {
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
	t := &object.Tree{Entries: entries}
	o := s.NewEncodedObject()
	if err := t.Encode(o); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(o)
}

func writeBlob(s storer.EncodedObjectStorer, content string) (plumbing.Hash, error) {
	o := s.NewEncodedObject()
	o.SetType(plumbing.BlobObject)
	w, err := o.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := io.WriteString(w, content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(o)
}

func readBlob(s storer.EncodedObjectStorer, h plumbing.Hash) (string, error) {
	b, err := object.GetBlob(s, h)
	if err != nil {
		return "", err
	}
	r, err := b.Reader()
	if err != nil {
		return "", err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	return string(data), err
}

// walkNotes calls fn for every note in tree, flat or fanned out, with the
// annotated commit's full hex name.
func walkNotes(s storer.EncodedObjectStorer, tree *object.Tree, prefix string, fn func(hex string, blob plumbing.Hash) error) error {
	for _, e := range tree.Entries {
		name := prefix + e.Name
		if e.Mode == filemode.Dir {
			if len(e.Name) != 2 {
				continue
			}
			sub, err := object.GetTree(s, e.Hash)
			if err != nil {
				return fmt.Errorf("notes subtree %s: %w", name, err)
			}
			if err := walkNotes(s, sub, name, fn); err != nil {
				return err
			}
			continue
		}
		if len(name) == 40 {
			if err := fn(name, e.Hash); err != nil {
				return err
			}
		}
	}
	return nil
}
