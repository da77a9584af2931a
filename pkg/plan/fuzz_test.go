package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzPlanJSON feeds arbitrary documents to the plan decoder (a plan is read
// back from `ferry plan --json` files and journals): it must never panic,
// and a plan it accepts and validates must survive a round trip through
// its own encoding unchanged.
func FuzzPlanJSON(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "v1", "*.json"))
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"schema_version":2}`))
	f.Add([]byte(`{"schema_version":1,"steps":[{"kind":"hook","params":{"role":"web"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Plan
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		if p.Validate() != nil {
			return
		}
		once, err := json.Marshal(&p)
		if err != nil {
			t.Fatalf("a valid plan does not encode: %v", err)
		}
		var q Plan
		if err := json.Unmarshal(once, &q); err != nil {
			t.Fatalf("a valid plan's encoding does not decode: %v\n%s", err, once)
		}
		if err := q.Validate(); err != nil {
			t.Fatalf("a valid plan is invalid after a round trip: %v\n%s", err, once)
		}
		twice, err := json.Marshal(&q)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("the round trip changed the plan:\n%s\n%s", once, twice)
		}
	})
}
