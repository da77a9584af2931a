package watch

import (
	"bufio"
	"crypto/sha1"
	"encoding/binary"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
)

// packEntry is what the index keeps of one object: 32 bytes.
type packEntry struct {
	hash   plumbing.Hash
	crc    uint32
	offset uint64
}

// writeIdxV2 writes a pack index, version 2 (gitformat-pack(5)), for
// entries sorted by hash. It streams from the sorted entries: go-git's
// idxfile.Writer would first copy them into a map and a MemoryIndex, two
// more copies of every object's bookkeeping at the moment memory peaks.
func writeIdxV2(w io.Writer, entries []packEntry, packSum plumbing.Hash) error {
	return writeIdx(w, entries, packSum, 0x7fffffff)
}

// writeIdx is writeIdxV2 with the offset from which the 64-bit table is
// used, git index-pack's --index-version=2,<offset> (tests lower it).
func writeIdx(w io.Writer, entries []packEntry, packSum plumbing.Hash, off32Limit uint64) error {
	sum := sha1.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 64<<10)
	var b [8]byte
	put32 := func(v uint32) {
		binary.BigEndian.PutUint32(b[:4], v)
		bw.Write(b[:4]) // errors surface at Flush
	}
	bw.Write([]byte{0xff, 't', 'O', 'c'})
	put32(2)
	// Fanout: entry i is the number of objects whose first byte is <= i.
	var fan [256]uint32
	for _, e := range entries {
		fan[e.hash[0]]++
	}
	var total uint32
	for i := range fan {
		total += fan[i]
		put32(total)
	}
	for _, e := range entries {
		bw.Write(e.hash[:])
	}
	for _, e := range entries {
		put32(e.crc)
	}
	// Offsets past the limit (2^31-1) go to a table of 64-bit offsets;
	// the 32-bit slot then holds that table's index with the top bit set.
	var large uint32
	for _, e := range entries {
		if e.offset > off32Limit {
			put32(0x80000000 | large)
			large++
		} else {
			put32(uint32(e.offset))
		}
	}
	for _, e := range entries {
		if e.offset > off32Limit {
			binary.BigEndian.PutUint64(b[:], e.offset)
			bw.Write(b[:])
		}
	}
	bw.Write(packSum[:])
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(sum.Sum(nil))
	return err
}
