package watch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	githash "github.com/go-git/go-git/v5/plumbing/hash"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Writing a fetched pack and its index in bounded memory.
//
// go-git's own path (dotgit's PackWriter → packfile.Parser →
// idxfile.Writer) keeps about 1 KiB per object while it indexes: 440 MiB
// for the 400k objects of a 100k-commit history, where git index-pack
// needs 69 MiB. writePack keeps 32 bytes per object (name, CRC32, offset)
// plus a byte-bounded cache of inflated objects, and works as git
// index-pack does: the pack goes to disk as it arrives, each object is
// hashed as it is read, and a delta is resolved by reading its base back
// from the file (from the cache, nearly always).
//
// git index-pack resolves deltas from each base to its deltas, so every
// object is inflated once whatever the pack's order. This resolves them in
// pack order instead, which needs no table of who is whose base: git
// writes a delta's base before it and, as chains go from newer versions to
// older, usually shortly before it. A base evicted from the cache is
// rebuilt from its chain; on the benchmark repository that never happens
// (an 8 MiB cache, 400k objects: 0 reads back from the file).

// packOptions tune writePack.
type packOptions struct {
	// CacheBytes bounds the cache of inflated delta bases (plus one
	// object bigger than a quarter of it). Default 8 MiB.
	CacheBytes int
	// CommitsUpTo: when the pack has at most this many objects, return
	// its commits' parents (for the force-push check). 0: never.
	CommitsUpTo int
}

// packResult is what writePack wrote.
type packResult struct {
	Hash    plumbing.Hash // the pack's checksum, its name; zero for an empty stream
	Objects int
	// Commits maps each commit in the pack to its parents, when asked for
	// (packOptions.CommitsUpTo).
	Commits map[plumbing.Hash][]plumbing.Hash
}

// maxDeltaDepth stops a cycle of REF_DELTAs (or absurd chains); git's own
// packs stop at 50 by default, 4095 at most.
const maxDeltaDepth = 10000

// errBaseUnknown: a REF_DELTA's base is not (yet) known by name.
var errBaseUnknown = errors.New("delta base not known")

// writePack reads a pack from r into dir (a repository's objects/pack) as
// pack-<checksum>.pack with its version 2 index pack-<checksum>.idx,
// byte for byte what git index-pack writes. Every REF_DELTA base must be
// in the pack (no thin packs). An empty stream writes nothing. On error
// nothing is left in dir.
func writePack(ctx context.Context, dir string, r io.Reader, opts packOptions) (packResult, error) {
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 8 << 20
	}
	f, err := os.CreateTemp(dir, tmpPackPrefix)
	if err != nil {
		return packResult{}, err
	}
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	ix := &indexer{
		file:   f,
		fileW:  bufio.NewWriterSize(f, 64<<10),
		rnd:    newPackStream(nil, 4<<10, nil),
		cache:  newBaseCache(opts.CacheBytes),
		hasher: githash.New(githash.CryptoType),
	}
	// What arrives is written to the file as the stream reads it, so an
	// object's base, which comes before it, is always on disk.
	ix.seq = newPackStream(io.TeeReader(r, ix.fileW), 64<<10, sha1.New())
	if empty, err := ix.seq.atEOF(); err != nil || empty {
		return packResult{}, err
	}
	if err := ix.run(ctx, opts); err != nil {
		return packResult{}, fmt.Errorf("index pack: %w", err)
	}
	res := packResult{Hash: ix.packSum, Objects: len(ix.entries), Commits: ix.commits}

	if err := ix.fileW.Flush(); err != nil {
		return packResult{}, err
	}
	if err := f.Sync(); err != nil {
		return packResult{}, err
	}
	idx, err := os.CreateTemp(dir, tmpIdxPrefix)
	if err != nil {
		return packResult{}, err
	}
	defer func() {
		if idx != nil {
			idx.Close()
			os.Remove(idx.Name())
		}
	}()
	slices.SortFunc(ix.entries, func(a, b packEntry) int { return bytes.Compare(a.hash[:], b.hash[:]) })
	if err := writeIdxV2(idx, ix.entries, ix.packSum); err != nil {
		return packResult{}, err
	}
	if err := idx.Sync(); err != nil {
		return packResult{}, err
	}
	base := filepath.Join(dir, "pack-"+ix.packSum.String())
	if _, err := os.Stat(base + ".pack"); err == nil {
		return res, nil // the same pack, fetched before: the temporaries go
	}
	// The index first: go-git lists packs by their .pack file and cannot
	// open one without its index, while an index alone is ignored.
	if err := install(&idx, base+".idx"); err != nil {
		return packResult{}, err
	}
	if err := install(&f, base+".pack"); err != nil {
		os.Remove(base + ".idx")
		return packResult{}, err
	}
	return res, syncDir(dir)
}

