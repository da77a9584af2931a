package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/gofrs/flock"
)

// MirrorOptions configure a Mirror.
type MirrorOptions struct {
	// Dir is where the bare mirror lives, e.g. <state dir>/mirror. It is
	// created on first use and kept across restarts.
	Dir string
	// URL is the remote repository (ssh://, scp-like, https://, http://,
	// git://). It must not embed a password; use Auth.
	URL  string
	Auth Auth
	// CacheBytes bounds the decoded-object cache. Default 64 MiB.
	CacheBytes int64
	// Rand returns jitter draws in [0,1); default math/rand/v2.
	Rand   func() float64
	Logger *slog.Logger
}

// Mirror is a persistent bare copy of the remote repository on disk, kept up
// to date ref by ref. It is safe for concurrent use: every operation that
// touches the repository holds one lock, because go-git's filesystem
// storage fills its caches on reads as well as writes and is not safe for
// concurrent use itself. Listing the remote's refs takes no lock.
type Mirror struct {
	opts     MirrorOptions
	ep       *transport.Endpoint
	log      *slog.Logger
	listings *listings
	baseMin  int                 // objects from which a pack becomes the base (see compact.go)
	http     transport.Transport // for http(s) remotes (advert.go)
	badRefs  badRefs

	mu   sync.Mutex // guards repo and st (compaction replaces them) and their caches
	repo *git.Repository
	st   *filesystem.Storage
	// recent maps the commits the last fetch brought to their parents.
	recent map[plumbing.Hash][]plumbing.Hash
	// stamp is packStamp when this process last released the lock.
	stamp time.Time
}

// RemoteRef is one ref the remote advertises.
type RemoteRef struct {
	Name plumbing.ReferenceName
	Hash plumbing.Hash // what the ref points at (a tag object for annotated tags)
	// Commit is Hash peeled to the object a tag points at; equal to Hash
	// for branches and lightweight tags.
	Commit plumbing.Hash
}

// OpenMirror opens the mirror in opts.Dir, creating an empty one if needed.
// It does not contact the remote.
func OpenMirror(opts MirrorOptions) (*Mirror, error) {
	ep, err := endpoint(opts.URL)
	if err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, fmt.Errorf("mirror dir is empty: %w", ErrPermanent)
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = int64(64 * cache.MiByte)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	m := &Mirror{opts: opts, ep: ep, log: opts.Logger.With("remote", RedactURL(opts.URL)), listings: newListings(), baseMin: baseMinObjects}
	m.http = newHTTPTransport(func(name, why string) { m.ignoreRef(name, fmt.Errorf("ref name %q: %s", name, why)) })
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(opts.Dir)), 0o700); err != nil {
		return nil, fmt.Errorf("create mirror dir: %w", err)
	}
	unlock := m.lock()
	err = m.open()
	unlock()
	if err != nil {
		return nil, err
	}
	return m, nil
}

// lock serialises every use of the mirror: within this process with mu,
// and across processes with a flock beside the mirror, since the agent and
// the command line (ferry status, deploy, plan) share a state dir and
// go-git's storage is safe for neither. It returns the unlock function.
func (m *Mirror) lock() func() {
	m.mu.Lock()
	// The kernel drops a flock when its process dies: a crash never
	// leaves the mirror locked.
	fl := flock.New(filepath.Clean(m.opts.Dir) + ".lock")
	unlock := func() { _ = fl.Unlock() }
	if err := fl.Lock(); err != nil {
		m.log.Warn("cannot lock the mirror against other Ferry processes", "err", err)
		unlock = func() {}
	}
	// go-git keeps the list of packs it has opened: when another process
	// added or merged packs since we last held the lock, open afresh.
	if m.repo != nil && m.packStamp() != m.stamp {
		if err := m.open(); err != nil {
			m.log.Warn("cannot reopen the mirror after another process changed it", "err", err)
		}
	}
	return func() {
		m.stamp = m.packStamp()
		unlock()
		m.mu.Unlock()
	}
}

