package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// fetchLocked brings the named refs into the mirror under the same names,
// forced, so a force-pushed branch is followed. A name ending in "*"
// matches every remote ref with that prefix (and none is fine).
//
// It speaks upload-pack itself rather than use go-git's Fetch, which reads
// the mirror's object store (decoding every pack index into memory, about
// 28 bytes an object) just to decide what to ask for. Here the wants and
// haves come from refs alone, the server is asked for a self-contained
// pack (no thin-pack), and the pack is written and indexed on its own. The
// commits it brought are remembered, so the watcher's force-push check
// usually needs no object store either (see DescendsFrom).
func (m *Mirror) fetchLocked(ctx context.Context, names []plumbing.ReferenceName) error {
	auth, secret, err := m.auth()
	if err != nil {
		return m.remoteErr("fetch", err, secret)
	}
	c, err := m.transportFor()
	if err != nil {
		return m.remoteErr("fetch", fmt.Errorf("%w: %w", err, ErrPermanent), secret)
	}
	sess, err := c.NewUploadPackSession(m.ep, auth)
	if err != nil {
		return m.remoteErr("fetch", err, secret)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		ar, err = packp.NewAdvRefs(), nil
	}
	if err != nil {
		return m.remoteErr("fetch", badAdvertisement(err), secret)
	}

	updates := map[plumbing.ReferenceName]plumbing.Hash{}
	for _, n := range names {
		if prefix, ok := strings.CutSuffix(n.String(), "*"); ok {
			for name, h := range ar.References {
				if !strings.HasPrefix(name, prefix) {
					continue
				}
				if err := checkRefName(plumbing.ReferenceName(name)); err != nil {
					m.ignoreRef(name, err)
					continue
				}
				updates[plumbing.ReferenceName(name)] = h
			}
			continue
		}
		if err := checkRefName(n); err != nil {
			return err
		}
		h, ok := ar.References[n.String()]
		if !ok {
			return m.remoteErr("fetch", fmt.Errorf("%s: %w", n, ErrRefGone), secret)
		}
		updates[n] = h
	}

	local := map[plumbing.Hash]bool{}
	it, err := m.st.IterReferences()
	if err != nil {
		return err
	}
	err = it.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference {
			local[r.Hash()] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	var wants, haves []plumbing.Hash
	seen := map[plumbing.Hash]bool{}
	for _, h := range updates {
		if !local[h] && !seen[h] {
			seen[h] = true
			wants = append(wants, h)
		}
	}
	for h := range local {
		haves = append(haves, h)
	}
	sortHashes(wants)
	sortHashes(haves)

	m.recent = nil
	if len(wants) > 0 {
		if err := m.fetchPackLocked(ctx, sess, ar, wants, haves); err != nil {
			return m.remoteErr("fetch", err, secret)
		}
	}
	for name, h := range updates {
		if err := m.st.SetReference(plumbing.NewHashReference(name, h)); err != nil {
			return fmt.Errorf("update local %s: %w", name, err)
		}
	}
	return nil
}

func (m *Mirror) fetchPackLocked(ctx context.Context, sess transport.UploadPackSession, ar *packp.AdvRefs, wants, haves []plumbing.Hash) error {
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	// A thin pack's deltas may refer to objects outside it, and resolving
	// them means reading the object store; ask for a whole pack instead.
	req.Capabilities.Delete(capability.ThinPack)
	req.Wants, req.Haves = wants, haves
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Close()
	var r io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		r = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		r = sideband.NewDemuxer(sideband.Sideband, resp)
	}

	// The pack goes to disk as it arrives and is indexed in bounded
	// memory (packindex.go), for small fetches as for the first: one path,
	// and go-git's in-memory indexer would cost about 1 KiB per object.
	dir := filepath.Join(m.opts.Dir, "objects", "pack")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := removeStaleTemps(dir, time.Now().Add(-time.Hour)); err != nil {
		m.log.Warn("cannot remove what an interrupted fetch left in the mirror", "err", err)
	}
	opts := packOptions{}
	if len(haves) > 0 {
		// A poll's pack holds a few commits; the first mirror's holds the
		// whole history, which the force-push check would never use.
		opts.CommitsUpTo = maxRecentObjects
	}
	pack, err := writePack(ctx, dir, r, opts)
	if err != nil {
		return err
	}
	if pack.Hash.IsZero() {
		return nil // the server had nothing to send
	}
	if pack.Objects == 0 {
		// A valid pack of nothing: no use to keep.
		return errors.Join(os.Remove(filepath.Join(dir, "pack-"+pack.Hash.String()+".pack")),
			os.Remove(filepath.Join(dir, "pack-"+pack.Hash.String()+".idx")))
	}
	// The storage caches its list of packs; reopen it to see the new one.
	if err := m.open(); err != nil {
		return err
	}
	if len(haves) == 0 && pack.Objects >= m.baseMin {
		// Asked for with nothing in hand, the pack holds everything its
		// objects refer to: compaction's walk can stop at it.
		packs, err := m.st.ObjectPacks()
		if err != nil {
			return err
		}
		if m.basePackLocked(packs).IsZero() {
			if err := m.setBasePackLocked(pack.Hash); err != nil {
				return err
			}
		}
	}
	m.recent = pack.Commits
	return nil
}

// DescendsFrom reports whether next is prev or descends from it: the
// watcher's force-push check. It answers from the commits the last fetch
// brought when their parents lead to prev (a normal push) or end without
// leaving them (a new root), and reads the object store only otherwise.
func (m *Mirror) DescendsFrom(prev, next plumbing.Hash) (bool, error) {
	defer m.lock()()
	if prev == next {
		return true, nil
	}
	if m.recent != nil {
		queue, seen, outside := []plumbing.Hash{next}, map[plumbing.Hash]bool{next: true}, false
		for len(queue) > 0 {
			h := queue[0]
			queue = queue[1:]
			if h == prev {
				return true, nil
			}
			parents, ok := m.recent[h]
			if !ok {
				outside = true
				continue
			}
			for _, p := range parents {
				if !seen[p] {
					seen[p] = true
					queue = append(queue, p)
				}
			}
		}
		if !outside {
			return false, nil
		}
	}
	return m.isAncestorLocked(prev, next)
}

// maxRecentObjects bounds the packs whose commits DescendsFrom remembers.
const maxRecentObjects = 20000

func sortHashes(hs []plumbing.Hash) {
	sort.Slice(hs, func(i, j int) bool { return hs[i].String() < hs[j].String() })
}
