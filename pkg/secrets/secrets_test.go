package secrets_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/secrets"
)

func TestParse(t *testing.T) {
	got, err := secrets.Parse("prod.env", strings.NewReader(`
# the database
DB_PASSWORD=s3cr3t-pass
export API_TOKEN = tok-123 # a comment
QUOTED="a \"b\" \\ $HOME #not-a-comment"
SINGLE='lit\eral "x"'   # comment
HASH=abc#def
`))
	if err != nil {
		t.Fatal(err)
	}
	want := secrets.Set{
		"DB_PASSWORD": "s3cr3t-pass",
		"API_TOKEN":   "tok-123",
		"QUOTED":      `a "b" \ $HOME #not-a-comment`,
		"SINGLE":      `lit\eral "x"`,
		"HASH":        "abc#def",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d secrets %v, want %d", len(got), got.Names(), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if d := string(got.Dotenv()); !strings.HasPrefix(d, "API_TOKEN=tok-123\nDB_PASSWORD=s3cr3t-pass\n") {
		t.Errorf("dotenv = %q", d)
	}
}

// Every malformed line is reported with file:line, and no error shows the
// value written on it.
func TestParseErrorsNameTheLineNotTheValue(t *testing.T) {
	const value = "hunter2-very-secret"
	for _, c := range []struct {
		text, want string
	}{
		{"A=1\n" + value + "\n", "prod.env:2: expected NAME=value"},
		{"9X=" + value + "\n", "prod.env:1: the name"},
		{"A=" + value + "\nA=" + value + "x\n", "prod.env:2: A is set twice (first at line 1)"},
		{"A=\n", "prod.env:1: A has an empty value"},
		{"A=\"" + value + "\n", "prod.env:1: A: unterminated double quote"},
		{"A='" + value + "\n", "prod.env:1: A: unterminated single quote"},
		{"A='" + value + "' trailing" + value + "\n", "prod.env:1: A: text after the closing quote"},
		{"A=" + strings.Repeat("x", 4097) + "\n", "prod.env:1: A: the value is longer than 4096 bytes"},
		{value + " = x\n", "prod.env:1: the name"},
	} {
		_, err := secrets.Parse("prod.env", strings.NewReader(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), value) || strings.Contains(err.Error(), "xxxx") {
			t.Errorf("the error shows the value: %v", err)
		}
	}
}

// ReadFile refuses, as ssh does a private key, a file its group or others
// may read or write, naming the file and its mode.
func TestReadFileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "prod.env")
	if err := os.WriteFile(path, []byte("A=value1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if set, err := secrets.ReadFile(path); err != nil || set["A"] != "value1" {
		t.Fatalf("0600: %v %v", set, err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := secrets.ReadFile(path)
		if !errors.Is(err, secrets.ErrFileMode) {
			t.Fatalf("mode %04o: %v, want ErrFileMode", mode, err)
		}
		if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, fmt.Sprintf("mode %04o", mode)) {
			t.Errorf("mode %04o: %q should name the file and the mode", mode, msg)
		}
	}
	if _, err := secrets.ReadFile(filepath.Join(dir, "missing.env")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// Read takes the SSM path's parameters (decrypted) and the file's, the
// file winning for a name in both; a parameter below the path that cannot
// be a secret's name is an error naming it.
func TestReadFromFileAndSSM(t *testing.T) {
	srv := testutil.StartSim(t, awssim.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := cloud.New(ctx, cloud.Options{Region: simenv.Region, Endpoint: srv.URL, Credentials: simenv.Credentials(), MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"/shop/manual/SMTP_PASSWORD": "smtp-pass", "/shop/manual/DB_PASSWORD": "from-ssm"} {
		if _, err := c.PutSecret(ctx, name, v, ""); err != nil {
			t.Fatal(err)
		}
	}
	// Each parameter comes with its type (a push refuses to overwrite one
	// that is not a SecureString).
	params, err := c.ParametersByPath(ctx, "/shop/manual/", false)
	if err != nil || len(params) != 2 {
		t.Fatalf("parameters: %d, %v", len(params), err)
	}
	for _, p := range params {
		if p.Type != "SecureString" || p.Version != 1 {
			t.Errorf("%s: type %q version %d, want a SecureString at 1", p.Name, p.Type, p.Version)
		}
	}
	file := filepath.Join(t.TempDir(), "prod.env")
	if err := os.WriteFile(file, []byte("DB_PASSWORD=from-file\nAPI_TOKEN=tok-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := secrets.Read(ctx, &config.Secrets{File: file, Path: "/shop/manual/"}, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Names(), ","); got != "API_TOKEN,DB_PASSWORD,SMTP_PASSWORD" {
		t.Fatalf("names %s", got)
	}
	if set["DB_PASSWORD"] != "from-file" || set["SMTP_PASSWORD"] != "smtp-pass" {
		t.Fatalf("values: DB_PASSWORD from the %s, SMTP_PASSWORD %t", map[bool]string{true: "file", false: "wrong source"}[set["DB_PASSWORD"] == "from-file"], set["SMTP_PASSWORD"] == "smtp-pass")
	}

	if _, err := c.PutSecret(ctx, "/shop/manual/deeper/X", "x-value", ""); err != nil {
		t.Fatal(err)
	}
	_, err = secrets.Read(ctx, &config.Secrets{Path: "/shop/manual"}, c)
	if err == nil || !strings.Contains(err.Error(), "/shop/manual/deeper/X") || strings.Contains(err.Error(), "x-value") {
		t.Fatalf("nested parameter: %v", err)
	}
	if set, err := secrets.Read(ctx, nil, nil); err != nil || len(set) != 0 {
		t.Fatalf("no sources: %v %v", set, err)
	}
}

// fakeStore answers ParametersByPath with fixed parameters.
type fakeStore []secrets.Parameter

func (f fakeStore) ParametersByPath(context.Context, string, bool) ([]secrets.Parameter, error) {
	return f, nil
}

// A value with a line break would become lines of their own in the
// servers' KEY=value file: refused, naming the parameter and not the value.
func TestLineBreaksInValuesRefused(t *testing.T) {
	for _, v := range []string{"a\nLD_PRELOAD=/tmp/x.so", "a\rLD_PRELOAD=/tmp/x.so", "a\x00b"} {
		_, _, err := secrets.FromStore(t.Context(), fakeStore{{Name: "/shop/prod/DB", Value: v}}, "/shop/prod/")
		if err == nil || !strings.Contains(err.Error(), "/shop/prod/DB") || strings.Contains(err.Error(), "LD_PRELOAD") {
			t.Errorf("SSM value %q: %v", v, err)
		}
	}
	_, err := secrets.Parse("prod.env", strings.NewReader("DB=a\rLD_PRELOAD=/tmp/x.so\n"))
	if err == nil || !strings.Contains(err.Error(), "prod.env:1: DB") || strings.Contains(err.Error(), "LD_PRELOAD") {
		t.Errorf("file value with a carriage return: %v", err)
	}
}
