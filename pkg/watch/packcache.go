package watch

import (
	"container/list"

	"github.com/go-git/go-git/v5/plumbing"
)

// baseCache keeps recently inflated objects by pack offset, bounded by
// bytes, so that resolving a delta rarely inflates its base again: in a
// pack as git writes it, a chain's objects follow one another closely
// (newest first, each older version a delta of the one before), so the
// base of the next delta is almost always one of the last few thousand
// objects.
//
// An object bigger than a quarter of the cache is kept alone, beside it,
// until the next such object: a chain of versions of one big file is
// then resolved link by link, not each link from the chain's start.
type baseCache struct {
	max, used int
	order     *list.List // front: most recently used *cachedObject
	byOff     map[int64]*list.Element
	big       *cachedObject
}

type cachedObject struct {
	off  int64
	typ  plumbing.ObjectType
	data []byte
}

// cacheOverhead is what an entry costs besides its data (list element,
// map slot, struct), counted so that a flood of tiny objects is bounded
// too.
const cacheOverhead = 128

func newBaseCache(maxBytes int) *baseCache {
	return &baseCache{max: maxBytes, order: list.New(), byOff: map[int64]*list.Element{}}
}

func (c *baseCache) get(off int64) (plumbing.ObjectType, []byte, bool) {
	if c.big != nil && c.big.off == off {
		return c.big.typ, c.big.data, true
	}
	e, ok := c.byOff[off]
	if !ok {
		return plumbing.InvalidObject, nil, false
	}
	c.order.MoveToFront(e)
	o := e.Value.(*cachedObject)
	return o.typ, o.data, true
}

// bigObject is the size from which an object is too big for the cache
// proper (and, undeltified, is hashed as it inflates).
func (c *baseCache) bigObject() int64 { return int64(c.max / 4) }

// add keeps data, which the caller must not change afterwards.
func (c *baseCache) add(off int64, typ plumbing.ObjectType, data []byte) {
	size := len(data) + cacheOverhead
	if int64(size) > c.bigObject() {
		c.big = &cachedObject{off: off, typ: typ, data: data}
		return
	}
	if _, ok := c.byOff[off]; ok {
		return
	}
	c.byOff[off] = c.order.PushFront(&cachedObject{off: off, typ: typ, data: data})
	c.used += size
	for c.used > c.max {
		e := c.order.Back()
		o := e.Value.(*cachedObject)
		c.order.Remove(e)
		delete(c.byOff, o.off)
		c.used -= len(o.data) + cacheOverhead
	}
}
