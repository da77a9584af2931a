package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/gittest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
)

// gitIO runs the git CLI in dir with stdin, no user or system
// configuration and HOME in a temporary directory, and returns stdout.
func gitIO(t *testing.T, dir string, stdin []byte, args ...string) []byte {
	t.Helper()
	testutil.RequireTool(t, "git")
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(gittest.GitEnv(), "HOME="+t.TempDir())
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// deltaRepo is a bare repository whose history packs into long delta
// chains: files changed a line at a time, one of them big (64 KiB, more
// than a small cache keeps), and an annotated tag.
func deltaRepo(t *testing.T) string {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "r.git")
	gitIO(t, "", nil, "init", "-q", "--bare", repo)
	var in strings.Builder
	lines := func(n, version int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "line %d of a file that changes a little each time\n", i)
			if i == version%n {
				fmt.Fprintf(&b, "version %d\n", version)
			}
		}
		return b.String()
	}
	for c := 1; c <= 60; c++ {
		fmt.Fprintf(&in, "commit refs/heads/main\ncommitter T <t@example.com> %d +0000\ndata 4\nc%02d\n", 1600000000+c, c)
		for f := range 3 {
			body := lines(40, c*3+f)
			fmt.Fprintf(&in, "M 100644 inline d%d/f%d.txt\ndata %d\n%s", f%2, f, len(body), body)
		}
		if c%10 == 0 {
			body := lines(1200, c)
			fmt.Fprintf(&in, "M 100644 inline big.txt\ndata %d\n%s", len(body), body)
		}
		in.WriteString("\n")
	}
	in.WriteString("tag v1\nfrom refs/heads/main\ntagger T <t@example.com> 1600000100 +0000\ndata 3\nv1\n\ndone\n")
	gitIO(t, repo, []byte(in.String()), "fast-import", "--quiet", "--done")
	return repo
}

// indexWithGit returns the index git index-pack writes for a pack.
func indexWithGit(t *testing.T, pack []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "p.pack")
	if err := os.WriteFile(p, pack, 0o600); err != nil {
		t.Fatal(err)
	}
	gitIO(t, dir, nil, "index-pack", "-o", filepath.Join(dir, "p.idx"), p)
	idx, err := os.ReadFile(filepath.Join(dir, "p.idx"))
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func packDirFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestWritePackMatchesGitIndexPack: the pack is written as received and
// its index is byte for byte git's, for OFS_DELTA and REF_DELTA chains,
// with a cache so small that bases are read back from the pack and big
// objects are hashed as they stream, and for an empty pack.
func TestWritePackMatchesGitIndexPack(t *testing.T) {
	repo := deltaRepo(t)
	ofs := gitIO(t, repo, nil, "pack-objects", "--all", "--revs", "--stdout", "--delta-base-offset", "-q")
	ref := gitIO(t, repo, nil, "pack-objects", "--all", "--revs", "--stdout", "-q")
	empty := gitIO(t, repo, nil, "pack-objects", "--stdout", "-q")
	cases := []struct {
		name  string
		pack  []byte
		cache int
		delta plumbing.ObjectType
	}{
		{"ofs-delta", ofs, 0, plumbing.OFSDeltaObject},
		{"ofs-delta, tiny cache", ofs, 4 << 10, plumbing.OFSDeltaObject},
		{"ref-delta", ref, 0, plumbing.REFDeltaObject},
		{"ref-delta, tiny cache", ref, 4 << 10, plumbing.REFDeltaObject},
		{"empty", empty, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.delta != 0 && !hasDeltaChains(t, repo, tc.pack, tc.delta) {
				t.Fatalf("the test pack has no %s chains", tc.delta)
			}
			dir := t.TempDir()
			res, err := writePack(t.Context(), dir, bytes.NewReader(tc.pack), packOptions{CacheBytes: tc.cache})
			if err != nil {
				t.Fatal(err)
			}
			if want := int(be32(tc.pack[8:])); res.Objects != want {
				t.Errorf("objects = %d, want %d", res.Objects, want)
			}
			var sum plumbing.Hash
			copy(sum[:], tc.pack[len(tc.pack)-20:])
			if res.Hash != sum {
				t.Errorf("pack hash = %s, want its trailer %s", res.Hash, sum)
			}
			base := filepath.Join(dir, "pack-"+sum.String())
			gotPack, err := os.ReadFile(base + ".pack")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotPack, tc.pack) {
				t.Errorf("the pack on disk differs from the one received")
			}
			gotIdx, err := os.ReadFile(base + ".idx")
			if err != nil {
				t.Fatal(err)
			}
			if want := indexWithGit(t, tc.pack); !bytes.Equal(gotIdx, want) {
				t.Errorf("index differs from git index-pack's: %d bytes, git's %d", len(gotIdx), len(want))
			}
			if names := packDirFiles(t, dir); len(names) != 2 {
				t.Errorf("pack dir holds %v, want the pack and its index", names)
			}
		})
	}
}

