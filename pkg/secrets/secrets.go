package secrets

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/config"
)

// Set is an environment's secrets by name.
type Set map[string]string

// Names returns the names in order.
func (s Set) Names() []string { return slices.Sorted(maps.Keys(s)) }

// Values returns every value, for redacting output.
func (s Set) Values() []string {
	vs := make([]string, 0, len(s))
	for _, k := range s.Names() {
		vs = append(vs, s[k])
	}
	return vs
}

// Dotenv renders the set as KEY=value lines in name order: what a server's
// secrets_changed hook reads on stdin.
func (s Set) Dotenv() []byte {
	var b bytes.Buffer
	for _, k := range s.Names() {
		b.WriteString(k + "=" + s[k] + "\n")
	}
	return b.Bytes()
}

// nameRE is a secret's name: a shell variable name, so that the dotenv file
// a server gets is an EnvironmentFile for systemd and a sourceable file.
var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidName reports whether name can name a secret.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// ErrFileMode is wrapped by the error for a secrets file other users can
// read or write.
var ErrFileMode = errors.New("secrets file is accessible by others")

// ReadFile reads a dotenv secrets file. Like ssh with a private key, it
// refuses a file that its group or others may read or write (any of the
// mode bits 0077), naming the file and its mode.
func ReadFile(path string) (Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secrets file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secrets file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("secrets file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; it must be readable by its owner only (chmod 600 %s)", ErrFileMode, path, perm, path)
	}
	return Parse(path, f)
}

// maxValue is the longest value SSM's Standard tier keeps (4 KB).
const maxValue = 4096

// Parse reads dotenv lines from r; name is the file name errors carry.
//
// Each line is blank, a comment (#), or NAME=value, optionally after
// "export ". A value is taken as written, or between single quotes
// (literally) or double quotes (with \" \\ \$ escapes); an unquoted value
// ends at " #" (a comment) and loses surrounding spaces. Values are one
// line, 1 to 4096 bytes. Errors name the file and line and never the value.
func Parse(name string, r io.Reader) (Set, error) {
	set := Set{}
	first := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
	}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, raw, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok {
			fail(n, "expected NAME=value")
			continue
		}
		if !ValidName(key) {
			// A name is not a secret, but a line without "=" in the right
			// place might be a value: show the name only when it is one.
			fail(n, "the name before \"=\" must be letters, digits and _, not starting with a digit")
			continue
		}
		value, err := unquote(strings.TrimSpace(raw))
		if err != nil {
			fail(n, "%s: %v", key, err)
			continue
		}
		switch {
		case value == "":
			fail(n, "%s has an empty value (SSM Parameter Store keeps none)", key)
			continue
		case len(value) > maxValue:
			fail(n, "%s: the value is longer than %d bytes (SSM's Standard tier)", key, maxValue)
			continue
		case strings.ContainsAny(value, "\x00\r"):
			// A carriage return ends a line for systemd's EnvironmentFile
			// parser: what follows would be a variable of its own.
			fail(n, "%s: the value contains a NUL byte or a carriage return", key)
			continue
		}
		if at, dup := first[key]; dup {
			fail(n, "%s is set twice (first at line %d)", key, at)
			continue
		}
		first[key] = n
		set[key] = value
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return set, nil
}

func unquote(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	switch raw[0] {
	case '\'':
		end := strings.IndexByte(raw[1:], '\'')
		if end < 0 {
			return "", errors.New("unterminated single quote")
		}
		if rest := strings.TrimSpace(raw[end+2:]); rest != "" && !strings.HasPrefix(rest, "#") {
			return "", errors.New("text after the closing quote")
		}
		return raw[1 : end+1], nil
	case '"':
		var b strings.Builder
		for i := 1; i < len(raw); i++ {
			switch c := raw[i]; c {
			case '\\':
				if i+1 < len(raw) && strings.IndexByte(`"\$`, raw[i+1]) >= 0 {
					b.WriteByte(raw[i+1])
					i++
					continue
				}
				b.WriteByte(c)
			case '"':
				if rest := strings.TrimSpace(raw[i+1:]); rest != "" && !strings.HasPrefix(rest, "#") {
					return "", errors.New("text after the closing quote")
				}
				return b.String(), nil
			default:
				b.WriteByte(c)
			}
		}
		return "", errors.New("unterminated double quote")
	}
	if i := strings.Index(raw, " #"); i >= 0 {
		raw = raw[:i]
	}
	return strings.TrimSpace(raw), nil
}

// Parameter is one parameter read from SSM Parameter Store.
type Parameter struct {
	// Name is the full name, /path/NAME.
	Name     string
	Value    string
	Version  int64
	Modified time.Time
	// Type is SSM's: SecureString, String or StringList ("" when the
	// store does not say).
	Type string
}

// Store reads parameters below an SSM path (pkg/cloud's Client).
type Store interface {
	// ParametersByPath returns every parameter below path (all levels),
	// SecureString values decrypted when decrypt is set.
	ParametersByPath(ctx context.Context, path string, decrypt bool) ([]Parameter, error)
}

// FromStore reads the secrets under path: each parameter directly below it
// is one secret, named by the last level of its name. A parameter deeper
// down, whose last level is not a valid name, or whose value holds a line
// break or NUL byte, is an error naming it (never its value).
func FromStore(ctx context.Context, store Store, path string) (Set, map[string]Parameter, error) {
	params, err := store.ParametersByPath(ctx, path, true)
	if err != nil {
		return nil, nil, fmt.Errorf("secrets from SSM path %s: %w", path, err)
	}
	prefix := strings.TrimSuffix(path, "/") + "/"
	set, byName := Set{}, map[string]Parameter{}
	var errs []error
	for _, p := range params {
		key, ok := strings.CutPrefix(p.Name, prefix)
		if !ok || strings.Contains(key, "/") || !ValidName(key) {
			errs = append(errs, fmt.Errorf("SSM parameter %s: a secret is a parameter directly below %s named like an environment variable", p.Name, path))
			continue
		}
		if strings.ContainsAny(p.Value, "\x00\r\n") {
			// The servers get KEY=value lines: a line break in a value
			// would add variables of its own choosing (LD_PRELOAD=...).
			errs = append(errs, fmt.Errorf("SSM parameter %s: its value holds a line break or a NUL byte, which a KEY=value line cannot carry", p.Name))
			continue
		}
		set[key] = p.Value
		byName[key] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return set, byName, nil
}

// Read reads the secrets an environment's sources hold: the file's and the
// SSM path's, the file winning for a name in both. src nil is no secrets.
// Nothing is read from SSM without a path, so store may then be nil.
func Read(ctx context.Context, src *config.Secrets, store Store) (Set, error) {
	set := Set{}
	if src == nil {
		return set, nil
	}
	if src.Path != "" {
		if store == nil {
			return nil, errors.New("secrets: an SSM path is configured but no SSM client was given")
		}
		fromSSM, _, err := FromStore(ctx, store, src.Path)
		if err != nil {
			return nil, err
		}
		maps.Copy(set, fromSSM)
	}
	if src.File != "" {
		fromFile, err := ReadFile(src.File)
		if err != nil {
			return nil, err
		}
		maps.Copy(set, fromFile)
	}
	return set, nil
}

// Path is where `ferry secrets push` keeps an environment's secrets in SSM
// and where its instances read them at boot: /<project>/<env>/.
func Path(project, env string) string { return "/" + project + "/" + env + "/" }
