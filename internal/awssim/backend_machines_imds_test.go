package awssim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// imdsScript asks the metadata service from inside an instance with curl,
// IMDSv2 (a token, then GETs with it) and IMDSv1 (no token), one answer a
// line: "NAME STATUS BODY" with the body's line feeds as spaces.
const imdsScript = `set -u
ask() { # NAME [curl args...]
	name=$1; shift
	body=$(curl -s -o /tmp/imds.out -w '%{http_code}' "$@"); printf '%s %s %s\n' "$name" "$body" "$(tr '\n' ' ' </tmp/imds.out)"
}
md=http://169.254.169.254/latest
T=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' $md/api/token)
v2() { ask "$1" -H "X-aws-ec2-metadata-token: $T" "$md/$2"; }
v2 instance-id meta-data/instance-id
v2 local-ipv4 meta-data/local-ipv4
v2 ami-id meta-data/ami-id
v2 tag-role meta-data/tags/instance/Role
v2 user-data user-data
v2 roles meta-data/iam/security-credentials/
role=$(curl -sf -H "X-aws-ec2-metadata-token: $T" $md/meta-data/iam/security-credentials/ || true)
[ -n "$role" ] && v2 credentials "meta-data/iam/security-credentials/$role"
ask v1-instance-id $md/meta-data/instance-id
`

// imdsAnswers parses imdsScript's output.
func imdsAnswers(out string) map[string][2]string {
	m := map[string][2]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) == 3 {
			m[f[0]] = [2]string{f[1], strings.TrimSpace(f[2])}
		}
	}
	return m
}

