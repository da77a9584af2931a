package awssim

import (
	"crypto/sha256"
	"encoding/base32"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// metadataOptions are an instance's InstanceMetadataOptions as a launch
// gave them; an empty field takes EC2's default (withDefaults).
type metadataOptions struct {
	HttpTokens   string `json:"httpTokens,omitempty"`           // optional | required
	HttpEndpoint string `json:"httpEndpoint,omitempty"`         // enabled | disabled
	HopLimit     int    `json:"hopLimit,omitempty"`             // 1–64
	Tags         string `json:"instanceMetadataTags,omitempty"` // enabled | disabled
}

// readMetadataOptions reads PREFIX.HttpTokens (HttpTokens with no prefix), .HttpEndpoint,
// .HttpPutResponseHopLimit and .InstanceMetadataTags over base, with the
// values EC2 accepts [API_InstanceMetadataOptionsRequest]
// [API_LaunchTemplateInstanceMetadataOptionsRequest]. Launch
// configurations have no InstanceMetadataTags
// [API_InstanceMetadataOptions (Auto Scaling)]: withTags false ignores it.
func readMetadataOptions(p params, prefix string, base metadataOptions, withTags bool) (metadataOptions, *APIError) {
	o := base
	for _, f := range []struct {
		key  string
		dst  *string
		vals []string
	}{
		{"HttpTokens", &o.HttpTokens, []string{"optional", "required"}},
		{"HttpEndpoint", &o.HttpEndpoint, []string{"enabled", "disabled"}},
		{"InstanceMetadataTags", &o.Tags, []string{"enabled", "disabled"}},
	} {
		if f.key == "InstanceMetadataTags" && !withTags {
			continue
		}
		v := p.str(paramName(prefix, f.key))
		if v == "" {
			continue
		}
		if v != f.vals[0] && v != f.vals[1] {
			return o, errf("InvalidParameterValue", "Value (%s) for parameter %s is invalid. Valid values are %s and %s.", v, lowerFirst(f.key), f.vals[0], f.vals[1])
		}
		*f.dst = v
	}
	if v := p.str(paramName(prefix, "HttpPutResponseHopLimit")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return o, errf("InvalidParameterValue", "Value (%s) for parameter httpPutResponseHopLimit is invalid. Value must be an integer between 1 and 64.", v)
		}
		o.HopLimit = n
	}
	return o, nil
}