// hasDeltaChains reports whether the pack has deltas of the given kind
// whose base is a delta itself, as git verify-pack counts them.
func hasDeltaChains(t *testing.T, repo string, pack []byte, kind plumbing.ObjectType) bool {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "p.pack")
	if err := os.WriteFile(p, pack, 0o600); err != nil {
		t.Fatal(err)
	}
	gitIO(t, dir, nil, "index-pack", p)
	out := string(gitIO(t, dir, nil, "verify-pack", "-v", p))
	if !strings.Contains(out, "chain length = 2") {
		return false
	}
	// pack-objects writes OFS_DELTA only when asked to.
	s := newPackStream(bytes.NewReader(pack[12:]), 4096, nil)
	s.off = 12
	var z inflater
	for {
		h, err := readObjHeader(s)
		if err != nil {
			t.Fatal(err)
		}
		if h.typ == kind {
			return true
		}
		if err := z.inflate(s, h.size, discard{}); err != nil {
			t.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestWritePackEmptyStream: nothing received, nothing written.
func TestWritePackEmptyStream(t *testing.T) {
	dir := t.TempDir()
	res, err := writePack(t.Context(), dir, bytes.NewReader(nil), packOptions{})
	if err != nil || !res.Hash.IsZero() {
		t.Fatalf("writePack(empty stream) = %+v, %v", res, err)
	}
	if names := packDirFiles(t, dir); len(names) != 0 {
		t.Errorf("pack dir holds %v", names)
	}
}

// TestWritePackRejectsCorruptPacks: a clear error, and nothing left behind
// in the pack directory.
func TestWritePackRejectsCorruptPacks(t *testing.T) {
	repo := deltaRepo(t)
	pack := gitIO(t, repo, nil, "pack-objects", "--all", "--revs", "--stdout", "--delta-base-offset", "-q")
	// A thin pack: the last commit against the one before, its deltas'
	// bases left out.
	thin := gitIO(t, repo, []byte("main\n^main~1\n"), "pack-objects", "--revs", "--thin", "--stdout", "-q")
	flip := func(at int) []byte {
		b := bytes.Clone(pack)
		b[at] ^= 0x40
		return b
	}
	cases := []struct {
		name string
		pack []byte
		want string
	}{
		{"truncated in an object", pack[:len(pack)/2], "truncated"},
		{"truncated in the checksum", pack[:len(pack)-5], "truncated"},
		{"bad signature", append([]byte("PECK"), pack[4:]...), "signature"},
		{"flipped byte in a body", flip(len(pack) / 2), "corrupt pack"},
		{"flipped checksum", flip(len(pack) - 1), "checksum"},
		{"data after the pack", append(bytes.Clone(pack), 'x'), "after the pack"},
		{"thin pack", thin, "no base in the pack"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := writePack(t.Context(), dir, bytes.NewReader(tc.pack), packOptions{})
			if !errors.Is(err, errCorruptPack) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a corrupt pack error mentioning %q", err, tc.want)
			}
			if names := packDirFiles(t, dir); len(names) != 0 {
				t.Errorf("left behind: %v", names)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := writePack(ctx, dir, bytes.NewReader(pack), packOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if names := packDirFiles(t, dir); len(names) != 0 {
			t.Errorf("left behind: %v", names)
		}
	})
}

// TestFirstMirrorPassesFsck: the mirror's first fetch, indexed by Ferry,
// is a repository git fsck accepts, and a later fetch remembers its
// commits for the force-push check.
func TestFirstMirrorPassesFsck(t *testing.T) {
	f := newFixture(t)
	for i := range 30 {
		f.work.Commit(fmt.Sprintf("c%d", i), map[string]string{
			"a.txt":     strings.Repeat(fmt.Sprintf("line %d\n", i), 200),
			"dir/b.txt": strings.Repeat("same\n", 100) + fmt.Sprint(i),
		})
	}
	f.work.Push("main")
	main := plumbing.ReferenceName("refs/heads/main")
	if err := f.mirror.Fetch(t.Context(), main); err != nil {
		t.Fatal(err)
	}
	dir := f.mirror.opts.Dir
	gitIO(t, dir, nil, "fsck", "--full", "--strict", "--no-progress", "--no-dangling")
	if f.mirror.recent != nil {
		t.Errorf("the first fetch remembered its commits")
	}

	prev := f.mirror.LocalRef(main)
	next := plumbing.NewHash(f.work.Commit("one more", map[string]string{"a.txt": "changed"}))
	f.work.Push("main")
	if err := f.mirror.Fetch(t.Context(), main); err != nil {
		t.Fatal(err)
	}
	if parents, ok := f.mirror.recent[next]; !ok || len(parents) != 1 || parents[0] != prev {
		t.Errorf("recent[%s] = %v, want its parent %s", next, parents, prev)
	}
	gitIO(t, dir, nil, "fsck", "--full", "--strict", "--no-progress", "--no-dangling")
}

// TestIdxLargeOffsets: offsets past the 32-bit limit go to the 64-bit
// table exactly as git writes them. A pack over 2 GiB is too big for a
// test, so both sides lower the limit (git index-pack
// --index-version=2,<offset>).
func TestIdxLargeOffsets(t *testing.T) {
	repo := deltaRepo(t)
	pack := gitIO(t, repo, nil, "pack-objects", "--all", "--revs", "--stdout", "--delta-base-offset", "-q")
	dir := t.TempDir()
	res, err := writePack(t.Context(), dir, bytes.NewReader(pack), packOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "pack-"+res.Hash.String()+".idx"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
		t.Fatal(err)
	}
	it, err := idx.EntriesByOffset()
	if err != nil {
		t.Fatal(err)
	}
	var entries []packEntry
	for {
		e, err := it.Next()
		if err != nil {
			break
		}
		entries = append(entries, packEntry{hash: e.Hash, crc: e.CRC32, offset: e.Offset})
	}
	slices.SortFunc(entries, func(a, b packEntry) int { return bytes.Compare(a.hash[:], b.hash[:]) })
	const limit = 0x1000
	var got bytes.Buffer
	if err := writeIdx(&got, entries, res.Hash, limit); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "p.pack")
	if err := os.WriteFile(p, pack, 0o600); err != nil {
		t.Fatal(err)
	}
	gitIO(t, "", nil, "index-pack", fmt.Sprintf("--index-version=2,%d", limit), "-o", p+".idx", p)
	want, err := os.ReadFile(p + ".idx")
	if err != nil {
		t.Fatal(err)
	}
	if len(pack) <= limit || !bytes.Equal(got.Bytes(), want) {
		t.Errorf("index with 64-bit offsets past %#x differs from git's (%d bytes, git's %d; pack %d bytes)", limit, got.Len(), len(want), len(pack))
	}
}

// TestRemoveStaleTemps: what an interrupted fetch left goes, a temporary
// file of a writer still at work and the packs stay.
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for name, age := range map[string]time.Duration{
		"tmp_pack_old": 2 * time.Hour, "tmp_idx_old": 2 * time.Hour,
		"tmp_pack_new": time.Minute, "pack-1.pack": 2 * time.Hour, "pack-1.idx": 2 * time.Hour,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeStaleTemps(dir, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(packDirFiles(t, dir), " ")
	if want := "pack-1.idx pack-1.pack tmp_pack_new"; got != want {
		t.Errorf("left %q, want %q", got, want)
	}
}

// TestBaseCacheBound: the cache holds at most its bytes, evicting the least
// recently used, plus one big object on the side.
func TestBaseCacheBound(t *testing.T) {
	c := newBaseCache(10 * (100 + cacheOverhead))
	for off := range int64(20) {
		c.add(off, plumbing.BlobObject, make([]byte, 100))
		c.get(0) // used all along: kept

	}
	if c.used > c.max {
		t.Errorf("used %d of %d", c.used, c.max)
	}
	if _, _, ok := c.get(0); !ok {
		t.Errorf("a recently used object was evicted")
	}
	if _, _, ok := c.get(1); ok {
		t.Errorf("the least recently used object was kept")
	}
	c.add(100, plumbing.BlobObject, make([]byte, c.max))
	c.add(101, plumbing.BlobObject, make([]byte, c.max))
	if _, _, ok := c.get(100); ok {
		t.Errorf("two big objects kept")
	}
	if _, _, ok := c.get(101); !ok || c.used > c.max {
		t.Errorf("the last big object was not kept aside (used %d of %d)", c.used, c.max)
	}
}

// TestWritePackTwice: the same pack again (a fetch repeated after a
// crash, say) leaves the one copy and no temporaries.
func TestWritePackTwice(t *testing.T) {
	pack := gitIO(t, deltaRepo(t), nil, "pack-objects", "--all", "--revs", "--stdout", "--delta-base-offset", "-q")
	dir := t.TempDir()
	for range 2 {
		if _, err := writePack(t.Context(), dir, bytes.NewReader(pack), packOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if names := packDirFiles(t, dir); len(names) != 2 {
		t.Errorf("pack dir holds %v, want the pack and its index", names)
	}
}
