package remote

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ferry-deploy/ferry/pkg/roles"
)

// LogRoot is the directory under a state dir that holds per-server logs.
func LogRoot(stateDir string) string { return filepath.Join(stateDir, "logs") }

// Logs places the per-server log files of one deploy:
// <Root>/<Env>/<DeployID>/<role>-<instance>.log.
type Logs struct {
	Root     string
	Env      string
	DeployID string
}

// Every part of a log path is one plain file name: no separators, no
// leading dot, so an instance ID can never point a log elsewhere.
var logNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

// Path returns the log file of one server.
func (l Logs) Path(role roles.Role, instance string) (string, error) {
	for _, part := range []struct{ what, v string }{
		{"role", string(role)}, {"instance", instance},
	} {
		if !logNameRE.MatchString(part.v) {
			return "", fmt.Errorf("%s %q cannot name a log file", part.what, part.v)
		}
	}
	return filepath.Join(l.Root, l.Env, l.DeployID, string(role)+"-"+instance+".log"), nil
}

func (l Logs) validate() error {
	if l.Root == "" {
		return fmt.Errorf("no log directory")
	}
	for _, part := range []struct{ what, v string }{
		{"environment", l.Env}, {"deploy id", l.DeployID},
	} {
		if !logNameRE.MatchString(part.v) {
			return fmt.Errorf("%s %q cannot name a log directory", part.what, part.v)
		}
	}
	return nil
}

// serverLog writes one server's log file line by line, each line stamped
// and prefixed with its stream, and keeps the last lines for the summary.
// Output lines pass through redact first, so values given in Command.Env
// that a command prints do not reach the file.
type serverLog struct {
	path string

	mu     sync.Mutex
	f      *os.File
	err    error // first write error; the run goes on, the summary says so
	tail   []string
	max    int
	redact *strings.Replacer
}

func openServerLog(path string, tailLines int) (*serverLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	// Appended to: a server takes part in several hooks of one deploy.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	return &serverLog{path: path, f: f, max: tailLines}, nil
}

// begin starts a command's section and resets the tail.
func (l *serverLog) begin(redact *strings.Replacer, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tail = l.tail[:0]
	l.redact = redact
	l.writeLocked("===", fmt.Sprintf(format, args...))
}

// note writes a line of Ferry's own (not the command's output).
func (l *serverLog) note(prefix, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writeLocked(prefix, fmt.Sprintf(format, args...))
}

// output records one line the command wrote to stream ("out" or "err").
func (l *serverLog) output(stream, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.redact != nil {
		line = l.redact.Replace(line)
	}
	l.writeLocked(stream+"|", line)
	if l.max > 0 {
		if len(l.tail) == l.max {
			l.tail = append(l.tail[:0], l.tail[1:]...)
		}
		l.tail = append(l.tail, stream+"| "+line)
	}
}

func (l *serverLog) lastLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.tail...)
}

func (l *serverLog) writeLocked(prefix, text string) {
	if l.err != nil {
		return
	}
	_, l.err = fmt.Fprintf(l.f, "%s %s %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), prefix, text)
}

func (l *serverLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.f.Close()
	if l.err != nil {
		return fmt.Errorf("server log %s: %w", l.path, l.err)
	}
	return err
}
