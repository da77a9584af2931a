package watch

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// FuzzWatchState feeds arbitrary files to the reader of watch-state.json,
// which a restarted watcher trusts as the last target of each environment
// (a crash can leave it torn on a file system that does not order the
// write before the rename; a person can edit it): it must never panic, an
// error must name the file, a state it accepts holds a ref and a commit
// for every environment, and it is saved and read back the same.
func FuzzWatchState(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzWatchState, and these.
	f.Add([]byte(""))
	f.Add([]byte(`{"targets":{"prod":{"ref":"refs/tags/v1.0.0"}}}`))
	f.Add([]byte(`{"targets":{"prod":{"ref":"config","commit":"0123456789abcdef0123456789abcdef01234567"}}}`))
	f.Add([]byte(`{"targets":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "watch-state.json")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := loadState(file)
		if err != nil {
			if !strings.Contains(err.Error(), file) {
				t.Fatalf("error does not name the file: %v", err)
			}
			if len(st.Targets) != 0 {
				t.Fatalf("a refused state came with targets: %+v", st.Targets)
			}
			return
		}
		for env, tg := range st.Targets {
			if env == "" || tg.Commit.IsZero() || checkRefName(plumbing.ReferenceName(tg.Ref)) != nil {
				t.Fatalf("accepted a target without an environment, a commit or a valid ref: %q %+v", env, tg)
			}
		}
		if err := st.save(file); err != nil {
			t.Fatalf("an accepted state does not save: %v", err)
		}
		again, err := loadState(file)
		if err != nil {
			t.Fatalf("a saved state does not load: %v", err)
		}
		if !reflect.DeepEqual(st, again) {
			t.Fatalf("the state changed through save and load:\n%+v\n%+v", st, again)
		}
	})
}
