package awssim

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// awssim stands alone: it imports no other Ferry package (DESIGN.md) but
// its own machines and imds packages (the machine backend and its
// metadata service). Its tests may also use internal/testlog, which
// imports nothing of Ferry's (checked here too).
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
				p == "github.com/ferry-deploy/ferry/internal/awssim/imds" ||
				p == testlogPkg && strings.HasSuffix(f, "_test.go")
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
	// testlog itself stands alone.
	out, err := exec.Command("go", "list", "-deps", testlogPkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", testlogPkg, err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/ferry-deploy/ferry/") && dep != testlogPkg {
			t.Errorf("%s imports %s", testlogPkg, dep)
		}
	}
}

const testlogPkg = "github.com/ferry-deploy/ferry/internal/testlog"
