package watch

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/internal/gittest"
	"github.com/ferry-deploy/ferry/internal/testutil"
)

// badRefNames are names git check-ref-format refuses, or that are not under
// refs/, each of which the mirror must never store.
var badRefNames = []string{
	"config", "HEAD", "FETCH_HEAD", "../x", "refs", "refs/",
	"refs/ferry/locks/..", "refs/ferry/locks/../../config", "refs/ferry/locks/../../../escaped",
	"refs/ferry/locks/.hidden", "refs/ferry/locks/x.lock", "refs/ferry/locks//x", "refs/ferry/locks/x/",
	"refs/ferry/locks/x.", "refs/ferry/locks/a\x01b", "refs/ferry/locks/a\x7fb", "refs/ferry/locks/a\tb",
	"refs/ferry/locks/a b", "refs/ferry/locks/a~1", "refs/ferry/locks/a^", "refs/ferry/locks/a:b",
	"refs/ferry/locks/a?", "refs/ferry/locks/a*", "refs/ferry/locks/a[b", "refs/ferry/locks/a\\b",
	"refs/ferry/locks/a@{1}", "refs/ferry/locks/@",
}

func TestCheckRefName(t *testing.T) {
	for _, good := range []string{"refs/heads/main", "refs/ferry/locks/staging", "refs/tags/v1.0.0", "refs/notes/ferry", "refs/heads/feature/a-b_c.d", "refs/heads/ünïcode"} {
		if err := checkRefName(plumbing.ReferenceName(good)); err != nil {
			t.Errorf("checkRefName(%q) = %v, want ok", good, err)
		}
	}
	for _, bad := range badRefNames {
		err := checkRefName(plumbing.ReferenceName(bad))
		if !errors.Is(err, ErrPermanent) {
			t.Errorf("checkRefName(%q) = %v, want a permanent error", bad, err)
		}
	}
}

// TestBadRefNamesFromTheRemoteNeverReachTheMirror: a server that advertises
// malformed ref names (under the lock prefix Ferry fetches whole, and
// elsewhere) has them ignored, with a warning, and every file of the
// mirror and around it is left as it was.
func TestBadRefNamesFromTheRemoteNeverReachTheMirror(t *testing.T) {
	srv := gittest.NewServer(t)
	srv.InitRepo("app.git")
	h := srv.StartHTTP("")
	w := gittest.NewWork(t, h.URL("app.git"))
	c := w.Commit("one", map[string]string{"a": "1\n"})
	w.Git("push", "-q", "origin", "HEAD:refs/heads/main", "HEAD:refs/ferry/locks/staging")
	// Names with a space, which go-git's reader would refuse the whole
	// listing for, are dropped before it reads them (advert.go); the rest
	// reach Ferry's own checks.
	h.AdvertiseExtra(c, badRefNames...)

	logs := &testutil.Buffer{}
	root := t.TempDir()
	dir := filepath.Join(root, "state", "mirror")
	m, err := OpenMirror(MirrorOptions{Dir: dir, URL: h.URL("app.git"), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)

	refs, err := m.ListRemote(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for name := range refs {
		if name != "refs/heads/main" && name != "refs/ferry/locks/staging" {
			t.Errorf("ListRemote returned %q", name)
		}
	}
	if len(refs) != 2 {
		t.Errorf("ListRemote returned %d refs, want the 2 good ones", len(refs))
	}
	if err := m.Fetch(t.Context(), "refs/ferry/locks/*"); err != nil {
		t.Fatalf("Fetch of the lock prefix: %v", err)
	}
	if got := m.LocalRef("refs/ferry/locks/staging"); got.String() != c {
		t.Errorf("the good lock ref is %s, want %s", got, c)
	}
	for _, bad := range []plumbing.ReferenceName{"refs/ferry/locks/../../config", "config", "HEAD"} {
		if err := m.Fetch(t.Context(), bad); !errors.Is(err, ErrPermanent) {
			t.Errorf("Fetch(%q) = %v, want a permanent error", bad, err)
		}
		if _, err := m.Sync(t.Context(), bad); !errors.Is(err, ErrPermanent) {
			t.Errorf("Sync(%q) = %v, want a permanent error", bad, err)
		}
		if err := m.DeleteLocal(bad); !errors.Is(err, ErrPermanent) {
			t.Errorf("DeleteLocal(%q) = %v, want a permanent error", bad, err)
		}
	}
	if !strings.Contains(logs.String(), "ignored") || !strings.Contains(logs.String(), `refs/ferry/locks/a\\x01b`) {
		t.Errorf("no warning names the bad refs (quoted):\n%s", logs)
	}

	// Only the fetched pack, its index and the good ref are new.
	after := snapshot(t, root)
	for path, content := range before {
		if after[path] != content {
			t.Errorf("%s changed:\n%q\nnow\n%q", path, content, after[path])
		}
	}
	for path := range after {
		if _, ok := before[path]; ok {
			continue
		}
		if !strings.HasPrefix(path, "state/mirror/objects/pack/") && path != "state/mirror/refs/ferry/locks/staging" {
			t.Errorf("new file %s", path)
		}
	}
}

// snapshot maps every regular file under root (by slash path) to its
// content.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestCheckRefNameAgreesWithGit checks checkRefName against git's own
// check-ref-format over names made of the characters and sequences its
// rules are about: a name git refuses is never accepted, and a name git
// accepts is refused only where go-git's Validate is stricter than git — a
// component "@" (git refuses only the whole name "@": `git tag @` makes
// refs/tags/@) or a branch or tag starting with "-" — or outside refs/.
// Such a ref is ignored, with a warning, like the others.
func TestCheckRefNameAgreesWithGit(t *testing.T) {
	testutil.RequireTool(t, "git")
	parts := []string{"a", "b", "-", ".", "/", "@", "{", "}", "~", "^", ":", "?", "*", "[", "\\", " ", "\x01", "\x7f",
		".lock", "..", "@{", "//", "ü", "heads/", "tags/", "-x", "x.", "ferry/locks/"}
	rnd := rand.New(rand.NewPCG(20, 20))
	names := []string{"refs/tags/@", "refs/heads/a/@", "refs/heads/-x", "refs/tags/-1.0.0", "refs/heads/a@b", "refs/@"}
	names = append(names, badRefNames...)
	for range 600 {
		s := "refs/"
		if rnd.IntN(8) == 0 {
			s = ""
		}
		for range 1 + rnd.IntN(5) {
			s += parts[rnd.IntN(len(parts))]
		}
		names = append(names, s)
	}
	stricter := func(s string) bool {
		comps := strings.Split(s, "/")
		for i, c := range comps {
			if c == "@" || i == 2 && strings.HasPrefix(c, "-") && (comps[1] == "heads" || comps[1] == "tags") {
				return true
			}
		}
		return !strings.HasPrefix(s, "refs/")
	}
	for _, s := range names {
		ours := checkRefName(plumbing.ReferenceName(s)) == nil
		out, err := testutil.GitCommand("", "check-ref-format", s).CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("git check-ref-format %q: %v\n%s", s, err, out)
		}
		git := err == nil
		switch {
		case ours && !git:
			t.Errorf("checkRefName accepts %q, which git check-ref-format refuses", s)
		case git && !ours && !stricter(s):
			t.Errorf("checkRefName refuses %q, which git check-ref-format accepts", s)
		}
	}
}
