package watch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/gittest"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// commitObject writes a parentless commit with an empty tree into the
// mirror, as the lock and notes writers do.
func commitObject(t *testing.T, m *Mirror, msg string) plumbing.Hash {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.repo.Storer
	tree := &object.Tree{}
	to := st.NewEncodedObject()
	if err := tree.Encode(to); err != nil {
		t.Fatal(err)
	}
	th, err := st.SetEncodedObject(to)
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000, 0).UTC()}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: th}
	co := st.NewEncodedObject()
	if err := c.Encode(co); err != nil {
		t.Fatal(err)
	}
	h, err := st.SetEncodedObject(co)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPushCAS(t *testing.T) {
	f := newFixture(t)
	f.work.Commit("one", nil)
	f.work.Push("main")
	m := f.mirror
	ctx := t.Context()
	ref := plumbing.ReferenceName("refs/ferry/locks/staging")
	remote := func() string {
		out, _ := gittest.RunGit(ctx, "", nil, "ls-remote", f.daemon.URL("app.git"), ref.String())
		return strings.Fields(out + " -")[0]
	}
	a, b := commitObject(t, m, "a"), commitObject(t, m, "b")
	zero := plumbing.ZeroHash

	steps := []struct {
		name     string
		old, new plumbing.Hash
		wantOK   bool
		remote   string
	}{
		{"create", zero, a, true, a.String()},
		{"create again loses", zero, b, false, a.String()},
		{"update from a stale value loses", b, b, false, a.String()},
		{"update", a, b, true, b.String()},
		{"delete with a stale value loses", a, zero, false, b.String()},
		{"delete", b, zero, true, "-"},
	}
	for _, s := range steps {
		ok, err := m.PushCAS(ctx, ref, s.old, s.new)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if ok != s.wantOK {
			t.Errorf("%s: ok = %v, want %v", s.name, ok, s.wantOK)
		}
		if got := remote(); got != s.remote {
			t.Errorf("%s: remote ref = %s, want %s", s.name, got, s.remote)
		}
	}
}

func TestMirrorReads(t *testing.T) {
	f := newFixture(t)
	c1 := f.work.Commit("one", map[string]string{".ferry/schema-version": "1\n", "app/main.py": "x"})
	c2 := f.work.Commit("two\n\nFerry-Method: full\n", map[string]string{"app/migrations/0002.py": "y", "app/main.py": "z"})
	f.work.Git("rm", "-q", ".ferry/schema-version")
	c3 := f.work.Commit("three", nil)
	f.work.Push("main")
	if err := f.mirror.Fetch(t.Context(), "refs/heads/main"); err != nil {
		t.Fatal(err)
	}
	m := f.mirror

	if b, err := m.ReadFile(hash(c1), ".ferry/schema-version"); err != nil || string(b) != "1\n" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	if _, err := m.ReadFile(hash(c3), ".ferry/schema-version"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a removed file: err = %v, want fs.ErrNotExist", err)
	}
	paths, err := m.ChangedPaths(hash(c1), hash(c3))
	if want := []string{".ferry/schema-version", "app/main.py", "app/migrations/0002.py"}; err != nil || !reflect.DeepEqual(paths, want) {
		t.Errorf("ChangedPaths = %v, %v; want %v", paths, err, want)
	}
	commits, err := m.Commits(hash(c1), hash(c3), 0)
	if err != nil || len(commits) != 2 || commits[0].Hash != hash(c3) || commits[1].Hash != hash(c2) {
		t.Fatalf("Commits = %+v, %v", commits, err)
	}
	if !strings.Contains(commits[1].Message, "Ferry-Method: full") {
		t.Errorf("commit message lost its trailer: %q", commits[1].Message)
	}
	if commits, _ := m.Commits(plumbing.ZeroHash, hash(c3), 1); len(commits) != 1 {
		t.Errorf("limit not applied: %d commits", len(commits))
	}
	for _, tt := range []struct {
		a, b string
		want bool
	}{{c1, c3, true}, {c3, c1, false}, {c2, c2, true}} {
		if got, err := m.IsAncestor(hash(tt.a), hash(tt.b)); err != nil || got != tt.want {
			t.Errorf("IsAncestor(%.7s, %.7s) = %v, %v; want %v", tt.a, tt.b, got, err, tt.want)
		}
	}
}

