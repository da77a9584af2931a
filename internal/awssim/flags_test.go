package awssim

import (
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The flags of `ferry sim` land in Options.
func TestFlags_RegisterFlags(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.RegisterFlags(fs)
	if err := fs.Parse([]string{"--listen", "127.0.0.1:4566", "--state", "/tmp/x.json", "--second", "100ms", "--app", "none"}); err != nil {
		t.Fatal(err)
	}
	if o.Listen != "127.0.0.1:4566" || o.StateFile != "/tmp/x.json" || o.Second != 100*time.Millisecond || o.App != nil {
		t.Errorf("options %+v", o)
	}
	if o.BootDelay != 20*time.Second {
		t.Errorf("default boot delay %v", o.BootDelay)
	}
	if o.Machines || o.MachineCacheDir != "" {
		t.Errorf("machines on by default: %+v", o)
	}
	if err := fs.Parse([]string{"--machines", "--cache-dir", "/tmp/images"}); err != nil {
		t.Fatal(err)
	}
	if !o.Machines || o.MachineCacheDir != "/tmp/images" {
		t.Errorf("--machines --cache-dir: %+v", o)
	}
	if err := fs.Parse([]string{"--app", "rocket"}); err == nil {
		t.Errorf("unknown app accepted")
	}
}

// --app-root gives demo instances a directory each, where upgrade.html
// puts the upgrade page up: 503 with the page for every path but the
// health check, which stays 200.
func TestDemoAppRoot(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.RegisterFlags(fs)
	root := t.TempDir()
	if err := fs.Parse([]string{"--app-root", root}); err != nil {
		t.Fatal(err)
	}
	h, err := o.App(t.Context(), Instance{ID: "i-1", PrivateIP: "127.1.0.7", LaunchTemplate: "lt-1:2"})
	if err != nil || h == nil {
		t.Fatalf("app: %v %v", h, err)
	}
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/"); code != http.StatusOK || !strings.Contains(body, "i-1") {
		t.Errorf("page down: GET / = %d %q", code, body)
	}
	page := filepath.Join(root, "127.1.0.7", UpgradePage)
	if err := os.MkdirAll(filepath.Dir(page), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, []byte("Upgrade in progress\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/cart"); code != http.StatusServiceUnavailable || body != "Upgrade in progress\n" {
		t.Errorf("page up: GET /cart = %d %q", code, body)
	}
	if code, _ := get("/healthcheck.html"); code != http.StatusOK {
		t.Errorf("page up: the health check answers %d, want 200", code)
	}
	if err := os.Remove(page); err != nil {
		t.Fatal(err)
	}
	if code, _ := get("/"); code != http.StatusOK {
		t.Errorf("page removed: GET / = %d", code)
	}
	if err := fs.Parse([]string{"--app", "none"}); err != nil || o.App != nil {
		t.Errorf("--app none after --app-root: %v, app set %v", err, o.App != nil)
	}
}
