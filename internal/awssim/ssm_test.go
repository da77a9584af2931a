package awssim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

func (e *env) put(name, value string, typ ssmtypes.ParameterType, overwrite bool) (int64, error) {
	e.t.Helper()
	out, err := e.ssm.PutParameter(e.ctx, &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(overwrite),
	})
	if err != nil {
		return 0, err
	}
	return out.Version, nil
}

func (e *env) mustPut(name, value string, typ ssmtypes.ParameterType, overwrite bool) int64 {
	e.t.Helper()
	v, err := e.put(name, value, typ, overwrite)
	if err != nil {
		e.t.Fatalf("PutParameter %s: %v", name, err)
	}
	return v
}

// AWS: API_PutParameter, API_GetParameter, sysman-paramstore-versions: a
// new parameter is version 1; putting it again needs Overwrite
// (ParameterAlreadyExists otherwise) and makes version 2, even with the same
// value; "name:version" reads an older version, with its Selector; a version
// that does not exist is ParameterVersionNotFound, a name ParameterNotFound.
func TestSSM_PutOverwriteVersions(t *testing.T) {
	e := newEnv(t, fastOptions())
	if v := e.mustPut("/shop/staging/DB_HOST", "db1", ssmtypes.ParameterTypeString, false); v != 1 {
		t.Fatalf("first version = %d, want 1", v)
	}
	_, err := e.put("/shop/staging/DB_HOST", "db2", ssmtypes.ParameterTypeString, false)
	var exists *ssmtypes.ParameterAlreadyExists
	if !errors.As(err, &exists) {
		t.Fatalf("put without Overwrite: %v, want ParameterAlreadyExists", err)
	}
	if v := e.mustPut("/shop/staging/DB_HOST", "db2", ssmtypes.ParameterTypeString, true); v != 2 {
		t.Fatalf("overwrite version = %d, want 2", v)
	}
	if v := e.mustPut("/shop/staging/DB_HOST", "db2", ssmtypes.ParameterTypeString, true); v != 3 {
		t.Fatalf("same value again: version %d, want 3", v)
	}
	out, err := e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/shop/staging/DB_HOST")})
	if err != nil {
		t.Fatal(err)
	}
	p := out.Parameter
	if aws.ToString(p.Value) != "db2" || p.Version != 3 || p.Type != ssmtypes.ParameterTypeString ||
		aws.ToString(p.ARN) != "arn:aws:ssm:us-east-1:123456789012:parameter/shop/staging/DB_HOST" ||
		aws.ToString(p.DataType) != "text" || p.LastModifiedDate == nil || p.LastModifiedDate.IsZero() {
		t.Fatalf("latest = %+v", p)
	}
	out, err = e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/shop/staging/DB_HOST:1")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Parameter.Value) != "db1" || out.Parameter.Version != 1 || aws.ToString(out.Parameter.Selector) != ":1" {
		t.Fatalf("version 1 = %+v", out.Parameter)
	}
	_, err = e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/shop/staging/DB_HOST:9")})
	var noVersion *ssmtypes.ParameterVersionNotFound
	if !errors.As(err, &noVersion) {
		t.Fatalf("version 9: %v, want ParameterVersionNotFound", err)
	}
	_, err = e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/shop/staging/NOPE")})
	var notFound *ssmtypes.ParameterNotFound
	if !errors.As(err, &notFound) {
		t.Fatalf("missing: %v, want ParameterNotFound", err)
	}
}

// AWS: sysman-paramstore-versions: SSM keeps the last 100 versions; the 101st
// deletes the oldest.
func TestSSM_HundredVersions(t *testing.T) {
	e := newEnv(t, fastOptions())
	for i := 1; i <= 101; i++ {
		e.mustPut("/a/b", fmt.Sprint("v", i), ssmtypes.ParameterTypeString, i > 1)
	}
	_, err := e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/a/b:1")})
	if apiCode(err) != "ParameterVersionNotFound" {
		t.Fatalf("version 1 after 101 puts: %v", err)
	}
	out, err := e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/a/b:2")})
	if err != nil || aws.ToString(out.Parameter.Value) != "v2" {
		t.Fatalf("version 2: %v %+v", err, out)
	}
}

