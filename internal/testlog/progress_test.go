package testlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFailedLog(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, log, path string
		n               int
		want            []string // in the message
		notWant         []string
		file            string // the file's content, when path is set
	}{
		{name: "tail and file", log: "one\ntwo\nthree\n", path: filepath.Join(dir, "a", "T.log"), n: 2,
			want: []string{"(3 lines)", "in " + filepath.Join(dir, "a", "T.log"), "last 2 lines:\ntwo\nthree"}, notWant: []string{"one"}, file: "one\ntwo\nthree\n"},
		{name: "short log whole", log: "only\n", n: 40,
			want: []string{"(1 lines)", "not kept", "last 1 lines:\nonly"}},
		{name: "empty", log: "", n: 40, want: []string{"(0 lines)", "last 0 lines:\n"}},
		{name: "unwritable", log: "x\n", path: "/proc/ferry-no/T.log", n: 5, want: []string{"not written:", "\nx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := failedLog(tc.log, tc.path, tc.n)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("failedLog = %q, want it to contain %q", got, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("failedLog = %q, want no %q", got, w)
				}
			}
			if tc.file != "" {
				b, err := os.ReadFile(tc.path)
				if err != nil || string(b) != tc.file {
					t.Errorf("file = %q, %v; want %q", b, err, tc.file)
				}
			}
		})
	}
}
