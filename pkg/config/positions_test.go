package config

import "testing"

func TestIndexPositions(t *testing.T) {
	doc := `# comment = not a key
[project]
name = "x" # trailing = comment
"quoted.key" = 1
desc = """
multi = line
"""
list = [
  "a = b",
  { inner = 1 },
]
after = 2
literal = '''
[not.a.table]
'''
[a.b]
dotted.key = "v"
inline = { x = 1, y = 2 }
[[arr]]
k = 1
[[arr]]
k = 2
[arr.sub]
z = 3
[[arr.items]]
w = 4
"esc\"aped" = "q\"uote = no"
`
	pos := indexPositions(doc)
	for _, tc := range []struct {
		path keyPath
		line int
	}{
		{keyPath{"project"}, 2},
		{keyPath{"project", "name"}, 3},
		{keyPath{"project", "quoted.key"}, 4},
		{keyPath{"project", "desc"}, 5},
		{keyPath{"project", "list"}, 8},
		{keyPath{"project", "list"}.index(1).key("inner"), 8},
		{keyPath{"project", "after"}, 12},
		{keyPath{"project", "literal"}, 13},
		{keyPath{"a", "b"}, 16},
		{keyPath{"a"}, 16},
		{keyPath{"a", "b", "dotted"}, 17},
		{keyPath{"a", "b", "dotted", "key"}, 17},
		{keyPath{"a", "b", "inline", "y"}, 18},
		{keyPath{"arr"}.index(0).key("k"), 20},
		{keyPath{"arr"}.index(1), 21},
		{keyPath{"arr"}.index(1).key("k"), 22},
		{keyPath{"arr"}.index(1).key("sub").key("z"), 24},
		{keyPath{"arr"}.index(1).key("items").index(0).key("w"), 26},
		{keyPath{"arr"}.index(1).key("items").index(0).key(`esc"aped`), 27},
		{keyPath{"missing", "entirely"}, 0},
	} {
		if got := pos.line(tc.path); got != tc.line {
			t.Errorf("line(%s) = %d, want %d", tc.path, got, tc.line)
		}
	}
	// Text inside multi-line strings is not a key or a table.
	for _, p := range []keyPath{{"project", "multi"}, {"not", "a", "table"}, {"not"}} {
		if l, ok := pos[p.String()]; ok {
			t.Errorf("%s indexed at line %d, but it is inside a string", p, l)
		}
	}
}

func TestKeyPathString(t *testing.T) {
	for _, tc := range []struct {
		path keyPath
		want string
	}{
		{keyPath{"environments", "staging", "branch"}, "environments.staging.branch"},
		{keyPath{"environments", "prod", "windows"}.index(2).key("cron"), "environments.prod.windows[2].cron"},
		{keyPath{"a", "dotted.name", "b c"}, `a."dotted.name"."b c"`},
		{keyPath{""}, `""`},
	} {
		if got := tc.path.String(); got != tc.want {
			t.Errorf("String() = %s, want %s", got, tc.want)
		}
	}
}
