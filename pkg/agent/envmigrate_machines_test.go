package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// checkCreateMigrated: create ran the first commit's migrations (the
// worker's deploy hook, once, on a group's instance, its output in the
// create's logs): before any deploy, a note POSTed to the web instance is
// written on the primary and read back from the replica; then the same
// through the balancer, the replication lag measured.
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
	w.checkReplicaLag()
}

// checkReplicaLag POSTs a note through the balancer's HTTPS listener (the
// web instance writes it on the primary) and reads it back through the
// balancer from the replica, polling every 50 ms: the time from the POST's
// answer to the first read that finds it bounds the replication lag (plus
// one poll), which the test logs.
func (w *envMachines) checkReplicaLag() {
	t := w.t
	if w.lb == "" {
		w.lb = balancerURL(t, w.srv.URL, "elb/myproject-testing:443")
	}
	// No cookie jar: the session phases start from a fresh session.
	hc := &http.Client{Timeout: 30 * time.Second, Transport: w.browser.Transport}
	var id string
	for deadline := time.Now().Add(3 * time.Minute); id == ""; time.Sleep(time.Second) {
		resp, err := hc.PostForm(w.lb+"/notes/", url.Values{"text": {"through the balancer"}})
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 201 && strings.HasPrefix(string(b), "note ") {
				id = strings.TrimSpace(strings.TrimPrefix(string(b), "note "))
				break
			}
			err = fmt.Errorf("%d %q", resp.StatusCode, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("POST /notes/ through the balancer: %v", err)
		}
	}
	written := time.Now()
	want := "note " + id + " through the balancer\n"
	for polls := 1; ; polls++ {
		resp, err := hc.Get(w.lb + "/notes/" + id)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && string(b) == want {
				t.Logf("a note POSTed through the balancer read back from the replica %s after the primary answered (%d reads, 50 ms apart)", time.Since(written).Round(time.Millisecond), polls)
				return
			}
			if resp.StatusCode != 404 {
				t.Fatalf("GET /notes/%s through the balancer: %d %q, want 404 until replicated, then %q", id, resp.StatusCode, b, want)
			}
		}
		if time.Since(written) > time.Minute {
			t.Fatalf("note %s not on the replica a minute after it was written: %v", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
