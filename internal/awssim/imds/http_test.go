package imds_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim/imds"
)

func TestTokenPut(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		header map[string]string
		want   int
	}{
		{"ok", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "21600"}, 200},
		{"one second", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "1"}, 200},
		{"no ttl", "/latest/api/token", nil, 400},
		{"ttl zero", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "0"}, 400},
		{"ttl too long", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "21601"}, 400},
		{"ttl not a number", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "six hours"}, 400},
		{"proxied", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.9"}, 403},
		{"versioned path", "/2021-03-23/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"}, 403},
		{"put elsewhere", "/latest/meta-data/", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"}, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, instance())
			code, body := e.do(http.MethodPut, tt.path, tt.header)
			if code != tt.want {
				t.Fatalf("PUT %s = %d %s, want %d", tt.path, code, body, tt.want)
			}
			if code == 200 {
				if len(body) != 56 {
					t.Errorf("token %q: %d characters, want 56", body, len(body))
				}
				if strings.Contains(e.logText(), body) {
					t.Errorf("token logged:\n%s", e.logText())
				}
			} else if !strings.Contains(body, "<title>") {
				t.Errorf("error body is not EC2's XHTML page: %q", body)
			}
		})
	}
}

func TestTokenRules(t *testing.T) {
	t.Run("expires after its ttl", func(t *testing.T) {
		e := start(t, instance())
		tok := e.token("2")
		if code, _ := e.get("/latest/meta-data/instance-id", tok); code != 200 {
			t.Fatalf("fresh token: %d", code)
		}
		e.clock.Add(1999 * time.Millisecond)
		if code, _ := e.get("/latest/meta-data/instance-id", tok); code != 200 {
			t.Fatalf("token before its ttl: %d", code)
		}
		e.clock.Add(time.Millisecond)
		if code, _ := e.get("/latest/meta-data/instance-id", tok); code != 401 {
			t.Errorf("expired token: %d, want 401", code)
		}
	})
	t.Run("bound to its instance", func(t *testing.T) {
		e := start(t, instance())
		tok := e.token("60")
		next := instance()
		next.ID = "i-0fedcba9876543210" // a new instance at the same address
		e.fleet.set(next)
		if code, _ := e.get("/latest/meta-data/instance-id", tok); code != 401 {
			t.Errorf("another instance's token: %d, want 401", code)
		}
	})
	t.Run("garbage token refused even when optional", func(t *testing.T) {
		in := instance()
		in.Options.HttpTokens = "optional"
		e := start(t, in)
		if code, _ := e.get("/latest/meta-data/instance-id", "AQAEAnotatoken"); code != 401 {
			t.Errorf("bad token: %d, want 401", code)
		}
	})
}

// IMDSv1 (no token) is served only when HttpTokens is optional.
func TestV1(t *testing.T) {
	for _, tt := range []struct {
		tokens string
		want   int
	}{{"", 200}, {"optional", 200}, {"required", 401}} {
		t.Run("HttpTokens="+tt.tokens, func(t *testing.T) {
			in := instance()
			in.Options.HttpTokens = tt.tokens
			e := start(t, in)
			code, body := e.get("/latest/meta-data/instance-id", "")
			if code != tt.want {
				t.Fatalf("v1 GET = %d %s, want %d", code, body, tt.want)
			}
			if code == 200 && body != in.ID {
				t.Errorf("instance-id = %q", body)
			}
			// IMDSv2 works either way.
			if code, _ := e.get("/latest/meta-data/instance-id", e.token("60")); code != 200 {
				t.Errorf("v2 GET = %d", code)
			}
		})
	}
}

