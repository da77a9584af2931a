package forge

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

const redacted = "[REDACTED]"

// secret holds a token. Its methods keep it out of fmt (every verb), slog
// and JSON output. A struct holds it by pointer: fmt prints an unexported
// field's raw value without calling its methods, but a pointer field as an
// address.
type secret struct{ value string }

func (secret) String() string               { return redacted }
func (secret) GoString() string             { return redacted }
func (secret) Format(f fmt.State, _ rune)   { io.WriteString(f, redacted) }
func (secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// redact removes the token from text that might echo it (a forge's error
// message, a transport error).
func (s *secret) redact(text string) string {
	if s == nil || s.value == "" {
		return text
	}
	return strings.ReplaceAll(text, s.value, redacted)
}

// loadToken reads the token from a file or an environment variable. Errors
// name where it was looked for, never what was found.
func loadToken(file, env string, getenv func(string) string) (*secret, error) {
	var raw string
	switch {
	case file != "" && env != "":
		return nil, errors.New("set only one of token_file and token_env")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is named below; the error adds nothing secret
			}
			return nil, fmt.Errorf("reading token_file %s: %w", file, err)
		}
		raw = string(b)
	case env != "":
		raw = getenv(env)
		if raw == "" {
			return nil, fmt.Errorf("token_env %s is not set or empty", env)
		}
	default:
		return nil, errors.New("no token: set token_file or token_env")
	}
	tok := strings.TrimSpace(raw)
	switch {
	case tok == "":
		return nil, fmt.Errorf("the token in %s is empty", source(file, env))
	case strings.ContainsAny(tok, "\r\n\t "):
		// A header can't carry it; a file with two lines is a mistake.
		return nil, fmt.Errorf("the token in %s contains white space or several lines", source(file, env))
	}
	return &secret{value: tok}, nil
}

func source(file, env string) string {
	if file != "" {
		return "token_file " + file
	}
	return "token_env " + env
}
