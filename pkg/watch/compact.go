package watch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// go-git writes one pack per fetch and Ferry writes notes and lock commits
// as loose objects, so a mirror polled for months would pile up files
// without bound. Compact merges the small packs and the loose objects into
// one pack beside the largest pack, which it leaves alone (as git's
// geometric repack does): rewriting a 100k-commit pack with go-git takes
// minutes and most of a gigabyte (see docs/benchmarks.md), merging the
// packs of recent fetches takes milliseconds. A full repack, which also
// drops unreachable objects, is there for an operator to ask for.

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
	// Force compacts whatever the counts.
	Force bool
	// Full rewrites everything reachable into a single pack and drops
	// unreachable loose objects past Grace. Slow and memory-hungry on big
	// repositories; not for every poll.
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
	return p
}

// Compact repacks the mirror into a single pack when it has more packs or
// loose objects than the policy allows, and reports whether it did. Reads
// and fetches wait while it runs.
func (m *Mirror) Compact(p CompactPolicy, now time.Time) (bool, error) {
	p = p.withDefaults()
	defer m.lock()()
	before, err := m.statsLocked()
	if err != nil {
		return false, err
	}
	if !p.Force && before.Packs <= p.MaxPacks && before.Loose <= p.MaxLoose {
		return false, nil
	}
	start := time.Now()
	if p.Full {
		if err := m.repo.RepackObjects(&git.RepackConfig{}); err != nil {
			return false, fmt.Errorf("repack mirror: %w", err)
		}
	} else if err := m.mergeSmallLocked(); err != nil {
		return false, fmt.Errorf("merge mirror packs: %w", err)
	}
	// go-git's storage caches pack indexes; reopen it to see the new pack
	// alone.
	if err := m.open(); err != nil {
		return true, err
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

// mergeSmallLocked writes every object of the packs but the largest, and
// every loose object, into one new pack, then deletes the packs it merged.
// Loose objects are removed afterwards by dropLooseLocked.
func (m *Mirror) mergeSmallLocked() error {
	packs, err := m.st.ObjectPacks()
	if err != nil {
		return err
	}
	largest, size := plumbing.ZeroHash, int64(-1)
	for _, h := range packs {
		fi, err := os.Stat(m.packPath(h, ".pack"))
		if err != nil {
			return err
		}
		if fi.Size() > size {
			largest, size = h, fi.Size()
		}
	}
	seen := map[plumbing.Hash]bool{}
	var hashes []plumbing.Hash
	addHash := func(h plumbing.Hash) {
		if !seen[h] {
			seen[h] = true
			hashes = append(hashes, h)
		}
	}
	var merged []plumbing.Hash
	for _, h := range packs {
		if h == largest {
			continue
		}
		idx, err := m.readIdx(h)
		if err != nil {
			return err
		}
		it, err := idx.Entries()
		if err != nil {
			return err
		}
		for {
			e, err := it.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			addHash(e.Hash)
		}
		it.Close()
		merged = append(merged, h)
	}
	if err := m.st.ForEachObjectHash(func(h plumbing.Hash) error { addHash(h); return nil }); err != nil {
		return err
	}
	if len(hashes) == 0 || (len(merged) <= 1 && len(hashes) == 0) {
		return nil
	}
	w, err := m.st.PackfileWriter()
	if err != nil {
		return err
	}
	newPack, err := packfile.NewEncoder(w, m.st, false).Encode(hashes, 10)
	if err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	for _, h := range merged {
		if h == newPack {
			continue
		}
		if err := m.st.DeleteOldObjectPackAndIndex(h, time.Time{}); err != nil {
			return err
		}
	}
	return nil
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
