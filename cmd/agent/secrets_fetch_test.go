package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/awssim/imds"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
)

// anyInstance answers every address with one instance: the test process
// stands for it.
type anyInstance struct{ in imds.Instance }

func (a anyInstance) ByAddress(netip.Addr) (imds.Instance, bool) { return a.in, true }

// TestSecretsFetchWithInstanceCredentials runs `ferry secrets fetch` as an
// instance's boot unit would: no credentials but the instance profile's,
// which the SDK's default chain reads from the metadata service (IMDSv2
// required), and no region but the instance's.
func TestSecretsFetchWithInstanceCredentials(t *testing.T) {
	srv := testutil.StartSim(t, awssim.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	push, err := cloud.New(ctx, cloud.Options{Region: simenv.Region, Endpoint: srv.URL, Credentials: simenv.Credentials(), MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"DB_PASSWORD": "boot-pw-41aa9c", "API_TOKEN": "boot-tok-77e0b1"} {
		if _, err := push.PutSecret(ctx, "/shop/staging/"+k, v, ""); err != nil {
			t.Fatal(err)
		}
	}

	h, err := imds.New(imds.Config{
		Instances: anyInstance{imds.Instance{
			ID: "i-0a000000000000001", Region: "us-east-1", AvailabilityZone: "us-east-1a", AccountID: "123456789012",
			PrivateIP: netip.MustParseAddr("127.0.0.1"),
			Profile:   &imds.Profile{ARN: "arn:aws:iam::123456789012:instance-profile/shop-web", ID: "AIPAEXAMPLESHOPWEB01", Role: "shop-web"},
			Options:   imds.MetadataOptions{HttpTokens: "required"},
		}},
		Credentials: imds.NewKeyring(time.Now),
	})
	if err != nil {
		t.Fatal(err)
	}
	var credentialReads atomic.Int32
	md := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/latest/meta-data/iam/security-credentials/shop-web") {
			credentialReads.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	defer md.Close()

	// Nothing but the metadata service to find credentials in, whatever
	// this machine's HOME holds.
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.URL, "AWS_ENDPOINT_URL": "",
	} {
		t.Setenv(k, v)
	}
	out := filepath.Join(dir, "etc", "app", "secrets.env")
	// An older file readable by all: the new one is 0600 all the same.
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte("OLD=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runFerry(t, "secrets", "fetch", "--path", "/shop/staging/", "--endpoint", srv.URL, "--out", out)
	if code != exitOK || !strings.Contains(stdout, "wrote 2 secrets to "+out+": API_TOKEN, DB_PASSWORD") {
		t.Fatalf("fetch: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "boot-") {
		t.Fatalf("fetch printed a value:\n%s\n%s", stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil || string(b) != "API_TOKEN=boot-tok-77e0b1\nDB_PASSWORD=boot-pw-41aa9c\n" {
		t.Fatalf("secrets file %q: %v", b, err)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file mode: %v %v", st.Mode(), err)
	}
	if credentialReads.Load() == 0 {
		t.Fatal("the SDK never read the instance profile's credentials from the metadata service")
	}

	// Nothing under the path: an error, and the file is left as it was.
	code, _, stderr = runFerry(t, "secrets", "fetch", "--path", "/shop/production/", "--endpoint", srv.URL, "--out", out)
	if code != exitFailure || !strings.Contains(stderr, "no secret under SSM path /shop/production/") {
		t.Fatalf("empty path: exit %d\n%s", code, stderr)
	}
	if b2, _ := os.ReadFile(out); string(b2) != string(b) {
		t.Fatal("a failed fetch changed the file")
	}
	if code, _, _ := runFerry(t, "secrets", "fetch", "--out", out); code != exitUsage {
		t.Fatalf("without --path: exit %d", code)
	}
}
