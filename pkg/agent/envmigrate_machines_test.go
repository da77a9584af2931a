package agent_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
)

// checkCreateMigrated: create ran the first commit's migrations (the
// worker's deploy hook, once, on a group's instance, its output in the
// create's logs): before any deploy, a note POSTed to the web instance is
// written on the primary and read back from the replica.
func (w *envMachines) checkCreateMigrated() {
	t := w.t
	logs, err := filepath.Glob(filepath.Join(w.stateDir, "logs", "testing", "create-*", "worker-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		applied += strings.Count(string(b), "Applying notes.0001_initial... OK")
	}
	if len(logs) != 1 || applied != 1 {
		t.Errorf("create's migrations: logs %v applied notes.0001_initial %d times, want once in one log\nprogress:\n%s", logs, applied, w.progress.String())
	}
	resp, err := w.hc.PostForm("https://"+w.web+"/notes/", map[string][]string{"text": {"before any deploy"}})
	if err != nil {
		t.Fatalf("POST /notes/ after create: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || !strings.HasPrefix(string(b), "note ") {
		t.Fatalf("POST /notes/ after create, before any deploy: %d %q", resp.StatusCode, b)
	}
	id := strings.TrimSpace(strings.TrimPrefix(string(b), "note "))
	w.serves(w.web, "/notes/"+id, "note "+id+" before any deploy\n")
}