// AWS: API_PutParameter (Type, KeyId), API_GetParameter (WithDecryption),
// sysman-paramstore-securestring: a SecureString is answered encrypted
// unless WithDecryption is set; KeyId names its KMS key (default
// alias/aws/ssm) and is for SecureString only; a key id of no KMS form is
// InvalidKeyId; a type cannot change (HierarchyTypeMismatchException); a
// new parameter needs a Type. The state file holds no value in clear.
func TestSSM_SecureString(t *testing.T) {
	opts := fastOptions()
	opts.StateFile = filepath.Join(t.TempDir(), "account.json")
	e := newEnv(t, opts)
	const secret = "correct-horse-battery-staple"
	if _, err := e.ssm.PutParameter(e.ctx, &ssm.PutParameterInput{
		Name: aws.String("/shop/prod/SECRET_KEY"), Value: aws.String(secret), Type: ssmtypes.ParameterTypeSecureString,
		KeyId: aws.String("alias/shop-secrets"),
	}); err != nil {
		t.Fatal(err)
	}
	e.mustPut("/shop/prod/API_TOKEN", "token-"+secret, ssmtypes.ParameterTypeSecureString, false)

	out, err := e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/shop/prod/SECRET_KEY")})
	if err != nil {
		t.Fatal(err)
	}
	if v := aws.ToString(out.Parameter.Value); v == secret || v == "" || strings.Contains(v, secret) {
		t.Fatalf("without decryption the value is %q", v)
	}
	out, err = e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/shop/prod/SECRET_KEY"), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Parameter.Value) != secret || out.Parameter.Type != ssmtypes.ParameterTypeSecureString {
		t.Fatalf("decrypted = %+v", out.Parameter)
	}

	for _, c := range []struct {
		what string
		in   ssm.PutParameterInput
		code string
	}{
		{"KeyId on a String", ssm.PutParameterInput{Name: aws.String("/x/s"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString, KeyId: aws.String("alias/k")}, "ValidationException"},
		{"malformed KeyId", ssm.PutParameterInput{Name: aws.String("/x/s"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeSecureString, KeyId: aws.String("not a key")}, "InvalidKeyId"},
		{"type change", ssm.PutParameterInput{Name: aws.String("/shop/prod/SECRET_KEY"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}, "HierarchyTypeMismatchException"},
		{"no Type on create", ssm.PutParameterInput{Name: aws.String("/x/new"), Value: aws.String("v")}, "ValidationException"},
		{"empty value", ssm.PutParameterInput{Name: aws.String("/x/new"), Value: aws.String(""), Type: ssmtypes.ParameterTypeString}, "ValidationException"},
		{"standard tier over 4 KB", ssm.PutParameterInput{Name: aws.String("/x/big"), Value: aws.String(strings.Repeat("a", 4097)), Type: ssmtypes.ParameterTypeString}, "ValidationException"},
		{"tags with overwrite", ssm.PutParameterInput{Name: aws.String("/x/t"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true), Tags: []ssmtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}, "ValidationException"},
	} {
		if _, err := e.ssm.PutParameter(e.ctx, &c.in); apiCode(err) != c.code {
			t.Errorf("%s: %v, want %s", c.what, err, c.code)
		}
	}
	// Overwrite without a Type keeps the type (and the key).
	if _, err := e.ssm.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/shop/prod/SECRET_KEY"), Value: aws.String(secret + "2"), Overwrite: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	out, err = e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/shop/prod/SECRET_KEY"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(out.Parameter.Value) != secret+"2" || out.Parameter.Type != ssmtypes.ParameterTypeSecureString || out.Parameter.Version != 2 {
		t.Fatalf("overwrite without Type: %v %+v", err, out)
	}
	// Advanced tier takes up to 8 KB.
	if _, err := e.ssm.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/x/big"), Value: aws.String(strings.Repeat("a", 8192)), Type: ssmtypes.ParameterTypeString, Tier: ssmtypes.ParameterTierAdvanced}); err != nil {
		t.Fatalf("advanced 8 KB: %v", err)
	}

	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(opts.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Fatal("the state file holds a SecureString value in clear")
	}
	if !strings.Contains(string(b), "/shop/prod/SECRET_KEY") {
		t.Fatal("the state file does not hold the parameter")
	}
	// The account reloads and still decrypts.
	srv, err := Start(opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := ssm.NewFromConfig(sdkConfig(srv.URL, 1))
	out, err = c.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/shop/prod/API_TOKEN"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(out.Parameter.Value) != "token-"+secret {
		t.Fatalf("after reload: %v %+v", err, out)
	}
}

// AWS: sysman-parameter-name-constraints, API_PutParameter (Name): letters,
// digits and _.-/ only, no spaces inside (surrounding ones are trimmed),
// fully qualified when hierarchical, at most 15 levels
// (HierarchyLevelLimitExceededException), no aws/ssm prefix.
func TestSSM_Names(t *testing.T) {
	e := newEnv(t, fastOptions())
	deep := strings.Repeat("/l", 16)
	for _, c := range []struct {
		name, code string
	}{
		{"plain", ""},
		{"/a/b-c_d.e", ""},
		{"  /trimmed  ", ""},
		{"/a b", "ValidationException"},
		{"/a/b$", "ValidationException"},
		{"a/b", "ValidationException"},
		{"/a//b", "ValidationException"},
		{"/awsthing", "ValidationException"},
		{"SSM-param", "ValidationException"},
		{"/Aws/x", "ValidationException"},
		{deep, "HierarchyLevelLimitExceededException"},
		{strings.Repeat("/l", 15), ""},
	} {
		_, err := e.put(c.name, "v", ssmtypes.ParameterTypeString, false)
		if apiCode(err) != c.code {
			t.Errorf("name %q: %v, want %q", c.name, err, c.code)
		}
	}
	if _, err := e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/trimmed")}); err != nil {
		t.Fatalf("the trimmed name: %v", err)
	}
}

