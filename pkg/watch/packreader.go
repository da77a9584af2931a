package watch

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	stdhash "hash"
	"hash/crc32"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
)

// The pack format (gitformat-pack(5)), as far as the indexer reads it:
//
//	"PACK" | version (2 or 3) | object count     (12 bytes, big-endian)
//	objects: type+size varint header, then
//	         OFS_DELTA: base distance (a big-endian varint, +1 per byte),
//	         REF_DELTA: the base's 20-byte name,
//	         then the zlib-deflated body (the object, or the delta)
//	SHA-1 of everything above                    (20 bytes)
//
// go-git's packfile.Scanner reads this too, but it does not say where the
// pack ends (so a stream's pack could not be cut from what follows it) and
// it hashes every byte of every random read as well; this reader is the
// few lines the indexer needs.

// errCorruptPack is wrapped by every error about the pack's contents, as
// opposed to errors reading or writing files.
var errCorruptPack = errors.New("corrupt pack")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errCorruptPack, fmt.Sprintf(format, args...))
}

// packStream reads a pack sequentially, counting its offset and the CRC32
// of the bytes read since startCRC (the index stores each object's CRC32
// over its header and compressed body). It is an io.ByteReader so that
// zlib reads exactly the bytes of one body and no further.
//
// With sum set, it also hashes every byte read until sumPack: the pack's
// own checksum.
type packStream struct {
	src     io.Reader
	buf     []byte
	r, w    int   // buf[r:w] is unread
	off     int64 // offset in the pack of buf[r]
	crc     uint32
	crcFrom int // buf[crcFrom:r] is read but not yet in crc
	sum     stdhash.Hash
	sumFrom int // buf[sumFrom:r] is read but not yet in sum
}

func newPackStream(src io.Reader, size int, sum stdhash.Hash) *packStream {
	return &packStream{src: src, buf: make([]byte, size), sum: sum}
}

// reset points the stream at src, which starts at offset off of the pack.
func (s *packStream) reset(src io.Reader, off int64) {
	s.src, s.off, s.r, s.w, s.crcFrom, s.sumFrom = src, off, 0, 0, 0, 0
}

func (s *packStream) fill() error {
	s.crc = crc32.Update(s.crc, crc32.IEEETable, s.buf[s.crcFrom:s.r])
	if s.sum != nil {
		s.sum.Write(s.buf[s.sumFrom:s.r])
	}
	n, err := s.src.Read(s.buf)
	s.r, s.w, s.crcFrom, s.sumFrom = 0, n, 0, 0
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// atEOF reports whether the stream has nothing more to read.
func (s *packStream) atEOF() (bool, error) {
	if s.r < s.w {
		return false, nil
	}
	err := s.fill()
	if err == io.EOF {
		return true, nil
	}
	return false, err
}

func (s *packStream) ReadByte() (byte, error) {
	if s.r == s.w {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	b := s.buf[s.r]
	s.r++
	s.off++
	return b, nil
}

func (s *packStream) Read(p []byte) (int, error) {
	if s.r == s.w {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.r:s.w])
	s.r += n
	s.off += int64(n)
	return n, nil
}

func (s *packStream) startCRC() {
	s.crc, s.crcFrom = 0, s.r
}

func (s *packStream) sumCRC() uint32 {
	s.crc = crc32.Update(s.crc, crc32.IEEETable, s.buf[s.crcFrom:s.r])
	s.crcFrom = s.r
	return s.crc
}

// sumPack returns the checksum of everything read so far, and stops
// hashing.
func (s *packStream) sumPack() plumbing.Hash {
	s.sum.Write(s.buf[s.sumFrom:s.r])
	var h plumbing.Hash
	copy(h[:], s.sum.Sum(nil))
	s.sum = nil
	return h
}

// readFull reads len(p) bytes; running out is a truncated pack.
func (s *packStream) readFull(p []byte) error {
	if _, err := io.ReadFull(s, p); err != nil {
		return truncated(err)
	}
	return nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("truncated")
	}
	return err
}