// packStamp identifies the mirror's set of packs: the pack directory's
// modification time changes whenever a pack is added or removed.
func (m *Mirror) packStamp() time.Time {
	fi, err := os.Stat(filepath.Join(m.opts.Dir, "objects", "pack"))
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// open (re)opens the repository; the caller holds the lock (OpenMirror
// takes it; fetch re-opens after writing a pack).
func (m *Mirror) open() error {
	if err := os.MkdirAll(m.opts.Dir, 0o700); err != nil {
		return fmt.Errorf("create mirror dir: %w", err)
	}
	// Not ExclusiveAccess: another process may add packs and move refs
	// between two of ours, and go-git must look again rather than trust a
	// cached listing.
	st := filesystem.NewStorageWithOptions(osfs.New(m.opts.Dir),
		cache.NewObjectLRU(cache.FileSize(m.opts.CacheBytes)),
		filesystem.Options{})
	var repo *git.Repository
	var err error
	if _, statErr := os.Stat(filepath.Join(m.opts.Dir, "HEAD")); statErr == nil {
		repo, err = git.Open(st, nil)
	} else {
		repo, err = git.Init(st, nil)
	}
	if err != nil {
		return fmt.Errorf("open mirror %s: %w", m.opts.Dir, err)
	}
	m.repo, m.st = repo, st
	return nil
}

// WithRepository runs fn with the mirror's go-git repository, holding the
// mirror's lock: for reading objects and writing new ones (notes, lock
// commits). fn must not call the Mirror's other methods, and must change
// refs only through them (Sync, PushCAS).
func (m *Mirror) WithRepository(fn func(*git.Repository) error) error {
	defer m.lock()()
	return fn(m.repo)
}

// URL is the remote's URL, redacted for logs.
func (m *Mirror) URL() string { return RedactURL(m.opts.URL) }

func (m *Mirror) remoteErr(op string, err error, secret string) error {
	if err == nil {
		return nil
	}
	var re *RemoteError
	if errors.As(err, &re) {
		return err
	}
	return &RemoteError{Op: op, URL: RedactURL(m.opts.URL), Permanent: permanent(err), Err: err, secret: secret}
}

func (m *Mirror) auth() (transport.AuthMethod, string, error) {
	return m.opts.Auth.method(m.ep)
}

// ListRemote lists the remote's refs without fetching anything, as
// `git ls-remote` does. Callers at the same time share one listing (that
// began after they asked); the map must not be changed. A transient failure
// is tried again after a short jittered pause before it is returned.
func (m *Mirror) ListRemote(ctx context.Context) (map[plumbing.ReferenceName]RemoteRef, error) {
	return m.listings.get(ctx, func(ctx context.Context) (map[plumbing.ReferenceName]RemoteRef, error) {
		for try := 1; ; try++ {
			refs, err := m.listRemoteOnce(ctx)
			var re *RemoteError
			if err == nil || try > listRetries || !errors.As(err, &re) || re.Permanent || ctx.Err() != nil {
				return refs, err
			}
			wait := listBackoff().Delay(try, m.opts.Rand())
			m.log.Debug("listing the remote failed; trying again", "err", err, "retry_in", wait)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(wait):
			}
		}
	})
}

func (m *Mirror) listRemoteOnce(ctx context.Context) (map[plumbing.ReferenceName]RemoteRef, error) {
	auth, secret, err := m.auth()
	if err != nil {
		return nil, m.remoteErr("list", err, secret)
	}
	c, err := m.transportFor()
	if err != nil {
		return nil, m.remoteErr("list", fmt.Errorf("%w: %w", err, ErrPermanent), secret)
	}
	sess, err := c.NewUploadPackSession(m.ep, auth)
	if err != nil {
		return nil, m.remoteErr("list", err, secret)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return map[plumbing.ReferenceName]RemoteRef{}, nil
	}
	if err != nil {
		return nil, m.remoteErr("list", badAdvertisement(err), secret)
	}
	refs := make(map[plumbing.ReferenceName]RemoteRef, len(ar.References))
	for name, h := range ar.References {
		n := plumbing.ReferenceName(name)
		if err := checkRefName(n); err != nil {
			if n != plumbing.HEAD {
				m.ignoreRef(name, err)
			}
			continue
		}
		r := RemoteRef{Name: n, Hash: h, Commit: h}
		if p, ok := ar.Peeled[name]; ok {
			r.Commit = p
		}
		refs[n] = r
	}
	return refs, nil
}

