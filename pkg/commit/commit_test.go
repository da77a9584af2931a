package commit_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/pkg/commit"
)

const sha1 = "0123456789abcdef0123456789abcdef01234567"

func TestParse(t *testing.T) {
	sha256 := strings.Repeat("ab", 32)
	tests := []struct {
		in, want string
		ok       bool
	}{
		{sha1, sha1, true},
		{strings.ToUpper(sha1), sha1, true},
		{sha256, sha256, true},
		{"", "", false},
		{sha1[:12], "", false},
		{sha1 + "0", "", false},
		{"g" + sha1[1:], "", false},
		{" " + sha1[1:], "", false},
	}
	for _, tt := range tests {
		id, err := commit.Parse(tt.in)
		if tt.ok != (err == nil) || id.String() != tt.want {
			t.Errorf("Parse(%q) = %q, %v; want %q, ok %v", tt.in, id, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, commit.ErrNotID) {
			t.Errorf("Parse(%q): %v does not wrap ErrNotID", tt.in, err)
		}
	}
}

func TestShortAndZero(t *testing.T) {
	id := commit.MustParse(sha1)
	if id.Short() != sha1[:12] || id.IsZero() {
		t.Errorf("Short = %q, IsZero = %v", id.Short(), id.IsZero())
	}
	var zero commit.ID
	if zero.String() != "" || zero.Short() != "" || !zero.IsZero() {
		t.Errorf("zero ID: %q %q %v", zero.String(), zero.Short(), zero.IsZero())
	}
	if !id.HasPrefix(sha1[:12]) || id.HasPrefix("") || id.HasPrefix("ff") || zero.HasPrefix("0") {
		t.Error("HasPrefix")
	}
}

func TestFromSHA1(t *testing.T) {
	var b [20]byte
	if !commit.FromSHA1(b).IsZero() {
		t.Error("all-zero bytes are not the zero ID")
	}
	for i := range b {
		b[i] = byte(i)
	}
	if got := commit.FromSHA1(b).String(); got != "000102030405060708090a0b0c0d0e0f10111213" {
		t.Errorf("FromSHA1 = %s", got)
	}
}

func TestJSON(t *testing.T) {
	type doc struct {
		A commit.ID `json:"a"`
		B commit.ID `json:"b,omitzero"`
	}
	b, err := json.Marshal(doc{A: commit.MustParse(sha1)})
	if err != nil || string(b) != `{"a":"`+sha1+`"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var d doc
	if err := json.Unmarshal([]byte(`{"a":"`+strings.ToUpper(sha1)+`","b":""}`), &d); err != nil || d.A.String() != sha1 || !d.B.IsZero() {
		t.Fatalf("Unmarshal = %+v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`{"a":"main"}`), &d); !errors.Is(err, commit.ErrNotID) {
		t.Errorf("Unmarshal of a branch name: %v, want ErrNotID", err)
	}
}
