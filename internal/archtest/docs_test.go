package archtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestArchitectureDocIsTrue: every file docs/architecture.md names exists,
// and every method it names, as (*T).m, is declared in the repository, so
// that the map does not drift from the code it describes.
func TestArchitectureDocIsTrue(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("`((?:pkg|cmd|internal)/[^`]*?)`").FindAllStringSubmatch(string(doc), -1) {
		if _, err := os.Stat(filepath.Join(root, m[1])); err != nil {
			t.Errorf("docs/architecture.md names %s: %v", m[1], err)
		}
	}
	var src strings.Builder
	for _, dir := range []string{"pkg", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			src.Write(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	code := src.String()
	for _, m := range regexp.MustCompile(`\(\*(\w+)\)\.(\w+)`).FindAllStringSubmatch(string(doc), -1) {
		decl := regexp.MustCompile(`func \(\w+ \*` + m[1] + `\) ` + m[2] + `\(`)
		if !decl.MatchString(code) {
			t.Errorf("docs/architecture.md names (*%s).%s, which the code does not declare", m[1], m[2])
		}
	}
}