func TestTags(t *testing.T) {
	for _, tt := range []struct {
		option string
		path   string
		code   int
		body   string
	}{
		{"", "/latest/meta-data/tags/instance/Name", 404, ""},
		{"disabled", "/latest/meta-data/tags/instance", 404, ""},
		{"enabled", "/latest/meta-data/tags/", 200, "instance/"},
		{"enabled", "/latest/meta-data/tags/instance", 200, "Name\nempty\nferry:env"},
		{"enabled", "/latest/meta-data/tags/instance/", 200, "Name\nempty\nferry:env"},
		{"enabled", "/latest/meta-data/tags/instance/Name", 200, "web-1"},
		{"enabled", "/latest/meta-data/tags/instance/ferry:env", 200, "staging"},
		{"enabled", "/latest/meta-data/tags/instance/empty", 200, ""},
		{"enabled", "/latest/meta-data/tags/instance/Nope", 404, ""},
		{"enabled", "/2018-09-24/meta-data/tags/instance/Name", 404, ""}, // tags came in 2021-03-23
	} {
		t.Run(tt.option+tt.path, func(t *testing.T) {
			in := instance()
			in.Options.InstanceMetadataTags = tt.option
			e := start(t, in)
			code, body := e.get(tt.path, e.token("60"))
			if code != tt.code || (code == 200 && body != tt.body) {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, code, body, tt.code, tt.body)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	e := start(t, instance())
	tok := e.token("600")
	for _, tt := range []struct {
		path string
		code int
		body string // "" with 200: not compared
	}{
		{"/", 200, ""},
		{"/latest", 200, "dynamic\nmeta-data\nuser-data"},
		{"/latest/", 200, "dynamic\nmeta-data\nuser-data"},
		{"/latest/meta-data", 200, ""},
		{"/latest/user-data", 200, "#!/bin/sh\necho hello\n"},
		{"/2009-04-04/meta-data/instance-id", 200, "i-0123456789abcdef0"},
		{"/2021-03-23/meta-data/instance-id", 200, "i-0123456789abcdef0"},
		{"/2018-09-24/user-data", 200, "#!/bin/sh\necho hello\n"},
		{"/latest/dynamic/", 200, "instance-identity/"},
		{"/latest/dynamic/instance-identity", 200, "document"},
		{"/latest/meta-data/instance-id/", 200, "i-0123456789abcdef0"},
		{"/latest/meta-data/iam/", 200, "info\nsecurity-credentials/"},
		{"/latest/meta-data/iam/security-credentials/nobody", 404, ""},
		{"/latest/meta-data/no-such-item", 404, ""},
		{"/latest/meta-data/public-ipv4", 404, ""}, // no public address
		{"/latest/meta-data//instance-id", 404, ""},
		{"/2030-01-01/meta-data/instance-id", 404, ""},
		{"/1.0/meta-data/iam/info", 404, ""}, // iam came in 2012-01-12
		{"/latest/api/token", 405, ""},
	} {
		t.Run(tt.path, func(t *testing.T) {
			code, body := e.get(tt.path, tok)
			if code != tt.code || (code == 200 && tt.body != "" && body != tt.body) {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, code, body, tt.code, tt.body)
			}
		})
	}
	if _, body := e.get("/", tok); !contains(body, "2009-04-04") || !contains(body, "2021-03-23") || !contains(body, "latest") || strings.HasSuffix(body, "\n") {
		t.Errorf("versions = %q", body)
	}
	code, _ := e.do(http.MethodDelete, "/latest/meta-data/", map[string]string{"X-aws-ec2-metadata-token": tok})
	if code != 405 {
		t.Errorf("DELETE = %d, want 405", code)
	}
	code, body := e.do(http.MethodHead, "/latest/meta-data/instance-id", map[string]string{"X-aws-ec2-metadata-token": tok})
	if code != 200 || body != "" {
		t.Errorf("HEAD = %d %q", code, body)
	}
}

// TestCloudInitCrawl reads the metadata as cloud-init 22.4's Ec2
// datasource does (cloudinit/sources/helpers/ec2.py): without a token on
// an unknown platform, it probes VERSION/meta-data/instance-id, then
// walks VERSION/meta-data/ item by item, and fails the whole crawl if any
// listed item cannot be read. Every version's tree must hold together.
func TestCloudInitCrawl(t *testing.T) {
	in := instance()
	in.Options.HttpTokens = "optional"
	in.Options.InstanceMetadataTags = "enabled"
	e := start(t, in)
	for _, v := range []string{"2021-03-23", "2018-09-24", "2016-09-02", "2009-04-04", "1.0", "latest"} {
		t.Run(v, func(t *testing.T) {
			if code, _ := e.get("/"+v+"/meta-data/instance-id", ""); code != 200 {
				t.Fatalf("probe: %d", code)
			}
			md := crawl(t, e, "/"+v+"/meta-data/")
			if md["instance-id"] != in.ID || md["public-keys/deployer"] != pubKey+"\n" ||
				(v >= "2007-01-19" && md["local-hostname"] != "ip-172-31-1-5.ec2.internal") {
				t.Errorf("crawl of %s: %v", v, md)
			}
			if v >= "2021-03-23" && md["tags/instance/Name"] != "web-1" {
				t.Errorf("no tags in %s: %v", v, md)
			}
			if v >= "2012-01-12" && !strings.Contains(md["iam/info"], "InstanceProfileArn") {
				t.Errorf("no iam/info in %s", v)
			}
			if code, body := e.get("/"+v+"/user-data", ""); code != 200 || body != string(in.UserData) {
				t.Errorf("user-data: %d %q", code, body)
			}
		})
	}
}

// crawl materializes a listing like cloud-init's MetadataMaterializer:
// "name/" is a directory, "0=name" a public key, anything else a leaf;
// security-credentials is skipped.
func crawl(t *testing.T, e *env, url string) map[string]string {
	t.Helper()
	out := map[string]string{}
	code, listing := e.get(url, "")
	if code != 200 {
		t.Fatalf("GET %s: %d", url, code)
	}
	for _, field := range strings.Split(listing, "\n") {
		name := strings.TrimSuffix(field, "/")
		if name == "" || name == "security-credentials" {
			continue
		}
		if strings.HasSuffix(field, "/") {
			for k, v := range crawl(t, e, url+name+"/") {
				out[name+"/"+k] = v
			}
			continue
		}
		resource := name
		if i, key, ok := strings.Cut(field, "="); ok {
			resource, name = i+"/openssh-key", key
		}
		code, body := e.get(url+resource, "")
		if code != 200 {
			t.Fatalf("GET %s%s (listed in %s): %d", url, resource, url, code)
		}
		out[name] = body
	}
	return out
}

// The answer to a token PUT leaves with the instance's hop limit as its
// IP TTL.
func TestHopLimit(t *testing.T) {
	e := start(t, instance()) // HttpPutResponseHopLimit 2
	e.srv.Close()
	h, err := imds.New(imds.Config{Instances: e.fleet, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// The TTL is read while the request is served, when the connection is
	// certainly open: after the answer the client may close it.
	type connKey struct{}
	ttls := make(chan int, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		raw, err := r.Context().Value(connKey{}).(syscall.Conn).SyscallConn()
		if err != nil {
			t.Error(err)
			ttls <- -1
			return
		}
		ttl := -1
		var gerr error
		if err := raw.Control(func(fd uintptr) { ttl, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TTL) }); err != nil || gerr != nil {
			t.Error(err, gerr)
		}
		ttls <- ttl
	}))
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return h.ConnContext(context.WithValue(ctx, connKey{}, c), c)
	}
	srv.Start()
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/latest/api/token", nil)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") != "60" {
		t.Fatalf("PUT = %d, ttl header %q", resp.StatusCode, resp.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
	}
	if ttl := <-ttls; ttl != 2 {
		t.Errorf("IP TTL = %d, want the hop limit 2", ttl)
	}
}

// As a user would on an instance: curl, IMDSv2 then IMDSv1.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	e := start(t, instance())
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		cmd := exec.Command(curl, append([]string{"-sS"}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	tok := run("-X", "PUT", e.srv.URL+"/latest/api/token", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 21600")
	if got := run("-H", "X-aws-ec2-metadata-token: "+tok, e.srv.URL+"/latest/meta-data/instance-id"); got != "i-0123456789abcdef0" {
		t.Errorf("instance-id = %q", got)
	}
	if got := run("-o", "/dev/null", "-w", "%{http_code}", e.srv.URL+"/latest/meta-data/instance-id"); got != "401" {
		t.Errorf("IMDSv1 with HttpTokens required = %s, want 401", got)
	}
	if got := run("-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-H", "X-Forwarded-For: 1.2.3.4", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60", e.srv.URL+"/latest/api/token"); got != "403" {
		t.Errorf("proxied PUT = %s, want 403", got)
	}
}