func TestHTTPTokenAuth(t *testing.T) {
	const token = "tok-9f8e7d6c5b4a"
	srv := gittest.NewServer(t)
	srv.InitRepo("app.git")
	h := srv.StartHTTP(token)
	w := gittest.NewWork(t, h.URLWithToken("app.git"))
	c := w.Commit("one", nil)
	w.Push("main")

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FERRY_TEST_TOKEN", token)
	t.Setenv("FERRY_TEST_BAD_TOKEN", "wrong-"+token)
	tests := []struct {
		name      string
		auth      Auth
		ok        bool
		permanent bool
	}{
		{"token file", Auth{TokenFile: tokenFile}, true, false},
		{"token env", Auth{TokenEnv: "FERRY_TEST_TOKEN"}, true, false},
		{"no token", Auth{}, false, true},
		{"wrong token", Auth{TokenEnv: "FERRY_TEST_BAD_TOKEN"}, false, true},
		{"empty env", Auth{TokenEnv: "FERRY_TEST_UNSET"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := OpenMirror(MirrorOptions{Dir: t.TempDir(), URL: h.URL("app.git"), Auth: tt.auth})
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Sync(t.Context(), "refs/heads/main")
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if m.LocalRef("refs/heads/main") != hash(c) {
					t.Errorf("not fetched")
				}
				return
			}
			if err == nil {
				t.Fatal("succeeded")
			}
			if errors.Is(err, ErrPermanent) != tt.permanent {
				t.Errorf("permanent = %v, want %v: %v", errors.Is(err, ErrPermanent), tt.permanent, err)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}

	t.Run("compare-and-swap push over http with the token", func(t *testing.T) {
		m, err := OpenMirror(MirrorOptions{Dir: t.TempDir(), URL: h.URL("app.git"), Auth: Auth{TokenFile: tokenFile}})
		if err != nil {
			t.Fatal(err)
		}
		c := commitObject(t, m, "lock")
		before := h.Requests("receive-pack")
		if ok, err := m.PushCAS(t.Context(), "refs/ferry/locks/http", plumbing.ZeroHash, c); !ok || err != nil {
			t.Fatalf("PushCAS = %v, %v", ok, err)
		}
		if ok, err := m.PushCAS(t.Context(), "refs/ferry/locks/http", plumbing.ZeroHash, c); ok || err != nil {
			t.Errorf("second create = %v, %v; want lost", ok, err)
		}
		if h.Requests("receive-pack") != before+1 {
			t.Errorf("a push whose expected value was already stale was sent anyway")
		}
		got := gittest.Git(t, "", "ls-remote", h.URLWithToken("app.git"), "refs/ferry/locks/http")
		if !strings.HasPrefix(got, c.String()) {
			t.Errorf("remote lock ref = %q, want %s", got, c)
		}
	})
	t.Run("password in URL refused and redacted", func(t *testing.T) {
		_, err := OpenMirror(MirrorOptions{Dir: t.TempDir(), URL: h.URLWithToken("app.git")})
		if !errors.Is(err, ErrPermanent) || strings.Contains(err.Error(), token) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("token over plain http to a non-loopback host refused", func(t *testing.T) {
		m, err := OpenMirror(MirrorOptions{Dir: t.TempDir(), URL: "http://git.example.com/app.git", Auth: Auth{TokenFile: tokenFile}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.ListRemote(t.Context())
		if !errors.Is(err, ErrPermanent) || strings.Contains(err.Error(), token) {
			t.Errorf("err = %v", err)
		}
	})
}

// TestSSHTransport reads and pushes over OpenSSH with the host key checked
// against known_hosts, and shows a changed host key is refused.
func TestSSHTransport(t *testing.T) {
	srv := gittest.NewServer(t)
	srv.InitRepo("app.git")
	sshd := srv.StartSSH()
	kh := sshd.KnownHosts()
	w := gittest.NewWork(t, sshd.URL("app.git"), "GIT_SSH_COMMAND="+sshd.GitSSHCommand(kh))
	c := w.Commit("one", nil)
	w.Push("main")

	m, err := OpenMirror(MirrorOptions{Dir: t.TempDir(), URL: sshd.URL("app.git"),
		Auth: Auth{SSHKeyFile: sshd.ClientKey, KnownHostsFile: kh}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.Sync(t.Context(), "refs/heads/main"); err != nil || got != hash(c) {
		t.Fatalf("Sync over ssh = %s, %v", got, err)
	}
	lock := commitObject(t, m, "lock")
	if ok, err := m.PushCAS(t.Context(), "refs/ferry/locks/x", plumbing.ZeroHash, lock); !ok || err != nil {
		t.Errorf("PushCAS over ssh = %v, %v", ok, err)
	}

	t.Run("changed host key refused", func(t *testing.T) {
		m, err := OpenMirror(MirrorOptions{Dir: t.TempDir(), URL: sshd.URL("app.git"),
			Auth: Auth{SSHKeyFile: sshd.ClientKey, KnownHostsFile: sshd.WrongKnownHosts()}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.ListRemote(t.Context())
		if err == nil {
			t.Fatal("connected despite a changed host key")
		}
		if !errors.Is(err, ErrPermanent) {
			t.Errorf("host key mismatch not permanent: %v", err)
		}
	})
	t.Run("no known_hosts refused", func(t *testing.T) {
		m, _ := OpenMirror(MirrorOptions{Dir: t.TempDir(), URL: sshd.URL("app.git"), Auth: Auth{SSHKeyFile: sshd.ClientKey}})
		if _, err := m.ListRemote(t.Context()); !errors.Is(err, ErrPermanent) {
			t.Errorf("err = %v, want permanent", err)
		}
	})
}

// TestCommitsMatchesGitRevList compares Commits with git rev-list from..to
// on a history with branches and merges, every commit made in the same
// second (the hard case for a walk ordered by commit time).
func TestCommitsMatchesGitRevList(t *testing.T) {
	f := newFixture(t)
	const date = "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z"
	w := gittest.NewWork(t, f.daemon.URL("app.git"), date, "GIT_AUTHOR_DATE=2026-01-01T00:00:00Z")
	c := map[string]string{}
	c["a"] = w.Commit("a", map[string]string{"a": "1"})
	c["b"] = w.Commit("b", map[string]string{"b": "1"})
	w.Git("checkout", "-q", "-b", "feature")
	c["f1"] = w.Commit("f1", map[string]string{"f": "1"})
	c["f2"] = w.Commit("f2", map[string]string{"f": "2"})
	w.Git("checkout", "-q", "-b", "other", c["b"])
	c["o1"] = w.Commit("o1", map[string]string{"o": "1"})
	w.Git("checkout", "-q", "main")
	c["c"] = w.Commit("c", map[string]string{"c": "1"})
	w.Git("merge", "-q", "--no-ff", "-m", "m", "feature")
	c["m"] = w.Git("rev-parse", "HEAD")
	c["e"] = w.Commit("e", map[string]string{"e": "1"})
	w.Git("merge", "-q", "--no-ff", "-m", "m2", "other")
	c["m2"] = w.Git("rev-parse", "HEAD")
	w.Git("push", "-q", "origin", "main", "feature", "other")
	if err := f.mirror.Fetch(t.Context(), "refs/heads/main", "refs/heads/feature", "refs/heads/other"); err != nil {
		t.Fatal(err)
	}

	pairs := [][2]string{{"b", "m2"}, {"f1", "m2"}, {"c", "f2"}, {"", "m2"}, {"m2", "b"}, {"o1", "e"}, {"f2", "c"}, {"e", "m2"}, {"m", "m2"}, {"a", "o1"}}
	for _, p := range pairs {
		t.Run(p[0]+".."+p[1], func(t *testing.T) {
			var from plumbing.Hash
			spec := c[p[1]]
			if p[0] != "" {
				from = hash(c[p[0]])
				spec = c[p[0]] + ".." + c[p[1]]
			}
			want := strings.Fields(w.Git("rev-list", spec))
			got, err := f.mirror.Commits(from, hash(c[p[1]]), 0)
			if err != nil {
				t.Fatal(err)
			}
			var gotHashes []string
			for _, cm := range got {
				gotHashes = append(gotHashes, cm.Hash.String())
			}
			sort.Strings(want)
			sort.Strings(gotHashes)
			if !reflect.DeepEqual(gotHashes, want) && !(len(want) == 0 && len(gotHashes) == 0) {
				t.Errorf("Commits = %v\ngit rev-list = %v", gotHashes, want)
			}
		})
	}
}