// From inside instances, with curl: IMDSv2 answers instance-id,
// local-ipv4, ami-id, user-data and tags (InstanceMetadataTags enabled);
// IMDSv1 is allowed with HttpTokens optional and refused (401) with
// required; the instance profile's credentials are served, the
// simulator's keyring knows them and the API takes them. User data runs at
// first boot through cloud-init's EC2 datasource reading the metadata
// service (the console shows it and cloud-init's "Datasource
// DataSourceEc2"); with HttpTokens required, through the NoCloud seed.
// AWS: instance-metadata-v2-how-it-works, instancedata-data-retrieval,
// iam-roles-for-amazon-ec2, Using_Tags (instance metadata), user-data.
func TestMachines_MetadataService(t *testing.T) {
	e := newMachineEnv(t, machineOptions(t))
	outer := e.t
	base := e.baseImage()
	key := e.newKey("deploy")
	userData := "#!/bin/sh\necho \"user data of $(hostname) ran at first boot\"\n"
	launch := func(tokens ec2types.HttpTokensState) ec2types.Instance {
		return e.runMachine(&ec2.RunInstancesInput{ImageId: base.ImageId, InstanceType: ec2types.InstanceTypeT3Micro, KeyName: aws.String("deploy"),
			UserData:           aws.String(base64.StdEncoding.EncodeToString([]byte(userData))),
			IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String("web-role")},
			MetadataOptions:    &ec2types.InstanceMetadataOptionsRequest{HttpTokens: tokens, InstanceMetadataTags: ec2types.InstanceMetadataTagsStateEnabled},
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
				Tags: []ec2types.Tag{{Key: aws.String("Role"), Value: aws.String("web")}}}},
		})
	}
	for _, tc := range []struct {
		tokens     ec2types.HttpTokensState
		v1         string
		datasource string
	}{
		{ec2types.HttpTokensStateOptional, "200", "DataSourceEc2"},
		{ec2types.HttpTokensStateRequired, "401", "DataSourceNoCloud"},
	} {
		t.Run(string(tc.tokens), func(t *testing.T) {
			e.t = t // the env's helpers fail the subtest
			defer func() { e.t = outer }()
			inst := launch(tc.tokens)
			if o := inst.MetadataOptions; o == nil || o.HttpTokens != tc.tokens {
				t.Errorf("DescribeInstances MetadataOptions = %+v, want HttpTokens %s", o, tc.tokens)
			}
			id, ip := aws.ToString(inst.InstanceId), aws.ToString(inst.PrivateIpAddress)
			got := imdsAnswers(e.mustSSH(inst, key, imdsScript))
			for name, want := range map[string][2]string{
				"instance-id": {"200", id}, "local-ipv4": {"200", ip}, "ami-id": {"200", aws.ToString(base.ImageId)},
				"tag-role": {"200", "web"}, "roles": {"200", "web-role"}, "v1-instance-id": {tc.v1, ""},
			} {
				if g := got[name]; g[0] != want[0] || (want[1] != "" && g[1] != want[1]) {
					t.Errorf("%s: %s %q, want %s %q", name, g[0], g[1], want[0], want[1])
				}
			}
			if g := got["user-data"]; g[0] != "200" || !strings.HasPrefix(g[1], "#!/bin/sh") {
				t.Errorf("user-data: %s %q", g[0], g[1])
			}

			var creds struct{ Code, Type, AccessKeyId, SecretAccessKey, Token, Expiration string }
			if g := got["credentials"]; g[0] != "200" || json.Unmarshal([]byte(g[1]), &creds) != nil {
				t.Fatalf("credentials: status %s, not the JSON of credentials", g[0]) // never print them
			}
			grant, ok := e.srv.InstanceCredentials(creds.AccessKeyId)
			if creds.Code != "Success" || !ok || grant.SecretAccessKey != creds.SecretAccessKey || grant.SessionToken != creds.Token ||
				grant.Request.InstanceID != id || grant.Request.Role != "web-role" {
				t.Errorf("credentials %s (code %q): the simulator's keyring has them %v, for %s %s", creds.AccessKeyId, creds.Code, ok, grant.Request.InstanceID, grant.Request.Role)
			}
			cfg := sdkConfig(e.srv.URL, 3)
			cfg.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyId, creds.SecretAccessKey, creds.Token)
			if _, err := ec2.NewFromConfig(cfg).DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}}); err != nil {
				t.Errorf("DescribeInstances with the instance's credentials: %v", err)
			}
			// Made-up temporary credentials, or the right key with another
			// session token, are refused as AWS refuses them.
			for what, c := range map[string]aws.CredentialsProvider{
				"an unknown key": credentials.NewStaticCredentialsProvider("ASIAMADEUP0000000000", creds.SecretAccessKey, creds.Token),
				"a wrong token":  credentials.NewStaticCredentialsProvider(creds.AccessKeyId, creds.SecretAccessKey, "not-the-token"),
			} {
				cfg.Credentials = c
				_, err := ec2.NewFromConfig(cfg).DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
				if apiCode(err) != "AuthFailure" {
					t.Errorf("DescribeInstances with %s: %v, want AuthFailure", what, err)
				}
			}

			out := try(e.ec2.GetConsoleOutput(e.ctx, &ec2.GetConsoleOutputInput{InstanceId: inst.InstanceId, Latest: aws.Bool(true)})).must(t)
			console, _ := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
			host := "ip-" + dashes(ip)
			if !strings.Contains(string(console), "user data of "+host+" ran at first boot") || !strings.Contains(string(console), "Datasource "+tc.datasource) {
				t.Errorf("console of %s does not show its user data run through %s:\n%s", id, tc.datasource, console)
			}

			// ModifyInstanceMetadataOptions takes effect on the running
			// instance: IMDSv1 answered or refused as the new HttpTokens say.
			flip, wantV1 := ec2types.HttpTokensStateRequired, "401"
			if tc.tokens == ec2types.HttpTokensStateRequired {
				flip, wantV1 = ec2types.HttpTokensStateOptional, "200"
			}
			try(e.ec2.ModifyInstanceMetadataOptions(e.ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: inst.InstanceId, HttpTokens: flip})).must(t)
			if v1 := e.mustSSH(inst, key, "curl -s -o /dev/null -w '%{http_code}' http://169.254.169.254/latest/meta-data/instance-id"); v1 != wantV1 {
				t.Errorf("IMDSv1 after ModifyInstanceMetadataOptions HttpTokens=%s: %s, want %s", flip, v1, wantV1)
			}
		})
	}
}
