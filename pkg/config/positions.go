package config

import (
	"strings"
)

// positions maps each key path of a document to the line it is written on.
//
// BurntSushi/toml reports positions for syntax errors but exposes none for
// keys, so this indexer reads the lines of a document that has already
// parsed. It only needs to understand what decides where a key is: table
// headers, array-of-table headers (counted, so [[a]] becomes a[0], a[1]),
// and "key = value" lines, skipping multi-line strings and arrays. Keys
// inside inline tables and multi-line arrays fall back to the line of the
// nearest indexed ancestor (see line).
type positions map[string]int

func indexPositions(doc string) positions {
	pos := positions{}
	arrayCount := map[string]int{}
	var table keyPath
	var inString string // the closing delimiter of an open multi-line string
	depth := 0          // bracket depth of an open multi-line array or table

	for n, raw := range strings.Split(doc, "\n") {
		lineNo := n + 1
		line := raw
		if inString != "" {
			i := strings.Index(line, inString)
			if i < 0 {
				continue
			}
			line = line[i+len(inString):]
			inString = ""
		}
		if depth > 0 {
			depth, inString = scanValue(line, depth)
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case strings.HasPrefix(trimmed, "[["):
			name := resolveArrays(splitKey(strings.TrimSuffix(strings.TrimSpace(stripComment(trimmed[2:])), "]]")), arrayCount)
			base := name.String()
			i := arrayCount[base]
			arrayCount[base] = i + 1
			table = name.index(i)
			pos.record(table, lineNo)
		case strings.HasPrefix(trimmed, "["):
			name := splitKey(strings.TrimSuffix(strings.TrimSpace(stripComment(trimmed[1:])), "]"))
			table = resolveArrays(name, arrayCount)
			pos.record(table, lineNo)
		default:
			eq := indexOutsideQuotes(trimmed, '=')
			if eq < 0 {
				continue
			}
			pos.record(append(append(keyPath{}, table...), splitKey(trimmed[:eq])...), lineNo)
			depth, inString = scanValue(trimmed[eq+1:], 0)
		}
	}
	return pos
}

// record notes the line of p and of every ancestor not yet seen: a dotted
// key "aws.region" also places the table "aws".
func (pos positions) record(p keyPath, line int) {
	for i := len(p); i > 0; i-- {
		k := p[:i].String()
		if _, ok := pos[k]; ok {
			if i == len(p) {
				return
			}
			continue
		}
		pos[k] = line
	}
}

// line returns the line of p, or of its nearest indexed ancestor, or 0.
func (pos positions) line(p keyPath) int {
	for i := len(p); i > 0; i-- {
		if l, ok := pos[p[:i].String()]; ok {
			return l
		}
	}
	return 0
}

// resolveArrays maps a table header under an array of tables to the array's
// current element: [a.b] after the second [[a]] is a[1].b.
func resolveArrays(name []string, arrayCount map[string]int) keyPath {
	var out keyPath
	for _, seg := range name {
		out = out.key(seg)
		if n, ok := arrayCount[out.String()]; ok && len(out) < len(name) {
			out = out.index(n - 1)
		}
	}
	return out
}

// splitKey splits a dotted key into its parts, unquoting quoted parts.
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == '"' && c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case quote != 0:
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		case c == ' ' || c == '\t':
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}

// scanValue follows a value across a line: the bracket depth it leaves open
// and the delimiter of a multi-line string it leaves open, if any.
func scanValue(s string, depth int) (int, string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '#':
			return depth, ""
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case '"', '\'':
			delim := string(c)
			if strings.HasPrefix(s[i:], strings.Repeat(delim, 3)) {
				delim = strings.Repeat(delim, 3)
			}
			end := closing(s[i+len(delim):], delim)
			if end < 0 {
				if len(delim) == 3 {
					return depth, delim
				}
				return depth, "" // unterminated single-line string: not valid TOML
			}
			i += len(delim) + end + len(delim) - 1
		}
	}
	return depth, ""
}

// closing finds the end delimiter in s, honouring backslash escapes in
// basic strings.
func closing(s, delim string) int {
	for i := 0; i+len(delim) <= len(s); i++ {
		if delim[0] == '"' && s[i] == '\\' {
			i++
			continue
		}
		if strings.HasPrefix(s[i:], delim) {
			return i
		}
	}
	return -1
}

func indexOutsideQuotes(s string, want byte) int {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == '\\' && quote == '"':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '\'':
			quote = c
		case c == want:
			return i
		}
	}
	return -1
}

func stripComment(s string) string {
	if i := indexOutsideQuotes(s, '#'); i >= 0 {
		return s[:i]
	}
	return s
}
