// Package commit holds the name of a git commit as it passes from the
// watcher through the planner and executor to the notes and the forges:
// one type, parsed once where a commit id enters Ferry (a git ref, a flag,
// a group tag, a journal), never text to check again.
package commit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ID is the full object name of a commit: 40 hex digits (SHA-1) or 64
// (SHA-256), lower case. The zero ID names no commit; its String is "".
// IDs compare with ==.
type ID struct{ hex string }

// ShortLen is how many hex digits name a commit to people (and in launch
// source names).
const ShortLen = 12

// ErrNotID is what Parse's error wraps.
var ErrNotID = errors.New("not a full commit id (40 or 64 hex digits)")

// Parse reads a full commit id; upper-case digits are taken as lower case.
// An abbreviated id is refused: only the repository could expand it.
func Parse(s string) (ID, error) {
	if len(s) != 40 && len(s) != 64 {
		return ID{}, fmt.Errorf("%q: %w", s, ErrNotID)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return ID{}, fmt.Errorf("%q: %w", s, ErrNotID)
	}
	return ID{strings.ToLower(s)}, nil
}

// MustParse is Parse for ids known to be valid (tests, constants); it
// panics on anything else.
func MustParse(s string) ID {
	id, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return id
}

// FromSHA1 is the ID of a SHA-1 object name given as bytes (go-git's
// plumbing.Hash converts as it is). All zero bytes, git's "no object",
// is the zero ID.
func FromSHA1(b [20]byte) ID {
	if b == ([20]byte{}) {
		return ID{}
	}
	return ID{hex.EncodeToString(b[:])}
}

// String is the full id, or "" for the zero ID.
func (id ID) String() string { return id.hex }

// Short is the 12-digit prefix that names a commit to people, or "" for
// the zero ID.
func (id ID) Short() string {
	if len(id.hex) < ShortLen {
		return id.hex
	}
	return id.hex[:ShortLen]
}

// IsZero reports whether id names no commit (encoding/json's omitzero
// leaves it out).
func (id ID) IsZero() bool { return id.hex == "" }

// HasPrefix reports whether id starts with the hex digits prefix (such as
// the short id a launch source name carries); an empty prefix never
// matches.
func (id ID) HasPrefix(prefix string) bool {
	return prefix != "" && !id.IsZero() && strings.HasPrefix(id.hex, strings.ToLower(prefix))
}

// MarshalText writes the full id ("" for the zero ID).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.hex), nil }

// UnmarshalText parses a full id; empty text is the zero ID.
func (id *ID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*id = ID{}
		return nil
	}
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
