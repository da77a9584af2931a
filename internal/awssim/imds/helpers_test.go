package imds_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkimds "github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/ferry-deploy/ferry/internal/awssim/imds"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fleet maps 127.0.0.1 (where httptest's client comes from) to one
// instance, which a test may replace.
type fleet struct {
	mu sync.Mutex
	in imds.Instance
}

func (f *fleet) ByAddress(ip netip.Addr) (imds.Instance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.in, ip == netip.MustParseAddr("127.0.0.1")
}

func (f *fleet) set(in imds.Instance) { f.mu.Lock(); defer f.mu.Unlock(); f.in = in }

const pubKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3g0ZQv1m0k3ppFqZ0d8bX4uG1pRkA5v5ZJ0lHq2z5c deployer"

func instance() imds.Instance {
	return imds.Instance{
		ID: "i-0123456789abcdef0", ImageID: "ami-0abcdef1234567890", InstanceType: "t3.micro",
		Architecture: "x86_64", ReservationID: "r-0123456789abcdef0", AccountID: "123456789012",
		Region: "us-east-1", AvailabilityZone: "us-east-1a",
		PrivateIP:  netip.MustParseAddr("172.31.1.5"),
		LaunchTime: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Network: imds.Interface{
			MAC: "0E:AA:BB:CC:DD:EE", InterfaceID: "eni-0123456789abcdef0",
			SubnetID: "subnet-1a", SubnetCIDR: "172.31.0.0/20", VpcID: "vpc-1", VpcCIDR: "172.31.0.0/16",
		},
		SecurityGroups: []imds.SecurityGroup{{ID: "sg-web", Name: "web"}, {ID: "sg-ssh", Name: "ssh"}},
		KeyName:        "deployer", PublicKey: pubKey,
		UserData: []byte("#!/bin/sh\necho hello\n"),
		Tags:     map[string]string{"Name": "web-1", "ferry:env": "staging", "empty": ""},
		Profile: &imds.Profile{
			ARN: "arn:aws:iam::123456789012:instance-profile/web", ID: "AIPAEXAMPLEPROFILE01", Role: "web-role",
		},
		Options: imds.MetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 2},
	}
}

type env struct {
	t      *testing.T
	srv    *httptest.Server
	clock  *clock
	fleet  *fleet
	keys   *imds.Keyring
	logs   *bytes.Buffer
	logsMu *sync.Mutex
}

// start serves a Handler over a real loopback HTTP server.
func start(t *testing.T, in imds.Instance) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}, fleet: &fleet{in: in}, logs: &bytes.Buffer{}, logsMu: &sync.Mutex{}}
	e.keys = imds.NewKeyring(e.clock.Now)
	h, err := imds.New(imds.Config{
		Instances: e.fleet, Credentials: e.keys, Now: e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{e.logsMu, e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewUnstartedServer(h)
	e.srv.Config.ConnContext = h.ConnContext
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (e *env) logText() string { e.logsMu.Lock(); defer e.logsMu.Unlock(); return e.logs.String() }

// sdk is the real aws-sdk-go-v2 IMDS client, IMDSv2 only (no fallback to
// v1), pointed at the test server.
func (e *env) sdk() *sdkimds.Client {
	return sdkimds.New(sdkimds.Options{Endpoint: e.srv.URL, EnableFallback: aws.FalseTernary})
}

// do sends one plain HTTP request and returns its status and body.
func (e *env) do(method, path string, header map[string]string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// token gets an IMDSv2 token over plain HTTP.
func (e *env) token(ttl string) string {
	e.t.Helper()
	code, body := e.do(http.MethodPut, "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": ttl})
	if code != http.StatusOK {
		e.t.Fatalf("PUT token: %d %s", code, body)
	}
	return body
}

func (e *env) get(path, token string) (int, string) {
	h := map[string]string{}
	if token != "" {
		h["X-aws-ec2-metadata-token"] = token
	}
	return e.do(http.MethodGet, path, h)
}

func readAll(t *testing.T, r io.ReadCloser) string {
	t.Helper()
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func contains(list, item string) bool {
	for _, l := range strings.Split(list, "\n") {
		if l == item {
			return true
		}
	}
	return false
}
