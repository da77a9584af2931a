package imds

import (
	"context"
	"encoding/json"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// versions are the metadata versions EC2 lists at / (and serves under
// /VERSION/), as in AWS's example of "Get the available versions of the
// instance metadata" [instancedata-data-retrieval]. cloud-init 22.4 asks
// for 2021-03-23, 2018-09-24, 2016-09-02 and 2009-04-04.
var versions = []string{
	"1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
	"2008-02-01", "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12",
	"2014-02-25", "2014-11-05", "2015-10-20", "2016-04-19", "2016-06-30", "2016-09-02",
	"2018-03-28", "2018-08-17", "2018-09-24", "2019-10-01", "2020-10-27", "2021-01-03",
	"2021-03-23", "latest",
}

func knownVersion(v string) bool { return slices.Contains(versions, v) }

// request is what building an instance's tree needs to know of the
// request: credentials differ between IMDSv1 and IMDSv2.
type request struct {
	ctx      context.Context
	delivery string // "1.0" without a token, "2.0" with one
}

// tree is the instance's metadata under /VERSION/: dynamic, meta-data and
// user-data.
func (h *Handler) tree(req request, in Instance) *node {
	root := dir(
		entry{name: "dynamic", node: dynamic(in)},
		entry{name: "meta-data", node: h.metaData(req, in)},
	)
	if in.UserData != nil {
		// Served as given at launch, decoded [instancedata-add-user-data];
		// present even when empty.
		root.entries = append(root.entries, entry{name: "user-data", node: &node{gen: constant(string(in.UserData))}})
	}
	// EC2 lists the version's categories without a trailing slash.
	for _, e := range root.entries {
		root.listing = append(root.listing, e.name)
	}
	return root
}

func (h *Handler) metaData(req request, in Instance) *node {
	ip := ""
	if in.PrivateIP.IsValid() {
		ip = in.PrivateIP.String()
	}
	host := in.hostname()
	var sgNames, sgIDs []string
	for _, sg := range in.SecurityGroups {
		sgNames = append(sgNames, sg.Name)
		sgIDs = append(sgIDs, sg.ID)
	}
	mac := in.mac()
	md := dir(
		item("ami-id", in.ImageID),
		item("ami-launch-index", strconv.Itoa(in.LaunchIndex)),
		item("ami-manifest-path", "(unknown)"),
		item("hostname", host),
	)
	md.add(since("2012-01-12", entry{name: "iam", node: h.iam(req, in)}))
	md.add(since("2008-09-01", item("instance-action", "none")))
	md.add(item("instance-id", in.ID))
	md.add(since("2019-10-01", item("instance-life-cycle", "on-demand")))
	md.add(since("2007-08-29", item("instance-type", in.InstanceType)))
	md.add(since("2007-01-19", item("local-hostname", host)))
	md.add(item("local-ipv4", ip))
	md.add(since("2011-01-01", item("mac", mac)))
	md.add(since("2011-01-01", sub("network", sub("interfaces", sub("macs", sub(mac,
		item("device-number", "0"),
		item("interface-id", in.Network.InterfaceID),
		item("local-hostname", host),
		item("local-ipv4s", ip),
		item("mac", mac),
		item("owner-id", in.AccountID),
		item("security-group-ids", lines(sgIDs)),
		item("security-groups", lines(sgNames)),
		item("subnet-id", in.Network.SubnetID),
		item("subnet-ipv4-cidr-block", in.Network.SubnetCIDR),
		item("vpc-id", in.Network.VpcID),
		item("vpc-ipv4-cidr-block", in.Network.VpcCIDR),
		item("vpc-ipv4-cidr-blocks", in.Network.VpcCIDR),
	))))))
	md.add(since("2008-02-01", sub("placement",
		item("availability-zone", in.AvailabilityZone),
		since("2020-08-24", item("region", in.Region)),
	)))
	md.add(since("2007-01-19", item("profile", "default-hvm")))
	if in.PublicKey != "" {
		name := in.KeyName
		if name == "" {
			name = "key"
		}
		key := in.PublicKey
		if !strings.HasSuffix(key, "\n") {
			key += "\n"
		}
		keys := dir(entry{name: "0", node: dir(item("openssh-key", key))})
		keys.listing = []string{"0=" + name}
		md.add(entry{name: "public-keys", node: keys})
	}
	md.add(item("reservation-id", in.ReservationID))
	md.add(item("security-groups", lines(sgNames)))
	md.add(since("2014-02-25", sub("services",
		item("domain", "amazonaws.com"),
		since("2015-10-20", item("partition", "aws")),
	)))
	if in.Options.tagsOn() {
		md.add(since("2021-03-23", sub("tags", entry{name: "instance", node: tags(in.Tags)})))
	}
	return md
}

// tags lists the instance's tags, each a leaf named by its key. A key
// holding "/" cannot be a path segment; EC2 refuses to turn tags in
// metadata on while such a key exists [Using_Tags], and so these are
// left out.
func tags(t map[string]string) *node {
	d := dir()
	for _, k := range slices.Sorted(maps.Keys(t)) {
		if k == "" || strings.Contains(k, "/") {
			continue
		}
		// An empty value is a tag still: gen keeps the leaf.
		d.entries = append(d.entries, entry{name: k, node: &node{gen: constant(t[k])}})
	}
	return d
}

func constant(s string) func() ([]byte, error) {
	return func() ([]byte, error) { return []byte(s), nil }
}

// iam is the iam/ category of an instance with a profile
// [instance-metadata-security-credentials].
func (h *Handler) iam(req request, in Instance) *node {
	p := in.Profile
	if p == nil {
		return nil
	}
	info := &node{gen: func() ([]byte, error) {
		c, err := h.credentials(req, in)
		if err != nil {
			return nil, err
		}
		return jsonDoc(struct {
			Code               string
			LastUpdated        string
			InstanceProfileArn string
			InstanceProfileId  string
		}{"Success", stamp(c.updated), p.ARN, p.ID})
	}}
	creds := dir()
	if p.Role != "" {
		creds.entries = append(creds.entries, entry{name: p.Role, node: &node{gen: func() ([]byte, error) {
			c, err := h.credentials(req, in)
			if err != nil {
				return nil, err
			}
			return jsonDoc(struct {
				Code            string
				LastUpdated     string
				Type            string
				AccessKeyId     string
				SecretAccessKey string
				Token           string
				Expiration      string
			}{"Success", stamp(c.updated), "AWS-HMAC", c.keys.AccessKeyID, c.keys.SecretAccessKey, c.keys.SessionToken, stamp(c.keys.Expiration)})
		}}})
	}
	return dir(
		entry{name: "info", node: info},
		entry{name: "security-credentials", node: creds},
	)
}

// dynamic is the dynamic/ category: the instance identity document
// [instance-identity-documents]. Its signatures (pkcs7, signature,
// rsa2048) are not served: nothing here holds AWS's keys.
func dynamic(in Instance) *node {
	arch := in.Architecture
	if arch == "" {
		arch = map[string]string{"amd64": "x86_64", "arm64": "arm64"}[runtime.GOARCH]
	}
	ip := ""
	if in.PrivateIP.IsValid() {
		ip = in.PrivateIP.String()
	}
	doc := struct {
		AccountID               string   `json:"accountId"`
		Architecture            string   `json:"architecture"`
		AvailabilityZone        string   `json:"availabilityZone"`
		BillingProducts         []string `json:"billingProducts"`
		DevpayProductCodes      []string `json:"devpayProductCodes"`
		MarketplaceProductCodes []string `json:"marketplaceProductCodes"`
		ImageID                 string   `json:"imageId"`
		InstanceID              string   `json:"instanceId"`
		InstanceType            string   `json:"instanceType"`
		KernelID                *string  `json:"kernelId"`
		PendingTime             string   `json:"pendingTime"`
		PrivateIP               string   `json:"privateIp"`
		RamdiskID               *string  `json:"ramdiskId"`
		Region                  string   `json:"region"`
		Version                 string   `json:"version"`
	}{
		AccountID: in.AccountID, Architecture: arch, AvailabilityZone: in.AvailabilityZone,
		ImageID: in.ImageID, InstanceID: in.ID, InstanceType: in.InstanceType,
		PendingTime: stamp(in.LaunchTime), PrivateIP: ip, Region: in.Region, Version: "2017-09-30",
	}
	document := &node{gen: func() ([]byte, error) { return jsonDoc(doc) }}
	return dir(sub("instance-identity", entry{name: "document", node: document}))
}

// jsonDoc is a JSON document laid out as EC2 lays out its own.
func jsonDoc(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }

// stamp is EC2's time format in metadata: UTC, to the second.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