// paramName names key under prefix (none: the request's top level).
func paramName(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// override returns o with the fields over sets replaced, as RunInstances'
// MetadataOptions override its launch template's field by field
// [API_RunInstances].
func (o metadataOptions) override(over metadataOptions) metadataOptions {
	if over.HttpTokens != "" {
		o.HttpTokens = over.HttpTokens
	}
	if over.HttpEndpoint != "" {
		o.HttpEndpoint = over.HttpEndpoint
	}
	if over.HopLimit != 0 {
		o.HopLimit = over.HopLimit
	}
	if over.Tags != "" {
		o.Tags = over.Tags
	}
	return o
}

// withDefaults fills in EC2's defaults: HttpTokens optional, HttpEndpoint
// enabled, hop limit 1, InstanceMetadataTags disabled
// [API_InstanceMetadataOptionsRequest] [configuring-IMDS-new-instances].
// (An AMI registered with ImdsSupport v2.0 would default to required with
// hop limit 2; the simulator's images have no ImdsSupport.)
func (o metadataOptions) withDefaults() metadataOptions {
	return metadataOptions{HttpTokens: "optional", HttpEndpoint: "enabled", HopLimit: 1, Tags: "disabled"}.override(o)
}

func (o metadataOptions) isZero() bool { return o == metadataOptions{} }

// instanceMetadataNode is DescribeInstances' metadataOptions
// [API_InstanceMetadataOptionsResponse]: always present, defaults filled
// in, applied at once.
func instanceMetadataNode(o metadataOptions) *node {
	o = o.withDefaults()
	return el("metadataOptions",
		leaf("state", "applied"), leaf("httpTokens", o.HttpTokens),
		leaf("httpPutResponseHopLimit", o.HopLimit), leaf("httpEndpoint", o.HttpEndpoint),
		leaf("httpProtocolIpv6", "disabled"), leaf("instanceMetadataTags", o.Tags))
}

// templateMetadataNode is a launch template version's metadataOptions
// [API_LaunchTemplateInstanceMetadataOptions]: only what the version sets.
func templateMetadataNode(o metadataOptions) *node {
	if o.isZero() {
		return nil
	}
	n := el("metadataOptions", leaf("state", "applied"), opt("httpTokens", o.HttpTokens), opt("httpEndpoint", o.HttpEndpoint), opt("instanceMetadataTags", o.Tags))
	if o.HopLimit != 0 {
		n.kids = append(n.kids, leaf("httpPutResponseHopLimit", o.HopLimit))
	}
	return n
}

// configMetadataNode is a launch configuration's MetadataOptions
// [API_InstanceMetadataOptions (Auto Scaling)].
func configMetadataNode(o metadataOptions) *node {
	if o.isZero() {
		return nil
	}
	n := el("MetadataOptions", opt("HttpTokens", o.HttpTokens), opt("HttpEndpoint", o.HttpEndpoint))
	if o.HopLimit != 0 {
		n.kids = append(n.kids, leaf("HttpPutResponseHopLimit", o.HopLimit))
	}
	return n
}

// instanceProfile is the IAM instance profile a launch names, by ARN or by
// name. The simulator has no IAM: the profile's role is taken to have the
// profile's name (as the console's "create role" makes them).
type instanceProfile struct {
	ARN  string
	Name string
}

// profileOf reads a launch's profile (an ARN or a name) in account.
func profileOf(account, arnOrName string) (instanceProfile, bool) {
	if arnOrName == "" {
		return instanceProfile{}, false
	}
	if strings.HasPrefix(arnOrName, "arn:") {
		return instanceProfile{ARN: arnOrName, Name: arnOrName[strings.LastIndex(arnOrName, "/")+1:]}, true
	}
	return instanceProfile{ARN: "arn:aws:iam::" + account + ":instance-profile/" + arnOrName, Name: arnOrName}, true
}

// ID is the profile's unique id, AIPA and 17 characters, stable for an ARN
// [reference_identifiers (unique IDs)].
func (p instanceProfile) ID() string {
	sum := sha256.Sum256([]byte(p.ARN))
	return "AIPA" + base32.StdEncoding.EncodeToString(sum[:])[:17]
}

// readProfile reads PREFIX.Arn or PREFIX.Name (EC2's
// IamInstanceProfileSpecification); the ARN wins, as EC2 wants only one.
func readProfile(p params, prefix string) string {
	if v := p.str(prefix + ".Arn"); v != "" {
		return v
	}
	return p.str(prefix + ".Name")
}

// ModifyInstanceMetadataOptions [API_ModifyInstanceMetadataOptions]: the
// options given replace the instance's, the others stay; the answer says
// pending, as EC2's does, and the instance's metadata service (with
// machines) applies them to its next request, so DescribeInstances shows
// them applied. Values are checked as at launch
// [API_InstanceMetadataOptionsRequest]; an unknown instance is
// InvalidInstanceID.NotFound.
func ec2ModifyInstanceMetadataOptions(s *Sim, p params) ([]*node, *APIError) {
	id := p.str("InstanceId")
	if id == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter InstanceId")
	}
	if apiErr := instanceIDs.check(id); apiErr != nil {
		return nil, apiErr
	}
	inst := s.st.Instances[id]
	if inst == nil {
		return nil, errf("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	over, apiErr := readMetadataOptions(p, "", metadataOptions{}, true)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := checkMetadataTagKeys(inst.Metadata.override(over), inst.Tags); apiErr != nil {
		return nil, apiErr
	}
	inst.Metadata = inst.Metadata.override(over)
	n := instanceMetadataNode(inst.Metadata)
	n.name = "instanceMetadataOptions"
	n.kids[0] = leaf("state", "pending")
	return []*node{leaf("instanceId", id), n}, nil
}

// metadataTagKeyRE is what an instance's tag keys must be while its tags
// are in its metadata (InstanceMetadataTags enabled): each key is a path
// segment of tags/instance/KEY [work-with-tags-in-IMDS].
var metadataTagKeyRE = regexp.MustCompile(`^[0-9a-zA-Z\-_+=,.@:]{1,255}$`)

// checkMetadataTagKeys refuses tag keys an instance cannot have while its
// tags are in its metadata: "Non-compliance will result in failed
// launches for new instances or an error for existing instances"
// [work-with-tags-in-IMDS]. EC2's message, as users quote it (the AWS
// page gives none).
func checkMetadataTagKeys(o metadataOptions, tags map[string]string) *APIError {
	if o.withDefaults().Tags != "enabled" {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if !metadataTagKeyRE.MatchString(k) || k == "." || k == ".." || k == "_index" {
			return errf("InvalidParameterValue", "'%s' is not a valid tag key. Tag keys must match pattern ([0-9a-zA-Z\\-_+=,.@:]{1,255}), and must not be a reserved name ('.', '..', '_index')", k)
		}
	}
	return nil
}
