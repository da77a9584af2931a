package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/renameio/v2"
)

// go-git writes one pack per fetch and Ferry writes notes and lock commits
// as loose objects, so a mirror polled for months would pile up files
// without bound. Compact merges the small packs and the loose objects into
// one pack beside the base pack, which it leaves alone (as git's geometric
// repack does): rewriting a 100k-commit pack with go-git takes minutes and
// most of a gigabyte (see docs/benchmarks.md), merging the packs of recent
// fetches takes milliseconds.
//
// Only what a ref reaches is merged: lock commits of leases long released,
// notes that lost a race and were written again, and commits of branches
// that were force-pushed away are dropped (loose ones once they are older
// than the grace period). Deciding that needs a walk from every ref. On a
// big repository the walk stops at the base pack: the pack of the mirror's
// first fetch, asked for with nothing in hand, holds everything its own
// objects refer to, so nothing beyond it needs looking at. The mirror names
// it in baseFile. A small mirror has no base: walking all of it costs
// milliseconds, and everything in it stays collectable. A big mirror
// without one (made by an older Ferry, or by git clone --mirror) is walked
// whole once, and the pack that walk writes becomes its base. What the base
// holds stays until a full repack (a lease held at the first fetch, say:
// a few hundred bytes).

// baseFile, in the mirror's directory, names the base pack.
const baseFile = "ferry-base-pack"

// baseMinObjects is the size from which a pack becomes the base.
const baseMinObjects = 10000

// MirrorStats describes the mirror's storage.
type MirrorStats struct {
	Packs int
	Loose int
	Bytes int64 // objects directory, on disk
}

// Stats counts packs and loose objects.
func (m *Mirror) Stats() (MirrorStats, error) {
	defer m.lock()()
	return m.statsLocked()
}

func (m *Mirror) statsLocked() (MirrorStats, error) {
	var st MirrorStats
	packs, err := m.st.ObjectPacks()
	if err != nil {
		return st, err
	}
	st.Packs = len(packs)
	err = m.st.ForEachObjectHash(func(plumbing.Hash) error { st.Loose++; return nil })
	if err != nil {
		return st, err
	}
	err = filepath.Walk(filepath.Join(m.opts.Dir, "objects"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			st.Bytes += fi.Size()
		}
		return err
	})
	return st, err
}

// CompactPolicy says when Compact has work to do.
type CompactPolicy struct {
	MaxPacks int // default 16
	MaxLoose int // default 1000
	// Grace keeps unreachable loose objects younger than this: a notes or
	// lock writer may have written them and not pushed yet. Default 1h.
	Grace time.Duration
	// Every is how often the watcher compacts whether or not it fetched
	// (with Tidy), so that a mirror that only ever sees Ferry's own writes
	// (notes, lock commits) is kept tidy too. Default 1h.
	Every time.Duration
	// Tidy makes any loose object, or any pack beyond the base and one
	// merged pack, work to do.
	Tidy bool
	// Force compacts whatever the counts.
	Force bool
	// Full rewrites everything reachable into a single pack, the new base,
	// and drops unreachable loose objects past Grace. Slow and
	// memory-hungry on big repositories; not for every poll.
	Full bool
}

func (p CompactPolicy) withDefaults() CompactPolicy {
	if p.MaxPacks <= 0 {
		p.MaxPacks = 16
	}
	if p.MaxLoose <= 0 {
		p.MaxLoose = 1000
	}
	if p.Grace <= 0 {
		p.Grace = time.Hour
	}
	if p.Every <= 0 {
		p.Every = time.Hour
	}
	return p
}

// Compact repacks the mirror when it has more packs or loose objects than
// the policy allows, and reports whether it did. Reads and fetches wait
// while it runs.
func (m *Mirror) Compact(p CompactPolicy, now time.Time) (bool, error) {
	p = p.withDefaults()
	defer m.lock()()
	before, err := m.statsLocked()
	if err != nil {
		return false, err
	}
	maxPacks, maxLoose := p.MaxPacks, p.MaxLoose
	if p.Tidy {
		maxPacks, maxLoose = 2, 0
	}
	if !p.Force && before.Packs <= maxPacks && before.Loose <= maxLoose {
		return false, nil
	}
	start := time.Now()
	if p.Full {
		if err := m.repo.RepackObjects(&git.RepackConfig{}); err != nil {
			return false, fmt.Errorf("repack mirror: %w", err)
		}
	} else if err := m.mergeLocked(); err != nil {
		return false, fmt.Errorf("merge mirror packs: %w", err)
	}
	// go-git's storage caches pack indexes; reopen it to see the new pack
	// alone.
	if err := m.open(); err != nil {
		return true, err
	}
	if p.Full {
		// The repack wrote everything reachable into one pack: the base.
		packs, err := m.st.ObjectPacks()
		if err != nil {
			return true, err
		}
		if len(packs) == 1 {
			if err := m.setBasePackLocked(packs[0]); err != nil {
				return true, err
			}
		}
	}
	if err := m.dropLooseLocked(now.Add(-p.Grace)); err != nil {
		return true, err
	}
	after, err := m.statsLocked()
	if err != nil {
		return true, err
	}
	m.log.Info("compacted mirror", "packs_before", before.Packs, "loose_before", before.Loose, "bytes_before", before.Bytes,
		"packs_after", after.Packs, "loose_after", after.Loose, "bytes_after", after.Bytes, "took", time.Since(start))
	return true, nil
}