// install makes the temporary file *f read-only, as git does, closes it
// and renames it to name; *f is nil once it is no longer a temporary.
func install(f **os.File, name string) error {
	if err := (*f).Chmod(0o444); err != nil {
		return err
	}
	if err := (*f).Close(); err != nil {
		return err
	}
	if err := os.Rename((*f).Name(), name); err != nil {
		return err
	}
	*f = nil
	return nil
}

// Temporary names of packs and indexes being written, as git names them.
const (
	tmpPackPrefix = "tmp_pack_"
	tmpIdxPrefix  = "tmp_idx_"
)

// removeStaleTemps deletes what writePack calls killed mid-way left in dir
// (an error removes its own files): temporary files older than cutoff, so
// that a writer still at work, git's or ours, keeps its own.
func removeStaleTemps(dir string, cutoff time.Time) error {
	es, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range es {
		if !strings.HasPrefix(e.Name(), tmpPackPrefix) && !strings.HasPrefix(e.Name(), tmpIdxPrefix) {
			continue
		}
		if fi, err := e.Info(); err != nil || fi.ModTime().After(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// indexer holds one writePack's state.
type indexer struct {
	file   *os.File
	fileW  *bufio.Writer // the file as it is received
	seq    *packStream   // the pack as it arrives
	rnd    *packStream   // reads back from the file
	seqZ   inflater
	rndZ   inflater
	cache  *baseCache
	hasher githash.Hash
	delta  bytes.Buffer // the delta being applied in the sequential pass

	entries []packEntry // in pack order until the end
	pending []int       // entries whose base was not known when read
	packSum plumbing.Hash
	commits map[plumbing.Hash][]plumbing.Hash
	// byName finds a REF_DELTA's base once the pass is over (nil before).
	byName func(plumbing.Hash) (int64, bool)
}

func (ix *indexer) run(ctx context.Context, opts packOptions) error {
	count, err := readPackHeader(ix.seq)
	if err != nil {
		return err
	}
	if opts.CommitsUpTo > 0 && int64(count) <= int64(opts.CommitsUpTo) {
		ix.commits = map[plumbing.Hash][]plumbing.Hash{}
	}
	// The count is the sender's word: preallocate for it only up to a
	// bound, and let a pack that really is bigger grow the slice.
	ix.entries = make([]packEntry, 0, min(count, 1<<22))
	for i := range count {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		off := ix.seq.off
		e, err := ix.next()
		if err != nil {
			return fmt.Errorf("object %d of %d at offset %d: %w", i+1, count, off, err)
		}
		ix.entries = append(ix.entries, e)
	}
	ix.packSum = ix.seq.sumPack()
	var trailer plumbing.Hash
	if err := ix.seq.readFull(trailer[:]); err != nil {
		return err
	}
	if trailer != ix.packSum {
		return corrupt("pack checksum %s, content hashes to %s", trailer, ix.packSum)
	}
	if _, err := ix.seq.ReadByte(); err != io.EOF {
		if err != nil {
			return err
		}
		return corrupt("data after the pack's checksum")
	}
	if err := ix.fileW.Flush(); err != nil {
		return err
	}
	return ix.resolvePending(ctx)
}

// next reads one object of the sequential pass.
func (ix *indexer) next() (packEntry, error) {
	s := ix.seq
	e := packEntry{offset: uint64(s.off)}
	s.startCRC()
	h, err := readObjHeader(s)
	if err != nil {
		return e, err
	}
	switch h.typ {
	case plumbing.OFSDeltaObject:
		i, found := slices.BinarySearchFunc(ix.entries, uint64(h.baseOff), func(e packEntry, off uint64) int {
			return cmpUint64(e.offset, off)
		})
		if !found {
			return e, corrupt("delta at offset %d: no object at its base offset %d", e.offset, h.baseOff)
		}
		if ix.entries[i].hash.IsZero() {
			// Its base waits for a REF_DELTA's base: so does it.
			if err := ix.seqZ.inflate(s, h.size, io.Discard); err != nil {
				return e, err
			}
			ix.pending = append(ix.pending, len(ix.entries))
			break
		}
		ix.delta.Reset()
		if err := ix.seqZ.inflate(s, h.size, &ix.delta); err != nil {
			return e, err
		}
		typ, base, err := ix.objectAt(h.baseOff, 1)
		if err != nil {
			return e, err
		}
		data, err := packfile.PatchDelta(base, ix.delta.Bytes())
		if err != nil {
			return e, corrupt("delta at offset %d: %v", e.offset, err)
		}
		e.hash = ix.objectName(typ, data)
		ix.cache.add(int64(e.offset), typ, data)
		ix.noteCommit(e.hash, typ, data)
	case plumbing.REFDeltaObject:
		// Its base is found by name once every object has one.
		if err := ix.seqZ.inflate(s, h.size, io.Discard); err != nil {
			return e, err
		}
		ix.pending = append(ix.pending, len(ix.entries))
	default:
		if h.size > ix.cache.bigObject() {
			// Too big to keep: hash it as it inflates.
			ix.hasher.Reset()
			writeObjectHeader(ix.hasher, h.typ, h.size)
			if err := ix.seqZ.inflate(s, h.size, ix.hasher); err != nil {
				return e, err
			}
			copy(e.hash[:], ix.hasher.Sum(nil))
			break
		}
		data, err := ix.seqZ.inflateBytes(s, h.size)
		if err != nil {
			return e, err
		}
		e.hash = ix.objectName(h.typ, data)
		ix.cache.add(int64(e.offset), h.typ, data)
		ix.noteCommit(e.hash, h.typ, data)
	}
	e.crc = s.sumCRC()
	return e, nil
}

// objectAt inflates the object at off, resolving deltas by reading their
// bases from the file, through the cache.
func (ix *indexer) objectAt(off int64, depth int) (plumbing.ObjectType, []byte, error) {
	if typ, data, ok := ix.cache.get(off); ok {
		return typ, data, nil
	}
	if depth > maxDeltaDepth {
		return 0, nil, corrupt("delta chain longer than %d at offset %d (a cycle?)", maxDeltaDepth, off)
	}
	if err := ix.fileW.Flush(); err != nil {
		return 0, nil, err
	}
	s := ix.rnd
	s.reset(io.NewSectionReader(ix.file, off, 1<<62), off)
	h, err := readObjHeader(s)
	if err != nil {
		return 0, nil, err
	}
	data, err := ix.rndZ.inflateBytes(s, h.size)
	if err != nil {
		return 0, nil, err
	}
	typ := h.typ
	if typ == plumbing.OFSDeltaObject || typ == plumbing.REFDeltaObject {
		baseOff := h.baseOff
		if typ == plumbing.REFDeltaObject {
			var ok bool
			if ix.byName != nil {
				baseOff, ok = ix.byName(h.baseHash)
			}
			if !ok {
				return 0, nil, fmt.Errorf("%w: %s", errBaseUnknown, h.baseHash)
			}
		}
		var base []byte
		typ, base, err = ix.objectAt(baseOff, depth+1)
		if err != nil {
			return 0, nil, err
		}
		if data, err = packfile.PatchDelta(base, data); err != nil {
			return 0, nil, corrupt("delta at offset %d: %v", off, err)
		}
	}
	ix.cache.add(off, typ, data)
	return typ, data, nil
}

// resolvePending names the deltas whose base was not known in the pass:
// REF_DELTAs, and deltas of them. Bases are found by name among the
// objects named so far, in rounds, since a REF_DELTA's base may be a
// delta waiting itself.
func (ix *indexer) resolvePending(ctx context.Context) error {
	for len(ix.pending) > 0 {
		// byHash: the named entries, by name; fresh: those named in this
		// round, bounded so a pack of REF_DELTAs only is not a big map.
		var byHash []int32
		for i := range ix.entries {
			if !ix.entries[i].hash.IsZero() {
				byHash = append(byHash, int32(i))
			}
		}
		slices.SortFunc(byHash, func(a, b int32) int {
			return bytes.Compare(ix.entries[a].hash[:], ix.entries[b].hash[:])
		})
		fresh := map[plumbing.Hash]int64{}
		ix.byName = func(h plumbing.Hash) (int64, bool) {
			i, ok := slices.BinarySearchFunc(byHash, h, func(i int32, h plumbing.Hash) int {
				return bytes.Compare(ix.entries[i].hash[:], h[:])
			})
			if ok {
				return int64(ix.entries[byHash[i]].offset), true
			}
			off, ok := fresh[h]
			return off, ok
		}
		var still []int
		for n, i := range ix.pending {
			if n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if len(fresh) >= 1<<16 {
				still = append(still, ix.pending[n:]...)
				break
			}
			e := &ix.entries[i]
			typ, data, err := ix.objectAt(int64(e.offset), 0)
			if errors.Is(err, errBaseUnknown) {
				still = append(still, i)
				continue
			}
			if err != nil {
				return err
			}
			e.hash = ix.objectName(typ, data)
			fresh[e.hash] = int64(e.offset)
			ix.noteCommit(e.hash, typ, data)
		}
		if len(still) == len(ix.pending) {
			_, _, err := ix.objectAt(int64(ix.entries[still[0]].offset), 0)
			return corrupt("%d deltas have no base in the pack (a thin pack?): %v", len(still), err)
		}
		ix.pending = still
	}
	ix.byName = nil
	return nil
}

func (ix *indexer) objectName(typ plumbing.ObjectType, data []byte) plumbing.Hash {
	ix.hasher.Reset()
	writeObjectHeader(ix.hasher, typ, int64(len(data)))
	ix.hasher.Write(data)
	var h plumbing.Hash
	copy(h[:], ix.hasher.Sum(nil))
	return h
}

// writeObjectHeader writes what git hashes before an object's content:
// "<type> <size>\x00".
func writeObjectHeader(w io.Writer, typ plumbing.ObjectType, size int64) {
	var b [32]byte
	out := append(b[:0], typ.Bytes()...)
	out = append(out, ' ')
	out = strconv.AppendInt(out, size, 10)
	out = append(out, 0)
	w.Write(out)
}

func (ix *indexer) noteCommit(h plumbing.Hash, typ plumbing.ObjectType, data []byte) {
	if ix.commits == nil || typ != plumbing.CommitObject {
		return
	}
	o := &plumbing.MemoryObject{}
	o.SetType(plumbing.CommitObject)
	o.Write(data)
	var c object.Commit
	if err := c.Decode(o); err != nil {
		// The commit is left out, which only costs DescendsFrom its
		// shortcut: it reads the object store instead.
		return
	}
	ix.commits[h] = c.ParentHashes
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
