package remote

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Command is one shell command line to run on a host.
type Command struct {
	// Name is how logs refer to the command, e.g. "web upgrade_page_on 1/3".
	Name string
	// Line is run by the login shell of the SSH user, which must be a POSIX
	// shell. It is written to the per-server log (it comes from the
	// config), so it must not contain secrets: pass those in Env or Stdin.
	Line string
	// Env is exported to Line. The values are sent over the session's
	// stdin, never on a command line (where ps would show them), never
	// logged, and masked in the command's output. Values may not contain
	// newlines or NUL bytes.
	Env map[string]string
	// Stdin is what the command reads on its standard input (after Env);
	// never logged, and each of its lines masked in the command's output.
	Stdin []byte
	// Input, when set, is streamed to the command's standard input after
	// Env and Stdin: data too large to hold or mask (an archive), which
	// is neither logged nor masked, and so must hold no secret.
	Input io.Reader
	// Redact lists further values to mask in the command's output, such as
	// the values inside Stdin's KEY=value lines.
	Redact []string
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c Command) validate() error {
	var errs []error
	if c.Name == "" {
		// Logs name commands rather than show them: a name is needed.
		errs = append(errs, errors.New("no name"))
	}
	if strings.TrimSpace(c.Line) == "" {
		errs = append(errs, errors.New("empty command line"))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		if !envNameRE.MatchString(k) {
			errs = append(errs, fmt.Errorf("environment variable name %q is not a shell name", k))
		}
		if strings.ContainsAny(c.Env[k], "\n\x00") {
			// The value itself is a secret: name the variable only.
			errs = append(errs, fmt.Errorf("environment variable %s: value contains a newline or NUL", k))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("command %s: %w", c.Name, err)
	}
	return nil
}

// The wrapper that reads Env from stdin, one NAME=value line each up to an
// empty line, before running the command line itself. `read` takes stdin a
// byte at a time from a pipe, so what follows is left for the command.
const envPrelude = `while IFS= read -r ferry_kv && [ -n "$ferry_kv" ]; do export "$ferry_kv"; done; unset ferry_kv; `

// pgidMarker opens every command's stdout: the process group of the
// session's shell (sshd makes it a session leader), so that a command out of
// time can be killed whole from a second session. SSH's own "signal"
// request is not enough: OpenSSH refuses it for root logins.
const pgidMarker = "ferry:pgid="

// remote returns the command line sent to sshd and the bytes for stdin.
func (c Command) remote() (line string, stdin []byte) {
	const mark = `echo "` + pgidMarker + `$$"; `
	if len(c.Env) == 0 {
		return mark + c.Line, c.Stdin
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		b.WriteString(k + "=" + c.Env[k] + "\n")
	}
	b.WriteString("\n")
	return mark + envPrelude + c.Line, append([]byte(b.String()), c.Stdin...)
}

// redactor masks the Env values (and Stdin lines) a command might print.
// Very short values are left alone: masking "1" would garble every line.
func (c Command) redactor() *strings.Replacer {
	var secrets []string
	for _, v := range c.Env {
		secrets = append(secrets, v)
	}
	secrets = append(secrets, strings.Split(string(c.Stdin), "\n")...)
	secrets = append(secrets, c.Redact...)
	// Longest first, so a secret containing another is masked whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, s := range secrets {
		if s = strings.TrimSpace(s); len(s) >= 4 {
			pairs = append(pairs, s, "[redacted]")
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	return strings.NewReplacer(pairs...)
}

func (c Command) envNames() string {
	if len(c.Env) == 0 {
		return ""
	}
	return " env " + strings.Join(slices.Sorted(maps.Keys(c.Env)), ",") + " (values withheld)"
}
