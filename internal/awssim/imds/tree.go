package imds

import (
	"strings"
)

// node is one item of the metadata tree: a leaf (data or gen) or a
// directory (entries, listed one name a line, a subdirectory's name with
// a trailing slash).
type node struct {
	data []byte
	// gen makes a leaf's content when it is read (credentials are minted
	// only when asked for).
	gen     func() ([]byte, error)
	entries []entry
	// listing replaces a directory's generated listing: public-keys/
	// lists "0=NAME" [instancedata-data-categories].
	listing []string
	dir     bool
}

type entry struct {
	name string
	// since is the metadata version that introduced the item, from the
	// "Version when category was released" column of
	// [instancedata-data-categories]; empty: 1.0.
	since string
	node  *node
}

func leaf(s string) *node { return &node{data: []byte(s)} }

func dir(entries ...entry) *node {
	d := &node{dir: true}
	for _, e := range entries {
		d.add(e)
	}
	return d
}

// add appends e unless it is nil or an empty leaf: EC2 leaves out what an
// instance lacks, and cloud-init fetches every item a listing names.
func (d *node) add(e entry) {
	if e.node == nil || (!e.node.dir && e.node.gen == nil && len(e.node.data) == 0) {
		return
	}
	d.entries = append(d.entries, e)
}

func item(name, value string) entry           { return entry{name: name, node: leaf(value)} }
func since(v string, e entry) entry           { e.since = v; return e }
func sub(name string, entries ...entry) entry { return entry{name: name, node: dir(entries...)} }

// lines is a list the way EC2 returns one: items separated by line
// feeds, no trailing one [instancedata-data-retrieval].
func lines(items []string) string { return strings.Join(items, "\n") }

// visible reports whether e exists in metadata version v.
func (e entry) visible(v string) bool {
	return v == "latest" || e.since == "" || e.since <= v
}

// find walks segs from d in version v.
func (d *node) find(v string, segs []string) (*node, bool) {
	n := d
	for _, s := range segs {
		if !n.dir {
			return nil, false
		}
		var next *node
		for _, e := range n.entries {
			if e.name == s && e.visible(v) {
				next = e.node
				break
			}
		}
		if next == nil {
			return nil, false
		}
		n = next
	}
	return n, true
}

// list is a directory's listing in version v.
func (d *node) list(v string) []byte {
	if d.listing != nil {
		return []byte(lines(d.listing))
	}
	var names []string
	for _, e := range d.entries {
		if !e.visible(v) {
			continue
		}
		if e.node.dir {
			names = append(names, e.name+"/")
		} else {
			names = append(names, e.name)
		}
	}
	return []byte(lines(names))
}
