package imds_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	sdkimds "github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/ferry-deploy/ferry/internal/awssim/imds"
)

// The items EC2 users and cloud-init read, through the SDK's GetMetadata
// (which asks for a token first: IMDSv2).
func TestSDKGetMetadata(t *testing.T) {
	e := start(t, instance())
	client := e.sdk()
	tests := []struct {
		path string
		want string
	}{
		{"instance-id", "i-0123456789abcdef0"},
		{"ami-id", "ami-0abcdef1234567890"},
		{"instance-type", "t3.micro"},
		{"local-ipv4", "172.31.1.5"},
		{"local-hostname", "ip-172-31-1-5.ec2.internal"},
		{"hostname", "ip-172-31-1-5.ec2.internal"},
		{"mac", "0e:aa:bb:cc:dd:ee"},
		{"placement/availability-zone", "us-east-1a"},
		{"placement/region", "us-east-1"},
		{"security-groups", "web\nssh"},
		{"public-keys/", "0=deployer"},
		{"public-keys/0/", "openssh-key"},
		{"public-keys/0/openssh-key", pubKey + "\n"},
		{"reservation-id", "r-0123456789abcdef0"},
		{"network/interfaces/macs/", "0e:aa:bb:cc:dd:ee/"},
		{"network/interfaces/macs/0e:aa:bb:cc:dd:ee/subnet-id", "subnet-1a"},
		{"network/interfaces/macs/0e:aa:bb:cc:dd:ee/vpc-ipv4-cidr-block", "172.31.0.0/16"},
		{"network/interfaces/macs/0e:aa:bb:cc:dd:ee/security-group-ids", "sg-web\nsg-ssh"},
		{"network/interfaces/macs/0e:aa:bb:cc:dd:ee/device-number", "0"},
		{"iam/security-credentials/", "web-role"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			out, err := client.GetMetadata(context.Background(), &sdkimds.GetMetadataInput{Path: tt.path})
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, out.Content); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
	t.Run("listing", func(t *testing.T) {
		out, err := client.GetMetadata(context.Background(), &sdkimds.GetMetadataInput{Path: ""})
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, out.Content)
		for _, item := range []string{"ami-id", "instance-id", "instance-type", "local-ipv4", "local-hostname", "hostname", "mac", "placement/", "security-groups", "public-keys/", "network/", "iam/"} {
			if !contains(got, item) {
				t.Errorf("meta-data/ lacks %q:\n%s", item, got)
			}
		}
		if strings.HasSuffix(got, "\n") || contains(got, "tags/") {
			t.Errorf("meta-data/ listing (tags off, no trailing LF):\n%q", got)
		}
	})
	t.Run("region", func(t *testing.T) {
		out, err := client.GetRegion(context.Background(), nil)
		if err != nil || out.Region != "us-east-1" {
			t.Fatalf("GetRegion = %+v, %v", out, err)
		}
	})
}

func TestSDKUserData(t *testing.T) {
	in := instance()
	e := start(t, in)
	out, err := e.sdk().GetUserData(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, out.Content); got != string(in.UserData) {
		t.Errorf("user data = %q", got)
	}

	in.UserData = nil
	e.fleet.set(in)
	_, err = e.sdk().GetUserData(context.Background(), nil)
	if status(err) != http.StatusNotFound {
		t.Errorf("no user data: err = %v, want 404", err)
	}
	if code, body := e.get("/latest/", e.token("60")); code != 200 || body != "dynamic\nmeta-data" {
		t.Errorf("/latest/ without user data = %d %q", code, body)
	}
}

func TestSDKIdentityDocument(t *testing.T) {
	e := start(t, instance())
	doc, err := e.sdk().GetInstanceIdentityDocument(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := sdkimds.InstanceIdentityDocument{
		AccountID: "123456789012", Architecture: "x86_64", AvailabilityZone: "us-east-1a",
		ImageID: "ami-0abcdef1234567890", InstanceID: "i-0123456789abcdef0", InstanceType: "t3.micro",
		PendingTime: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), PrivateIP: "172.31.1.5",
		Region: "us-east-1", Version: "2017-09-30",
	}
	got := doc.InstanceIdentityDocument
	if !got.PendingTime.Equal(want.PendingTime) {
		t.Errorf("pendingTime = %s, want %s", got.PendingTime, want.PendingTime)
	}
	got.PendingTime = want.PendingTime
	if !reflect.DeepEqual(got, want) {
		t.Errorf("identity document = %+v\nwant %+v", doc.InstanceIdentityDocument, want)
	}
}

