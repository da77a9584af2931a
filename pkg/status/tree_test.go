package status

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// TestNoteLayouts finds and sets notes in the flat, one-level and two-level
// fan-out layouts, which git notes uses as the number of notes grows.
func TestNoteLayouts(t *testing.T) {
	s := memory.NewStorage()
	hex := "abcdef0123456789abcdef0123456789abcdef01"
	other := "ab99999999999999999999999999999999999999"
	blob := func(text string) plumbing.Hash {
		h, err := writeBlob(s, text)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	tree := func(entries ...object.TreeEntry) *object.Tree {
		h, err := writeTree(s, entries)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := object.GetTree(s, h)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	file := func(name, text string) object.TreeEntry {
		return object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: blob(text)}
	}
	dir := func(name string, tr *object.Tree) object.TreeEntry {
		return object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: tr.Hash}
	}

	layouts := map[string]*object.Tree{
		"flat":      tree(file(hex, "note"), file(other, "x")),
		"fan-out 1": tree(dir("ab", tree(file(hex[2:], "note"), file(other[2:], "x")))),
		"fan-out 2": tree(dir("ab", tree(dir("cd", tree(file(hex[4:], "note"))), dir("99", tree(file(other[4:], "x")))))),
	}
	for name, root := range layouts {
		t.Run(name, func(t *testing.T) {
			h, ok, err := findNote(s, root, hex)
			if err != nil || !ok {
				t.Fatalf("findNote: %v %v", ok, err)
			}
			if text, _ := readBlob(s, h); text != "note" {
				t.Errorf("note = %q", text)
			}
			if _, ok, _ := findNote(s, root, strings.Repeat("0", 40)); ok {
				t.Errorf("found a note that does not exist")
			}
			// Replace in place, and add a new note in the layout in use.
			nh, err := setNote(s, root, hex, blob("note 2"))
			if err != nil {
				t.Fatal(err)
			}
			newHex := "ab00000000000000000000000000000000000000"
			nt, _ := object.GetTree(s, nh)
			nh, err = setNote(s, nt, newHex, blob("new"))
			if err != nil {
				t.Fatal(err)
			}
			nt, _ = object.GetTree(s, nh)
			for hx, want := range map[string]string{hex: "note 2", other: "x", newHex: "new"} {
				h, ok, err := findNote(s, nt, hx)
				if err != nil || !ok {
					t.Fatalf("findNote(%s) after set: %v %v", hx, ok, err)
				}
				if text, _ := readBlob(s, h); text != want {
					t.Errorf("note %s = %q, want %q", hx, text, want)
				}
			}
			if name != "flat" {
				for _, e := range nt.Entries {
					if e.Mode != filemode.Dir {
						t.Errorf("a flat entry %s was added to a fanned-out tree", e.Name)
					}
				}
			}
		})
	}
}
