package bake

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// FuzzRecordLoad feeds arbitrary files to the reader of a bake's journal
// (bake-<env>.json), which a restarted agent trusts to find the builder
// and image an interrupted bake left: it must never panic, an error must
// name the file, a record it accepts is the environment's own, with its
// commit (what recovery looks for by tag), and it is saved and loaded back
// the same.
func FuzzRecordLoad(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzRecordLoad, and these.
	f.Add([]byte(""))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"id":"b","env":"production","commit":"abababababababababababababababababababab","started":"2026-11-30T14:00:00Z"}`))
	f.Add([]byte(`{"version":1,"id":"b","env":"staging","commit":"abababababababababababababababababababab","started":"2026-11-30T14:00:00Z","phase":"bake","finished":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := Store{Dir: t.TempDir()}
		if err := os.WriteFile(s.path("staging"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		rec, err := s.Load("staging")
		if err != nil {
			if !strings.Contains(err.Error(), s.path("staging")) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		switch {
		case rec == nil:
			t.Fatal("a file there loads as no record")
		case rec.Env != "staging" || rec.ID == "" || rec.Commit.IsZero() || rec.Started.IsZero():
			t.Fatalf("accepted another environment's record, or one without an id, a commit or a start: %+v", rec)
		case rec.Phase != "" && !slices.Contains(phases, rec.Phase):
			t.Fatalf("accepted phase %q", rec.Phase)
		case rec.Finished != (rec.Outcome != ""):
			t.Fatalf("accepted finished=%v with outcome %q", rec.Finished, rec.Outcome)
		}
		first, err := json.Marshal(rec)
		if err != nil {
			t.Fatalf("an accepted record does not encode: %v", err)
		}
		if err := s.Save(rec); err != nil {
			t.Fatalf("an accepted record does not save: %v", err)
		}
		again, err := s.Load("staging")
		if err != nil || again == nil {
			t.Fatalf("a saved record does not load: %v", err)
		}
		second, _ := json.Marshal(again)
		if string(first) != string(second) {
			t.Fatalf("the record changed through Save and Load:\n%s\n%s", first, second)
		}
	})
}
