package awssim

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// awssim stands alone: it imports no other Ferry package (DESIGN.md) but
// its own machines and imds packages (the machine backend and its
// metadata service).
func TestBoundary_ImportsNoFerryPackage(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	docs := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			allowed := p == "github.com/ferry-deploy/ferry/internal/awssim" || p == "github.com/ferry-deploy/ferry/internal/awssim/machines" ||
				p == "github.com/ferry-deploy/ferry/internal/awssim/imds"
			if strings.HasPrefix(p, "github.com/ferry-deploy/ferry/") && !allowed {
				t.Errorf("%s imports %s", f, p)
			}
		}
		if af.Doc != nil && !strings.HasSuffix(f, "_test.go") {
			docs++
		}
	}
	if docs != 1 {
		t.Errorf("%d files carry a package doc, want exactly one (doc.go)", docs)
	}
}
