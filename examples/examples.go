// Package examples carries examples/app, the sample Django app, inside the
// ferry binary: `ferry demo --machines` deploys it from a fresh clone or a
// lone binary, with nothing else at hand. The directory itself stays the
// example people read and copy from.
package examples

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

// app is examples/app; all: keeps the files whose names start with "_"
// (Python's __init__.py).
//
//go:embed all:app
var app embed.FS

// schemaBump is the directory of examples/app whose files, laid over the
// first release, make the next one: a migration that adds a column.
const schemaBump = "schema-bump"

// AppRelease returns the files of examples/app's first release by their
// path in it: the tree without schema-bump/.
func AppRelease() (map[string][]byte, error) {
	return appFiles(".", func(p string) bool { return p != schemaBump })
}

// AppSchemaBump returns the files schema-bump/ lays over a release of
// examples/app, by their path in the release.
func AppSchemaBump() (map[string][]byte, error) {
	return appFiles(schemaBump, func(string) bool { return true })
}

// appFiles reads the regular files under dir of the app, skipping the
// directories keep refuses and Python's caches (a local run of the app
// may have left some beside the sources).
func appFiles(dir string, keep func(string) bool) (map[string][]byte, error) {
	root, err := fs.Sub(app, path.Join("app", dir))
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && p != "." && (d.Name() == "__pycache__" || !keep(p)):
			return fs.SkipDir
		case !d.Type().IsRegular() || strings.HasSuffix(p, ".pyc"):
			return nil
		}
		b, err := fs.ReadFile(root, p)
		files[p] = b
		return err
	})
	return files, err
}