// AWS: API_GetParameters: names that do not exist (or versions) come back in
// InvalidParameters; 1 to 10 names.
func TestSSM_GetParameters(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.mustPut("/p/a", "1", ssmtypes.ParameterTypeString, false)
	e.mustPut("/p/b", "2", ssmtypes.ParameterTypeSecureString, false)
	out, err := e.ssm.GetParameters(e.ctx, &ssm.GetParametersInput{Names: []string{"/p/a", "/p/b", "/p/c", "/p/a:5"}, WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range out.Parameters {
		got[aws.ToString(p.Name)] = aws.ToString(p.Value)
	}
	if len(got) != 2 || got["/p/a"] != "1" || got["/p/b"] != "2" {
		t.Fatalf("parameters = %v", got)
	}
	if strings.Join(out.InvalidParameters, ",") != "/p/c,/p/a:5" {
		t.Fatalf("invalid = %v", out.InvalidParameters)
	}
	names := make([]string, 11)
	for i := range names {
		names[i] = fmt.Sprint("/p/n", i)
	}
	if _, err := e.ssm.GetParameters(e.ctx, &ssm.GetParametersInput{Names: names}); apiCode(err) != "ValidationException" {
		t.Fatalf("11 names: %v", err)
	}
}

// AWS: API_GetParametersByPath: the direct children of Path, or every level
// below it with Recursive; MaxResults 1–10 a page and a NextToken while
// more remain (the SDK's paginator follows it); a token it did not give is
// InvalidNextToken.
func TestSSM_GetParametersByPath(t *testing.T) {
	e := newEnv(t, fastOptions())
	for _, n := range []string{"/shop/prod/A", "/shop/prod/B", "/shop/prod/C", "/shop/prod/deep/D", "/shop/prodx/E", "/shop/staging/F", "top"} {
		e.mustPut(n, "v"+n, ssmtypes.ParameterTypeSecureString, false)
	}
	list := func(path string, recursive bool, page int32) []string {
		t.Helper()
		var names []string
		pg := ssm.NewGetParametersByPathPaginator(e.ssm, &ssm.GetParametersByPathInput{
			Path: aws.String(path), Recursive: aws.Bool(recursive), WithDecryption: aws.Bool(true), MaxResults: aws.Int32(page),
		})
		pages := 0
		for pg.HasMorePages() {
			out, err := pg.NextPage(e.ctx)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			pages++
			if len(out.Parameters) > int(page) {
				t.Fatalf("a page of %d, MaxResults %d", len(out.Parameters), page)
			}
			for _, p := range out.Parameters {
				if aws.ToString(p.Value) != "v"+aws.ToString(p.Name) {
					t.Fatalf("%s = %q", aws.ToString(p.Name), aws.ToString(p.Value))
				}
				names = append(names, aws.ToString(p.Name))
			}
		}
		if want := (len(names) + int(page) - 1) / int(page); len(names) > 0 && pages < want {
			t.Fatalf("%d pages for %d names of %d", pages, len(names), page)
		}
		return names
	}
	if got := strings.Join(list("/shop/prod", false, 10), ","); got != "/shop/prod/A,/shop/prod/B,/shop/prod/C" {
		t.Errorf("non-recursive: %s", got)
	}
	if got := strings.Join(list("/shop/prod/", true, 2), ","); got != "/shop/prod/A,/shop/prod/B,/shop/prod/C,/shop/prod/deep/D" {
		t.Errorf("recursive, pages of 2: %s", got)
	}
	if got := len(list("/", true, 3)); got != 6 {
		t.Errorf("everything under /: %d", got)
	}
	if got := list("/nothing", true, 10); len(got) != 0 {
		t.Errorf("empty path: %v", got)
	}
	_, err := e.ssm.GetParametersByPath(e.ctx, &ssm.GetParametersByPathInput{Path: aws.String("/shop"), NextToken: aws.String("bogus!")})
	var badToken *ssmtypes.InvalidNextToken
	if !errors.As(err, &badToken) {
		t.Errorf("bad token: %v", err)
	}
	if _, err := e.ssm.GetParametersByPath(e.ctx, &ssm.GetParametersByPathInput{Path: aws.String("/shop"), MaxResults: aws.Int32(11)}); apiCode(err) != "ValidationException" {
		t.Errorf("MaxResults 11: %v", err)
	}
	if _, err := e.ssm.GetParametersByPath(e.ctx, &ssm.GetParametersByPathInput{Path: aws.String("shop")}); apiCode(err) != "ValidationException" {
		t.Errorf("path without a slash: %v", err)
	}
}

// AWS: API_DeleteParameter, API_DeleteParameters: a missing parameter is
// ParameterNotFound for one, listed in InvalidParameters for several.
func TestSSM_Delete(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.mustPut("/d/a", "1", ssmtypes.ParameterTypeString, false)
	e.mustPut("/d/b", "2", ssmtypes.ParameterTypeString, false)
	e.mustPut("/d/c", "3", ssmtypes.ParameterTypeString, false)
	if _, err := e.ssm.DeleteParameter(e.ctx, &ssm.DeleteParameterInput{Name: aws.String("/d/a")}); err != nil {
		t.Fatal(err)
	}
	_, err := e.ssm.DeleteParameter(e.ctx, &ssm.DeleteParameterInput{Name: aws.String("/d/a")})
	var notFound *ssmtypes.ParameterNotFound
	if !errors.As(err, &notFound) {
		t.Fatalf("deleting again: %v", err)
	}
	out, err := e.ssm.DeleteParameters(e.ctx, &ssm.DeleteParametersInput{Names: []string{"/d/b", "/d/a", "/d/c"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(out.DeletedParameters, ",") != "/d/b,/d/c" || strings.Join(out.InvalidParameters, ",") != "/d/a" {
		t.Fatalf("deleted %v, invalid %v", out.DeletedParameters, out.InvalidParameters)
	}
	// A deleted name starts again at version 1.
	if v := e.mustPut("/d/a", "again", ssmtypes.ParameterTypeString, false); v != 1 {
		t.Fatalf("recreated at version %d", v)
	}
}

// The simulator's faults cover SSM as the other services: "ssm:*"
// throttles every call with ThrottlingException, which the SDK retries.
func TestSSM_Throttled(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.connect(1)
	e.srv.SetFault(Fault{Action: "ssm:*", ThrottleRate: 1})
	_, err := e.ssm.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/x")})
	var thr *ssmtypes.ThrottlingException
	if !errors.As(err, &thr) {
		t.Fatalf("throttled: %v", err)
	}
	if n := e.srv.Counts()["ssm:GetParameter"]; n != 1 {
		t.Fatalf("counted %d GetParameter calls", n)
	}
}