func TestSDKIAMInfo(t *testing.T) {
	e := start(t, instance())
	info, err := e.sdk().GetIAMInfo(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Code != "Success" || info.InstanceProfileArn != "arn:aws:iam::123456789012:instance-profile/web" ||
		info.InstanceProfileID != "AIPAEXAMPLEPROFILE01" || !info.LastUpdated.Equal(e.clock.Now()) {
		t.Errorf("iam info = %+v", info.IAMInfo)
	}

	in := instance()
	in.Profile = nil
	e.fleet.set(in)
	if _, err := e.sdk().GetIAMInfo(context.Background(), nil); status(err) != http.StatusNotFound {
		t.Errorf("no profile: GetIAMInfo err = %v, want 404", err)
	}
}

// The SDK's own credential provider reads the role's credentials; they
// are the keyring's, and rotated before they expire.
func TestSDKRoleCredentials(t *testing.T) {
	e := start(t, instance())
	// A new client after each move of the clock: the SDK's cached token
	// would have expired by the fake clock, and its retry after the 401
	// waits for real.
	provider := func() *ec2rolecreds.Provider {
		return ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = e.sdk() })
	}
	ctx := context.Background()
	creds, err := provider().Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(creds.AccessKeyID, "ASIA") || creds.SecretAccessKey == "" || creds.SessionToken == "" || !creds.CanExpire {
		t.Fatalf("credentials = %v", creds)
	}
	if want := e.clock.Now().Add(6 * time.Hour); !creds.Expires.Equal(want) {
		t.Errorf("expires %s, want %s", creds.Expires, want)
	}
	g, ok := e.keys.Lookup(creds.AccessKeyID)
	if !ok || g.SecretAccessKey != creds.SecretAccessKey || g.SessionToken != creds.SessionToken ||
		g.Request.InstanceID != "i-0123456789abcdef0" || g.Request.Role != "web-role" || g.Request.Delivery != "2.0" {
		t.Fatalf("keyring grant = %v %+v, %v", g, g.Request, ok)
	}

	// Read again: the same keys, until they near their expiry.
	e.clock.Add(5 * time.Hour)
	again, err := provider().Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.AccessKeyID != creds.AccessKeyID {
		t.Errorf("rotated too early: %s then %s", creds.AccessKeyID, again.AccessKeyID)
	}
	e.clock.Add(46 * time.Minute) // 14 min left: replaced
	rotated, err := provider().Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.AccessKeyID == creds.AccessKeyID || !rotated.Expires.After(creds.Expires) {
		t.Errorf("not rotated: %v then %v", creds, rotated)
	}
	if _, ok := e.keys.Lookup(creds.AccessKeyID); !ok {
		t.Errorf("old keys gone before they expired")
	}
	e.clock.Add(15 * time.Minute)
	if _, ok := e.keys.Lookup(creds.AccessKeyID); ok {
		t.Errorf("old keys still accepted after they expired")
	}
	if logs := e.logText(); strings.Contains(logs, creds.SecretAccessKey) || strings.Contains(logs, creds.SessionToken) ||
		strings.Contains(logs, rotated.SecretAccessKey) || !strings.Contains(logs, creds.AccessKeyID) {
		t.Errorf("logs hold a secret (or not the access key id):\n%s", logs)
	}
}

// IMDSv1 credentials are delivery "1.0", IMDSv2's "2.0", and each has its own.
func TestCredentialDelivery(t *testing.T) {
	in := instance()
	in.Options.HttpTokens = "optional"
	e := start(t, in)
	code, v1 := e.get("/latest/meta-data/iam/security-credentials/web-role", "")
	if code != 200 {
		t.Fatalf("v1 credentials: %d %s", code, v1)
	}
	code, v2 := e.get("/latest/meta-data/iam/security-credentials/web-role", e.token("60"))
	if code != 200 {
		t.Fatalf("v2 credentials: %d %s", code, v2)
	}
	id := func(doc string) string {
		_, rest, _ := strings.Cut(doc, `"AccessKeyId": "`)
		v, _, _ := strings.Cut(rest, `"`)
		return v
	}
	g1, ok1 := e.keys.Lookup(id(v1))
	g2, ok2 := e.keys.Lookup(id(v2))
	if !ok1 || !ok2 || g1.Request.Delivery != "1.0" || g2.Request.Delivery != "2.0" || g1.AccessKeyID == g2.AccessKeyID {
		t.Errorf("v1 %+v %v, v2 %+v %v", g1.Request, ok1, g2.Request, ok2)
	}
	for _, field := range []string{`"Code": "Success"`, `"Type": "AWS-HMAC"`, `"LastUpdated": "2025-01-02T03:04:05Z"`, `"Expiration": "2025-01-02T09:04:05Z"`, `"Token": "`, `"SecretAccessKey": "`} {
		if !strings.Contains(v2, field) {
			t.Errorf("credentials lack %s:\n%s", field, v2)
		}
	}
}

// With fallback off, the SDK cannot read anything from an instance whose
// endpoint is disabled: its token PUT is refused with 403.
func TestSDKEndpointDisabled(t *testing.T) {
	in := instance()
	in.Options.HttpEndpoint = "disabled"
	e := start(t, in)
	_, err := e.sdk().GetMetadata(context.Background(), &sdkimds.GetMetadataInput{Path: "instance-id"})
	// The SDK's token error does not unwrap to the response: read its text.
	if err == nil || !strings.Contains(err.Error(), "StatusCode: 403") {
		t.Errorf("err = %v, want 403", err)
	}
	if code, _ := e.get("/latest/meta-data/instance-id", ""); code != http.StatusForbidden {
		t.Errorf("v1 GET with endpoint disabled = %d, want 403", code)
	}
}

// The SDK with fallback on (its default) reads through IMDSv1 when the
// instance is optional and IMDSv2 otherwise; both work.
func TestSDKFallbackDefault(t *testing.T) {
	e := start(t, instance())
	client := sdkimds.New(sdkimds.Options{Endpoint: e.srv.URL})
	out, err := client.GetMetadata(context.Background(), &sdkimds.GetMetadataInput{Path: "instance-id"})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, out.Content); got != "i-0123456789abcdef0" {
		t.Errorf("instance-id = %q", got)
	}
}

func status(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

var _ imds.Credentials = (*imds.Keyring)(nil)
