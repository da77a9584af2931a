package execute

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzJournalLoad feeds arbitrary files to the journal reader, which a
// restart trusts to put groups back: it must never panic, a journal it
// accepts is of the environment whose file it is, and it must be written
// and read back as the same journal.
func FuzzJournalLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "journal-v1", "*.json"))
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":2,"plan":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		s := JournalStore{Dir: dir}
		if err := os.WriteFile(s.path("staging"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := s.Load("staging")
		if err != nil || j == nil {
			return
		}
		if j.Plan.Environment != "staging" {
			t.Fatalf("accepted a journal of environment %q as staging's", j.Plan.Environment)
		}
		first, err := json.Marshal(j)
		if err != nil {
			t.Fatalf("an accepted journal does not encode: %v", err)
		}
		// Saved under the environment its plan names, as the executor does.
		if err := s.Save(j); err != nil {
			t.Fatalf("Save of an accepted journal: %v", err)
		}
		again, err := s.Load(j.Plan.Environment)
		if err != nil || again == nil {
			t.Fatalf("a saved journal does not load: %v", err)
		}
		second, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if string(first) != string(second) {
			t.Fatalf("the journal changed through Save and Load:\n%s\n%s", first, second)
		}
	})
}
