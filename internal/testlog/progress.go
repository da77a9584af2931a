// Package testlog keeps long tests' progress logs out of their output
// unless they fail. It imports nothing of Ferry's, so that any test can
// use it (internal/testutil imports the simulator).
package testlog

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// progressTail is how many of a failed test's last log lines its output
// shows.
const progressTail = 40

// Progress is where a long test sends its progress log (the simulator's
// and Ferry's slog lines): the test's output under -v, where one watches
// it. Otherwise the log is kept and shown only if the test fails, after
// the failure: its last lines in the test's output and all of it in
// $FERRY_TEST_ARTIFACTS/<test>.log when that is set. Without this a failed
// machine test's own message sat behind hundreds of progress lines, and
// CI's excerpt of the output showed only those.
func Progress(t testing.TB) io.Writer {
	t.Helper()
	if testing.Verbose() {
		return t.Output()
	}
	buf := &Buffer{}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		path := ""
		if root := os.Getenv("FERRY_TEST_ARTIFACTS"); root != "" {
			path = filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_")+".log")
		}
		t.Log(failedLog(buf.String(), path, progressTail))
	})
	return buf
}

// failedLog writes log to path (when not empty) and says where it is, with
// its last n lines.
func failedLog(log, path string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if log == "" {
		lines = nil
	}
	where := "not kept: set FERRY_TEST_ARTIFACTS or run with -v to keep it"
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			where = fmt.Sprintf("not written: %v", err)
		} else if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
			where = fmt.Sprintf("not written: %v", err)
		} else {
			where = "in " + path
		}
	}
	shown := lines
	if len(shown) > n {
		shown = shown[len(shown)-n:]
	}
	return fmt.Sprintf("the test's progress log (%d lines) is %s; its last %d lines:\n%s", len(lines), where, len(shown), strings.Join(shown, "\n"))
}

// Buffer collects output that a process or the code under test writes
// while the test reads it: a bytes.Buffer safe for concurrent use (the
// simulator's goroutines log at once). testutil.Buffer is this type.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
