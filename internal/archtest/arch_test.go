// Package archtest checks the boundaries DESIGN.md draws between Ferry's
// packages, so that they hold as the code grows.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/ferry-deploy/ferry"

type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string
	GoFiles    []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// rule forbids packages matching from to import paths with a prefix in deny.
type rule struct {
	why   string
	from  func(path string) bool
	deny  []string
	allow func(path string) bool
}

func under(prefixes ...string) func(string) bool {
	return func(path string) bool {
		for _, p := range prefixes {
			if path == module+"/"+p || strings.HasPrefix(path, module+"/"+p+"/") {
				return true
			}
		}
		return false
	}
}

func TestImportBoundaries(t *testing.T) {
	awsServices := "github.com/aws/aws-sdk-go-v2/service/"
	rules := []rule{
		{
			why:  "pkg/cloud is the only package that talks to AWS (awssim serves the API; simenv and the benchmarks under bench/ set up a simulated account)",
			from: func(p string) bool { return !under("pkg/cloud", "internal/awssim", "internal/simenv", "bench")(p) },
			deny: []string{awsServices},
		},
		{
			why:  "production packages never depend on the simulator; only the ferry command embeds it (ferry sim, ferry demo)",
			from: under("pkg"),
			deny: []string{module + "/internal/awssim"},
		},
		{
			why:  "pkg/remote is the only package that speaks SSH to instances",
			from: under("pkg/plan", "pkg/execute", "pkg/config", "pkg/roles", "pkg/cloud", "pkg/status", "pkg/lock", "pkg/bake"),
			deny: []string{"golang.org/x/crypto/ssh"},
		},
		{
			why:  "git stays in watch, status and lock: plan and execute see it through interfaces",
			from: under("pkg/execute", "pkg/cloud", "pkg/remote", "pkg/roles", "pkg/bake"),
			deny: []string{"github.com/go-git/go-git/v5"},
		},
		{
			why:  "cmd/agent parses flags, calls pkg/agent and prints: git and AWS are pkg/agent's business, through watch, lock, status and cloud",
			from: under("cmd/agent"),
			deny: []string{"github.com/go-git/", "github.com/aws/"},
		},
		{
			why:  "pkg/config and pkg/roles are vocabulary: they import no other Ferry package but roles and commit",
			from: under("pkg/config", "pkg/roles"),
			deny: []string{module + "/"},
			allow: func(imp string) bool {
				return imp == module+"/pkg/roles" || imp == module+"/pkg/commit"
			},
		},
		{
			why:  "pkg/commit is vocabulary every stage shares: it imports no Ferry package and no git library",
			from: under("pkg/commit"),
			deny: []string{module + "/", "github.com/go-git/"},
		},
		{
			why:  "internal/awssim/machines is below the simulator: awssim builds on it, not the reverse",
			from: under("internal/awssim/machines"),
			deny: []string{module + "/internal/awssim"},
			allow: func(imp string) bool {
				return strings.HasPrefix(imp, module+"/internal/awssim/machines")
			},
		},
		{
			why:  "the fault hook (a no-op unless built with -tags ferryfault) marks the executor's steps, the bake's phases and the AWS client's calls, nothing else",
			from: func(p string) bool { return !under("pkg/execute", "pkg/cloud", "pkg/bake")(p) },
			deny: []string{module + "/internal/faultpoint"},
		},
		{
			why:  "internal/awssim knows nothing of Ferry's packages",
			from: under("internal/awssim"),
			deny: []string{module + "/pkg/", module + "/cmd/"},
		},
	}
	for _, p := range listPackages(t) {
		for _, r := range rules {
			if !r.from(p.ImportPath) {
				continue
			}
			for _, imp := range p.Imports {
				if r.allow != nil && r.allow(imp) {
					continue
				}
				for _, d := range r.deny {
					if strings.HasPrefix(imp, d) && imp != p.ImportPath {
						t.Errorf("%s imports %s: %s", p.ImportPath, imp, r.why)
					}
				}
			}
		}
	}
}

// TestPackagesAreDocumented: a newcomer finds each package's job in its doc.
func TestPackagesAreDocumented(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue // test-only directories such as systemd/
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
	}
}
