package envbuild

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCreateJournal feeds arbitrary files to the reader of a create's
// journal (envs/<env>/create.json), which a create run again trusts to take
// up the work under the same launch tokens: it must never panic, an error
// must name the file, a journal it accepts has an id and a start, and it
// is written and read back the same.
func FuzzCreateJournal(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzCreateJournal, and these.
	f.Add([]byte(""))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"x","started":"2026-11-30T12:00:00Z","finished":"2026-11-30T11:00:00Z"}`))
	f.Add([]byte(`{"id":"x","started":"0000-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"id":"x","started":"2026-11-30T12:00:00Z","migrated":"0123456789abcdef0123456789abcdef01234567"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := journalPath(t.TempDir(), "testing")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := readJournal(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if j == nil || j.ID == "" || j.Started.IsZero() || (!j.Finished.IsZero() && j.Finished.Before(j.Started)) {
			t.Fatalf("accepted a journal without an id or a start, or finished before it started: %+v", j)
		}
		first, err := json.Marshal(j)
		if err != nil {
			t.Fatalf("an accepted journal does not encode: %v", err)
		}
		if err := j.write(path); err != nil {
			t.Fatalf("an accepted journal does not write: %v", err)
		}
		again, err := readJournal(path)
		if err != nil || again == nil {
			t.Fatalf("a written journal does not read: %v", err)
		}
		second, _ := json.Marshal(again)
		if string(first) != string(second) {
			t.Fatalf("the journal changed through write and read:\n%s\n%s", first, second)
		}
	})
}
