package examples

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The binary's copy is examples/app as it is on disk, split where the
// demo splits it: the first release without schema-bump/, and the bump's
// files by their path in the release.
func TestAppMatchesTheDirectory(t *testing.T) {
	release, err := AppRelease()
	if err != nil {
		t.Fatal(err)
	}
	bump, err := AppSchemaBump()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"manage.py", "app/__init__.py", "app/settings.py", "notes/migrations/0001_initial.py", "notes/static/notes/app.css"} {
		if _, ok := release[want]; !ok {
			t.Errorf("the release has no %s", want)
		}
	}
	if _, ok := bump["notes/migrations/0002_note_tag.py"]; !ok {
		t.Errorf("the schema bump has no notes/migrations/0002_note_tag.py: %v", keys(bump))
	}
	onDisk := map[string][]byte{}
	err = filepath.WalkDir("app", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "__pycache__" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() || strings.HasSuffix(p, ".pyc") {
			return nil
		}
		b, err := os.ReadFile(p)
		onDisk[filepath.ToSlash(strings.TrimPrefix(p, "app"+string(filepath.Separator)))] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	both := map[string][]byte{}
	for p, b := range release {
		if strings.HasPrefix(p, "schema-bump/") {
			t.Errorf("the release holds %s", p)
		}
		both[p] = b
	}
	for p, b := range bump {
		both["schema-bump/"+p] = b
	}
	if len(both) != len(onDisk) {
		t.Errorf("embedded %v, on disk %v", keys(both), keys(onDisk))
	}
	for p, b := range onDisk {
		if !bytes.Equal(both[p], b) {
			t.Errorf("%s differs from examples/app/%s", p, p)
		}
	}
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