// ignoreRef logs a ref of the remote's that Ferry ignores, once per name.
func (m *Mirror) ignoreRef(name string, err error) {
	if m.badRefs.first(name) {
		m.log.Warn("the remote advertises a ref whose name git would refuse; ignored (logged once)", "err", err)
	}
}

// LocalRef is the hash a ref has in the mirror, or the zero hash.
func (m *Mirror) LocalRef(name plumbing.ReferenceName) plumbing.Hash {
	defer m.lock()()
	return m.localRefLocked(name)
}

func (m *Mirror) localRefLocked(name plumbing.ReferenceName) plumbing.Hash {
	ref, err := m.st.Reference(name)
	if err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

// Fetch brings the named refs (which the remote must have) into the mirror
// under the same names, forced, so a force-pushed branch is followed.
func (m *Mirror) Fetch(ctx context.Context, names ...plumbing.ReferenceName) error {
	if len(names) == 0 {
		return nil
	}
	defer m.lock()()
	return m.fetchLocked(ctx, names)
}

// ErrRefGone: a ref the remote listed was deleted before the fetch asked
// for it. Transient: list again.
var ErrRefGone = errors.New("ref deleted on the remote during the fetch")

// DeleteLocal removes refs from the mirror (not from the remote), for refs
// the remote no longer has.
func (m *Mirror) DeleteLocal(names ...plumbing.ReferenceName) error {
	defer m.lock()()
	for _, n := range names {
		if err := checkRefName(n); err != nil {
			return err
		}
		if err := m.st.RemoveReference(n); err != nil {
			return fmt.Errorf("delete local ref %s: %w", n, err)
		}
	}
	return nil
}

// Sync makes the mirror's ref equal to the remote's: fetched when it moved,
// deleted when the remote has none. It returns the ref's hash, zero when
// absent.
func (m *Mirror) Sync(ctx context.Context, name plumbing.ReferenceName) (plumbing.Hash, error) {
	var err error
	for range 3 { // a ref deleted between listing and fetching: list again
		var h plumbing.Hash
		h, err = m.syncOnce(ctx, name)
		if !errors.Is(err, ErrRefGone) {
			return h, err
		}
	}
	return plumbing.ZeroHash, err
}

func (m *Mirror) syncOnce(ctx context.Context, name plumbing.ReferenceName) (plumbing.Hash, error) {
	refs, err := m.ListRemote(ctx)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if err := checkRefName(name); err != nil {
		return plumbing.ZeroHash, err
	}
	defer m.lock()()
	r, ok := refs[name]
	if !ok {
		if err := m.st.RemoveReference(name); err != nil {
			return plumbing.ZeroHash, err
		}
		return plumbing.ZeroHash, nil
	}
	if m.localRefLocked(name) == r.Hash {
		return r.Hash, nil
	}
	if err := m.fetchLocked(ctx, []plumbing.ReferenceName{name}); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.Hash, nil
}

// LocalRefs lists the mirror's refs (hash refs only).
func (m *Mirror) LocalRefs() ([]plumbing.ReferenceName, error) {
	defer m.lock()()
	it, err := m.st.IterReferences()
	if err != nil {
		return nil, err
	}
	var out []plumbing.ReferenceName
	err = it.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference {
			out = append(out, r.Name())
		}
		return nil
	})
	return out, err
}
