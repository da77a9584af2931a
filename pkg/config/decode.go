package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"
)

// decoder copies a document that BurntSushi/toml has parsed into its generic
// form onto the schema structs, collecting every problem instead of stopping
// at the first, as toml.Decode would. Keys match `toml` tags exactly (TOML
// keys are case-sensitive; toml.Decode would also accept "Name" for "name").
type decoder struct {
	pos  positions
	errs *errorList
}

// defaulter is implemented by schema structs whose new elements (a map entry
// or array element) start from defaults rather than zero values.
type defaulter interface{ setDefaults() }

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *decoder) decode(path keyPath, data any, v reflect.Value) {
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshalerType) {
		s, ok := data.(string)
		if !ok {
			d.typeError(path, "a string", data)
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.errs.add(path, d.pos.line(path), "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(newElem(v.Type().Elem()))
		}
		d.decode(path, data, v.Elem())
	case reflect.Struct:
		d.decodeStruct(path, data, v)
	case reflect.Map:
		d.decodeMap(path, data, v)
	case reflect.Slice:
		d.decodeSlice(path, data, v)
	case reflect.String:
		s, ok := data.(string)
		if !ok {
			d.typeError(path, "a string", data)
			return
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := data.(bool)
		if !ok {
			d.typeError(path, "true or false", data)
			return
		}
		v.SetBool(b)
	case reflect.Int:
		n, ok := data.(int64)
		if !ok {
			d.typeError(path, "an integer", data)
			return
		}
		if n > math.MaxInt32 || n < math.MinInt32 {
			d.errs.add(path, d.pos.line(path), "integer %d is out of range", n)
			return
		}
		v.SetInt(n)
	default:
		// A schema field of a kind this decoder does not handle is a bug in
		// the schema, not in the user's file.
		panic(fmt.Sprintf("config: schema field %s has unsupported kind %s", path, v.Kind()))
	}
}

func (d *decoder) decodeStruct(path keyPath, data any, v reflect.Value) {
	table, ok := data.(map[string]any)
	if !ok {
		d.typeError(path, "a table", data)
		return
	}
	fields := map[string]int{}
	t := v.Type()
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			fields[tag] = i
		}
	}
	for _, key := range d.sortedKeys(path, table) {
		i, ok := fields[key]
		if !ok {
			d.unknownKey(path.key(key), key, fields)
			continue
		}
		d.decode(path.key(key), table[key], v.Field(i))
	}
}

func (d *decoder) decodeMap(path keyPath, data any, v reflect.Value) {
	table, ok := data.(map[string]any)
	if !ok {
		d.typeError(path, "a table", data)
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	elemType := v.Type().Elem()
	for _, key := range d.sortedKeys(path, table) {
		elem := reflect.New(elemType).Elem()
		if elemType.Kind() == reflect.Pointer {
			elem.Set(newElem(elemType.Elem()))
		}
		d.decode(path.key(key), table[key], elem)
		v.SetMapIndex(reflect.ValueOf(key), elem)
	}
}

func (d *decoder) decodeSlice(path keyPath, data any, v reflect.Value) {
	var items []any
	switch list := data.(type) {
	case []any:
		items = list
	case []map[string]any:
		for _, m := range list {
			items = append(items, m)
		}
	default:
		d.typeError(path, "an array", data)
		return
	}
	out := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		elem := out.Index(i)
		if df, ok := elem.Addr().Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.decode(path.index(i), item, elem)
	}
	v.Set(out)
}

// newElem returns a pointer to a new value of t, with its defaults if it
// has any.
func newElem(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if df, ok := p.Interface().(defaulter); ok {
		df.setDefaults()
	}
	return p
}

// sortedKeys orders a table's keys by the line they are written on, so
// errors come out in the order a person reads the file.
func (d *decoder) sortedKeys(path keyPath, table map[string]any) []string {
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		li, lj := d.pos.line(path.key(keys[i])), d.pos.line(path.key(keys[j]))
		if li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// isSecretKey reports keys that are refused with advice: a secret written
// into the config ends up in backups, diffs and support tickets.
func isSecretKey(key string) bool {
	switch key {
	case "token", "password", "secret", "private_key":
		return true
	}
	return false
}

func (d *decoder) unknownKey(path keyPath, key string, fields map[string]int) {
	line := d.pos.line(path)
	if isSecretKey(key) {
		d.errs.add(path, line, "secrets are not written in the config: name a file with token_file or an environment variable with token_env")
		return
	}
	if s := suggest(key, fields); s != "" {
		d.errs.add(path, line, "unknown key %q (did you mean %q?)", key, s)
		return
	}
	d.errs.add(path, line, "unknown key %q", key)
}

func (d *decoder) typeError(path keyPath, want string, got any) {
	d.errs.add(path, d.pos.line(path), "expected %s, found %s", want, tomlType(got))
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// suggest returns the known key closest to key when it is close enough to
// be a typo (edit distance at most 2, or equal ignoring case and "-"/"_").
func suggest(key string, fields map[string]int) string {
	best, bestDist := "", 3
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	for f := range fields {
		if norm(f) == norm(key) {
			return f
		}
		if dist := levenshtein.ComputeDistance(key, f); dist < bestDist || dist == bestDist && f < best {
			best, bestDist = f, dist
		}
	}
	return best
}
