package awssim

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// params is a request's form, read the way the query protocols encode it:
// scalars as Key=v, lists as Key.N (ec2Query) or Key.member.N (awsQuery),
// structures as Key.Field.
type params struct{ v url.Values }

func (p params) str(key string) string { return p.v.Get(key) }

func (p params) has(key string) bool {
	_, ok := p.v[key]
	return ok
}

// intOr returns the integer at key, def when absent, and an error naming the
// key when it is not a number.
func (p params) intOr(key string, def int) (int, *APIError) {
	s := p.v.Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, validation("Value '%s' at '%s' failed to satisfy constraint: Member must be a number", s, lowerFirst(key))
	}
	return n, nil
}

// boolOr returns the boolean at key, def when absent.
func (p params) boolOr(key string, def bool) bool {
	s := p.v.Get(key)
	if s == "" {
		return def
	}
	return strings.EqualFold(s, "true")
}

// indices returns the sorted list indices N present under prefix.N[.…].
func (p params) indices(prefix string) []int {
	seen := map[int]bool{}
	pre := prefix + "."
	for k := range p.v {
		if !strings.HasPrefix(k, pre) {
			continue
		}
		rest := k[len(pre):]
		if i := strings.IndexByte(rest, '.'); i >= 0 {
			rest = rest[:i]
		}
		if n, err := strconv.Atoi(rest); err == nil {
			seen[n] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// strs returns the string list under prefix (prefix.1, prefix.2, …).
func (p params) strs(prefix string) []string {
	var out []string
	for _, i := range p.indices(prefix) {
		out = append(out, p.v.Get(prefix+"."+strconv.Itoa(i)))
	}
	return out
}

// subs returns the structures of the list under prefix, each as params with
// the prefix.N. part of its keys removed.
func (p params) subs(prefix string) []params {
	var out []params
	for _, i := range p.indices(prefix) {
		out = append(out, p.sub(prefix+"."+strconv.Itoa(i)))
	}
	return out
}

// sub returns the structure at prefix as params with keys relative to it.
func (p params) sub(prefix string) params {
	pre := prefix + "."
	v := url.Values{}
	for k, vs := range p.v {
		if strings.HasPrefix(k, pre) {
			v[k[len(pre):]] = vs
		}
	}
	return params{v: v}
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