// basePackLocked is the mirror's base pack, or zero when it has none.
func (m *Mirror) basePackLocked(packs []plumbing.Hash) plumbing.Hash {
	b, err := os.ReadFile(filepath.Join(m.opts.Dir, baseFile))
	if err != nil {
		return plumbing.ZeroHash
	}
	h := plumbing.NewHash(strings.TrimSpace(string(b)))
	if !slices.Contains(packs, h) {
		return plumbing.ZeroHash // an operator repacked by hand
	}
	return h
}

func (m *Mirror) setBasePackLocked(h plumbing.Hash) error {
	return renameio.WriteFile(filepath.Join(m.opts.Dir, baseFile), []byte(h.String()+"\n"), 0o600)
}

// mergeLocked writes every object outside the base pack that a ref
// reaches into one new pack, then deletes the packs it merged. Loose
// objects are removed afterwards by dropLooseLocked.
func (m *Mirror) mergeLocked() error {
	packs, err := m.st.ObjectPacks()
	if err != nil {
		return err
	}
	base := m.basePackLocked(packs)
	var baseIdx *idxfile.MemoryIndex
	if !base.IsZero() {
		if baseIdx, err = m.readIdx(base); err != nil {
			return err
		}
	}
	keep, err := m.reachableLocked(baseIdx)
	if err != nil {
		return err
	}
	var merged []plumbing.Hash
	for _, h := range packs {
		if h != base {
			merged = append(merged, h)
		}
	}
	if len(keep) == 0 && len(merged) == 0 {
		return nil
	}
	newPack := plumbing.ZeroHash
	if len(keep) > 0 {
		w, err := m.st.PackfileWriter()
		if err != nil {
			return err
		}
		newPack, err = packfile.NewEncoder(w, m.st, false).Encode(keep, 10)
		if err != nil {
			w.Close()
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	for _, h := range merged {
		if h == newPack {
			continue
		}
		if err := m.st.DeleteOldObjectPackAndIndex(h, time.Time{}); err != nil {
			return err
		}
	}
	if base.IsZero() && len(keep) >= m.baseMin {
		// The walk went all the way: the new pack holds everything
		// reachable, and is the base from now on.
		return m.setBasePackLocked(newPack)
	}
	return nil
}

// reachableLocked lists the objects that the mirror's refs reach, except
// those in the base pack (nil: none), whose own references stay inside it.
func (m *Mirror) reachableLocked(base *idxfile.MemoryIndex) ([]plumbing.Hash, error) {
	var stack []plumbing.Hash
	it, err := m.st.IterReferences()
	if err != nil {
		return nil, err
	}
	err = it.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference {
			stack = append(stack, r.Hash())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	seen := map[plumbing.Hash]bool{}
	var out []plumbing.Hash
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[h] {
			continue
		}
		seen[h] = true
		if base != nil {
			if in, _ := base.Contains(h); in {
				continue
			}
		}
		o, err := m.st.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			// A ref to an object the mirror lacks: compacting now could
			// only make it worse.
			return nil, fmt.Errorf("reachable object %s: %w", h, err)
		}
		out = append(out, h)
		switch o.Type() {
		case plumbing.CommitObject:
			var c object.Commit
			if err := c.Decode(o); err != nil {
				return nil, fmt.Errorf("commit %s: %w", h, err)
			}
			stack = append(stack, c.TreeHash)
			stack = append(stack, c.ParentHashes...)
		case plumbing.TreeObject:
			var t object.Tree
			if err := t.Decode(o); err != nil {
				return nil, fmt.Errorf("tree %s: %w", h, err)
			}
			for _, e := range t.Entries {
				if e.Mode != filemode.Submodule { // a commit of another repository
					stack = append(stack, e.Hash)
				}
			}
		case plumbing.TagObject:
			var t object.Tag
			if err := t.Decode(o); err != nil {
				return nil, fmt.Errorf("tag %s: %w", h, err)
			}
			stack = append(stack, t.Target)
		}
	}
	sortHashes(out)
	return out, nil
}

func (m *Mirror) packPath(h plumbing.Hash, ext string) string {
	return filepath.Join(m.opts.Dir, "objects", "pack", "pack-"+h.String()+ext)
}

// dropLooseLocked deletes loose objects that are now in a pack, and
// unreachable ones older than cutoff.
func (m *Mirror) dropLooseLocked(cutoff time.Time) error {
	packs, err := m.st.ObjectPacks()
	if err != nil {
		return err
	}
	var idxs []*idxfile.MemoryIndex
	for _, h := range packs {
		idx, err := m.readIdx(h)
		if err != nil {
			return err
		}
		idxs = append(idxs, idx)
	}
	var loose []plumbing.Hash
	if err := m.st.ForEachObjectHash(func(h plumbing.Hash) error { loose = append(loose, h); return nil }); err != nil {
		return err
	}
	for _, h := range loose {
		packed := false
		for _, idx := range idxs {
			if ok, _ := idx.Contains(h); ok {
				packed = true
				break
			}
		}
		if !packed {
			// Not in the pack means unreachable at repack time.
			t, err := m.st.LooseObjectTime(h)
			if err != nil || t.After(cutoff) {
				continue
			}
		}
		if err := m.st.DeleteLooseObject(h); err != nil {
			return fmt.Errorf("delete loose object %s: %w", h, err)
		}
	}
	return nil
}

func (m *Mirror) readIdx(pack plumbing.Hash) (*idxfile.MemoryIndex, error) {
	f, err := os.Open(m.packPath(pack, ".idx"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
		return nil, fmt.Errorf("read pack index %s: %w", pack, err)
	}
	return idx, nil
}
