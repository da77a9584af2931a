package watch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"

	"github.com/ferry-deploy/ferry/internal/gittest"
	"github.com/ferry-deploy/ferry/internal/testutil"
)

// spaceRefNames are names with white space a broken or hostile server may
// advertise: go-git v5 refuses a whole listing that holds one (after its
// first line), where git skips the ref.
var spaceRefNames = []string{"refs/heads/a b", "refs/ferry/locks/x y", "refs/tags/v1.0.0 2^{}", "refs/heads/two  spaces"}

// TestRefNameWithSpaceOverHTTP: over smart HTTP, Ferry reads the ref
// advertisement itself first, so such refs are skipped as git skips them,
// and logged once each: listing, fetching and pushing go on with the good
// refs.
func TestRefNameWithSpaceOverHTTP(t *testing.T) {
	srv := gittest.NewServer(t)
	srv.InitRepo("app.git")
	h := srv.StartHTTP("")
	w := gittest.NewWork(t, h.URL("app.git"))
	c := w.Commit("one", map[string]string{"a": "1\n"})
	w.Git("push", "-q", "origin", "HEAD:refs/heads/main", "HEAD:refs/ferry/locks/staging")
	h.AdvertiseExtra(c, spaceRefNames...)

	logs := &testutil.Buffer{}
	m, err := OpenMirror(MirrorOptions{Dir: filepath.Join(t.TempDir(), "mirror"), URL: h.URL("app.git"), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		refs, err := m.ListRemote(t.Context())
		if err != nil {
			t.Fatalf("ListRemote: %v", err)
		}
		if len(refs) != 2 || refs["refs/heads/main"].Hash.String() != c || refs["refs/ferry/locks/staging"].Hash.String() != c {
			t.Errorf("ListRemote = %v, want the 2 good refs at %s", refs, c)
		}
	}
	if err := m.Fetch(t.Context(), "refs/ferry/locks/*"); err != nil {
		t.Fatalf("Fetch of the lock prefix: %v", err)
	}
	if got, err := m.Sync(t.Context(), "refs/heads/main"); err != nil || got.String() != c {
		t.Fatalf("Sync(main) = %s, %v; want %s", got, err, c)
	}
	if ok, err := m.PushCAS(t.Context(), "refs/ferry/locks/production", plumbing.ZeroHash, plumbing.NewHash(c)); !ok || err != nil {
		t.Fatalf("PushCAS of a new lock = %v, %v", ok, err)
	}
	for _, n := range spaceRefNames {
		if got := strings.Count(logs.String(), strings.TrimSuffix(n, "^{}")); got != 1 {
			t.Errorf("%q is named %d times in the log, want once:\n%s", n, got, logs)
		}
	}
}

// TestRefNameWithSpaceOverGitProtocol: over the stream protocol (git://,
// and SSH, which go-git reads the same way) go-git reads the
// advertisement itself and refuses it whole; Ferry's error then names the
// ref and says what to do, is permanent (no quick retries), and nothing
// is written.
func TestRefNameWithSpaceOverGitProtocol(t *testing.T) {
	srv := gittest.NewServer(t)
	srv.InitRepo("app.git")
	h := srv.StartStream()
	w := gittest.NewWork(t, h.URL("app.git"))
	c := w.Commit("one", map[string]string{"a": "1\n"})
	w.Git("push", "-q", "origin", "HEAD:refs/heads/main")

	root := t.TempDir()
	m, err := OpenMirror(MirrorOptions{Dir: filepath.Join(root, "mirror"), URL: h.URL("app.git")})
	if err != nil {
		t.Fatal(err)
	}
	if refs, err := m.ListRemote(t.Context()); err != nil || len(refs) != 1 {
		t.Fatalf("before: ListRemote = %v, %v", refs, err)
	}
	h.AdvertiseExtra(c, "refs/heads/a b")
	before := snapshot(t, root)
	_, err = m.ListRemote(t.Context())
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), `"refs/heads/a b"`) {
		t.Errorf("ListRemote = %v, want a permanent error naming the ref", err)
	}
	err = m.Fetch(t.Context(), "refs/heads/main")
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), `"refs/heads/a b"`) {
		t.Errorf("Fetch = %v, want a permanent error naming the ref", err)
	}
	if ok, err := m.PushCAS(t.Context(), "refs/ferry/locks/production", plumbing.ZeroHash, plumbing.NewHash(c)); ok || !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), `"refs/heads/a b"`) {
		t.Errorf("PushCAS = %v, %v; want a permanent error naming the ref", ok, err)
	}
	after := snapshot(t, root)
	for p, content := range after {
		if before[p] != content {
			t.Errorf("%s written", p)
		}
	}
}

// FuzzAdvertFilter feeds arbitrary bodies to the reader that drops, from a
// smart HTTP ref advertisement, the ref lines go-git would refuse the
// whole advertisement for: it must never panic; what it hands on is the
// body less whole pkt-lines, each one it was told of; the body as it is
// when it dropped none; and go-git never refuses what it hands on for a
// malformed ref line.
func FuzzAdvertFilter(f *testing.F) {
	pkt := func(lines ...string) []byte {
		var b []byte
		for _, l := range lines {
			if l == "" {
				b = append(b, "0000"...)
				continue
			}
			b = fmt.Appendf(b, "%04x%s", len(l)+4, l)
		}
		return b
	}
	h := "279a4d2e4c78b1c9808abf0faad46f370d9f331e"
	f.Add(pkt("# service=git-upload-pack\n", "", h+" HEAD\x00multi_ack side-band-64k ofs-delta symref=HEAD:refs/heads/main\n", h+" refs/heads/main\n", h+" refs/heads/a b\n", h+" refs/tags/v1\n", h+" refs/tags/v1^{}\n", ""))
	f.Add(pkt("# service=git-receive-pack\n", "", "0000000000000000000000000000000000000000 capabilities^{}\x00report-status delete-refs\n", ""))
	f.Add(pkt("# service=git-upload-pack\n", "", h+" refs/heads/x y\x00caps\n", h+" nospace\n", "zz"+h[2:]+" refs/heads/z\n", ""))
	f.Add(pkt("# service=git-upload-pack\n", "", h+" refs/heads/main\x00caps\n", "# not a ref line\n", h+" refs/heads/b\n", ""))
	f.Add([]byte("00zzjunk"))
	f.Fuzz(func(t *testing.T, body []byte) {
		var told []string
		r := &advertReader{src: bufio.NewReader(bytes.NewReader(body)), closer: io.NopCloser(nil), bad: func(name, why string) { told = append(told, name) }}
		out, err := io.ReadAll(r)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("read: %v", err)
		}
		if len(told) == 0 && !bytes.Equal(out, body) {
			t.Fatalf("nothing dropped, yet the body changed:\n%q\n%q", body, out)
		}
		if len(out) > len(body) {
			t.Fatalf("handed on more than it read")
		}
		ar := packp.NewAdvRefs()
		if err := ar.Decode(bytes.NewReader(out)); err != nil {
			var ue *packp.ErrUnexpectedData
			if errors.As(err, &ue) && strings.Contains(ue.Msg, "malformed ref data") && bytes.HasPrefix(body, []byte("001e# service=git-upload-pack\n0000")) {
				t.Fatalf("go-git refuses what was handed on: %v", err)
			}
		}
	})
}
