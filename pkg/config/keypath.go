package config

import (
	"strconv"
	"strings"
)

// keyPath is the location of a value in the document: table and key names,
// with array elements as "[i]" segments. Its String form is what errors show
// and what positions are indexed by.
type keyPath []string

func (p keyPath) key(name string) keyPath {
	return append(p[:len(p):len(p)], name)
}

func (p keyPath) index(i int) keyPath {
	return append(p[:len(p):len(p)], "["+strconv.Itoa(i)+"]")
}

func (p keyPath) String() string {
	var b strings.Builder
	for i, s := range p {
		if strings.HasPrefix(s, "[") {
			b.WriteString(s)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(quoteKey(s))
	}
	return b.String()
}

// quoteKey quotes a key that is not a TOML bare key, as TOML would.
func quoteKey(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !isBareKeyRune(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func isBareKeyRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}