// readPackHeader reads the 12-byte header and returns the object count.
func readPackHeader(s *packStream) (uint32, error) {
	var h [12]byte
	if err := s.readFull(h[:]); err != nil {
		return 0, err
	}
	if string(h[:4]) != "PACK" {
		return 0, corrupt("no PACK signature")
	}
	if v := be32(h[4:]); v != 2 && v != 3 {
		return 0, corrupt("unsupported version %d", v)
	}
	return be32(h[8:]), nil
}

// objHeader is one object's entry header.
type objHeader struct {
	typ  plumbing.ObjectType
	size int64 // inflated size of the object or, for a delta, of the delta
	// base is the base's offset for an OFS_DELTA, its name for a REF_DELTA.
	baseOff  int64
	baseHash plumbing.Hash
}

func readObjHeader(s *packStream) (objHeader, error) {
	start := s.off
	c, err := s.ReadByte()
	if err != nil {
		return objHeader{}, truncated(err)
	}
	h := objHeader{typ: plumbing.ObjectType((c >> 4) & 7), size: int64(c & 0x0f)}
	for shift := 4; c&0x80 != 0; shift += 7 {
		if shift > 64-7 {
			return h, corrupt("object size overflows at offset %d", start)
		}
		if c, err = s.ReadByte(); err != nil {
			return h, truncated(err)
		}
		h.size |= int64(c&0x7f) << shift
	}
	switch h.typ {
	case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
	case plumbing.OFSDeltaObject:
		if c, err = s.ReadByte(); err != nil {
			return h, truncated(err)
		}
		dist := int64(c & 0x7f)
		for c&0x80 != 0 {
			if dist >= 1<<(63-7) {
				return h, corrupt("delta base offset overflows at offset %d", start)
			}
			if c, err = s.ReadByte(); err != nil {
				return h, truncated(err)
			}
			dist = (dist+1)<<7 | int64(c&0x7f)
		}
		if dist <= 0 || dist > start {
			return h, corrupt("delta base offset out of the pack at offset %d", start)
		}
		h.baseOff = start - dist
	case plumbing.REFDeltaObject:
		if err := s.readFull(h.baseHash[:]); err != nil {
			return h, err
		}
	default:
		return h, corrupt("object type %d at offset %d", h.typ, start)
	}
	return h, nil
}

// inflater inflates zlib bodies from a packStream, reusing one zlib reader.
type inflater struct {
	zr io.ReadCloser
}

// inflate writes the body that follows the header to w and checks that it
// inflates to exactly size bytes.
func (f *inflater) inflate(s *packStream, size int64, w io.Writer) error {
	if f.zr == nil {
		zr, err := zlib.NewReader(s)
		if err != nil {
			return zlibError(err)
		}
		f.zr = zr
	} else if err := f.zr.(zlib.Resetter).Reset(s, nil); err != nil {
		return zlibError(err)
	}
	// One byte more than declared shows a body that inflates too far.
	n, err := io.Copy(w, io.LimitReader(f.zr, size+1))
	if err != nil {
		return zlibError(err)
	}
	if n != size {
		return corrupt("object inflates to %d bytes, header says %d", n, size)
	}
	// Read on to the end of the zlib stream (its Adler-32), so the next
	// header starts where it should.
	var one [1]byte
	if m, err := f.zr.Read(one[:]); m != 0 || err != io.EOF {
		if err != nil && err != io.EOF {
			return zlibError(err)
		}
		return corrupt("object inflates past %d bytes", size)
	}
	return nil
}

// inflateBytes inflates a body into a new slice.
func (f *inflater) inflateBytes(s *packStream, size int64) ([]byte, error) {
	var b bytes.Buffer
	// The header's size is not trusted for an allocation: a body that
	// lies is found out as it inflates.
	b.Grow(int(min(size, 1<<20)))
	if err := f.inflate(s, size, &b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// zlibError tells a body that is not valid zlib, or cut short, from an
// error reading the stream (the network, the file).
func zlibError(err error) error {
	var ce flate.CorruptInputError
	var ie flate.InternalError
	if errors.Is(err, zlib.ErrChecksum) || errors.Is(err, zlib.ErrHeader) || errors.Is(err, zlib.ErrDictionary) ||
		errors.As(err, &ce) || errors.As(err, &ie) {
		return corrupt("bad zlib body: %v", err)
	}
	return truncated(err)
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
