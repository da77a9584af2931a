package imds

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Instances finds the instance a request comes from. The simulator
// implements it over its own state; it is called once per request.
type Instances interface {
	// ByAddress returns the instance whose private address is ip, if one
	// is running there.
	ByAddress(ip netip.Addr) (Instance, bool)
}

// Instance is what the metadata service knows of one instance: a copy the
// simulator makes from its own state, read and never kept. Empty fields are
// left out of the metadata, as EC2 leaves out what an instance lacks.
type Instance struct {
	ID            string // i-…
	ImageID       string // ami-…
	InstanceType  string // t3.micro
	Architecture  string // x86_64 or arm64; default from the host
	ReservationID string // r-…
	LaunchIndex   int    // its place in the reservation, from 0 (ami-launch-index)
	AccountID     string
	Region        string
	// AvailabilityZone, e.g. us-east-1a.
	AvailabilityZone string
	PrivateIP        netip.Addr
	// Hostname defaults to EC2's IP-based name, ip-10-0-1-5.ec2.internal
	// in us-east-1 and ip-10-0-1-5.REGION.compute.internal elsewhere.
	Hostname string
	// LaunchTime is the identity document's pendingTime.
	LaunchTime time.Time

	// Network is the primary network interface.
	Network Interface
	// SecurityGroups, in the order of the launch.
	SecurityGroups []SecurityGroup

	// KeyName and PublicKey are the launch's key pair: its name and its
	// OpenSSH public key ("ssh-ed25519 AAAA… name"). Empty: no key pair.
	KeyName   string
	PublicKey string

	// UserData as given at launch, decoded; nil: none (404, as on EC2).
	UserData []byte
	// Tags of the instance; served only when Options.InstanceMetadataTags
	// is "enabled".
	Tags map[string]string

	// Profile is the instance profile; nil: none (no iam/ category).
	Profile *Profile
	// Options are the instance's metadata options (EC2's
	// InstanceMetadataOptions); the zero value is EC2's default.
	Options MetadataOptions
}

// Interface is an instance's primary network interface, as the
// network/interfaces/macs/MAC/ category shows it.
type Interface struct {
	// MAC defaults to one derived from the instance id (06:…, locally
	// administered). The simulator should give the machine's real one if
	// it wants cloud-init to match it to an interface.
	MAC         string
	InterfaceID string // eni-…
	SubnetID    string
	SubnetCIDR  string // 172.31.0.0/20
	VpcID       string
	VpcCIDR     string // 172.31.0.0/16
}

// SecurityGroup is one of the instance's security groups.
type SecurityGroup struct {
	ID   string // sg-…
	Name string
}

// Profile is an instance profile and the role whose credentials the
// metadata service hands out.
type Profile struct {
	ARN  string // arn:aws:iam::ACCOUNT:instance-profile/NAME
	ID   string // AIPA…
	Role string // the role's name: iam/security-credentials/ROLE
}

// MetadataOptions are EC2's InstanceMetadataOptions, with EC2's values.
// Empty fields take EC2's defaults [API_InstanceMetadataOptionsRequest]:
// HttpTokens "optional", HttpEndpoint "enabled", hop limit 1,
// InstanceMetadataTags "disabled".
type MetadataOptions struct {
	HttpTokens              string // "optional" | "required"
	HttpEndpoint            string // "enabled" | "disabled"
	HttpPutResponseHopLimit int    // 1–64
	InstanceMetadataTags    string // "enabled" | "disabled"
}

func (o MetadataOptions) tokensRequired() bool { return o.HttpTokens == "required" }
func (o MetadataOptions) endpointOff() bool    { return o.HttpEndpoint == "disabled" }
func (o MetadataOptions) tagsOn() bool         { return o.InstanceMetadataTags == "enabled" }

func (o MetadataOptions) hopLimit() int {
	if o.HttpPutResponseHopLimit < 1 {
		return 1
	}
	return min(o.HttpPutResponseHopLimit, 64)
}

// hostname is the instance's name, EC2's IP-based one by default
// [ec2-instance-naming].
func (in Instance) hostname() string {
	if in.Hostname != "" || !in.PrivateIP.Is4() {
		return in.Hostname
	}
	name := "ip-" + strings.ReplaceAll(in.PrivateIP.String(), ".", "-")
	if in.Region == "us-east-1" {
		return name + ".ec2.internal"
	}
	return name + "." + in.Region + ".compute.internal"
}

// mac is the primary interface's address, lower case as EC2 shows it.
func (in Instance) mac() string {
	if in.Network.MAC != "" {
		return strings.ToLower(in.Network.MAC)
	}
	sum := sha256.Sum256([]byte(in.ID))
	return fmt.Sprintf("06:%02x:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3], sum[4])
}
