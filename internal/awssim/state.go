package awssim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// state is the whole simulated account. It is what StateFile holds, so every
// field is exported to encoding/json; it is guarded by Sim.mu.
type state struct {
	Seq             int64                      `json:"seq"`
	NextIP          uint32                     `json:"nextIP"`
	Instances       map[string]*instance       `json:"instances"`
	Images          map[string]*image          `json:"images"`
	SecurityGroups  map[string]*securityGroup  `json:"securityGroups"`
	LaunchTemplates map[string]*launchTemplate `json:"launchTemplates"`
	LaunchConfigs   map[string]*launchConfig   `json:"launchConfigs"`
	Groups          map[string]*group          `json:"groups"`
	Activities      []*activity                `json:"activities"`
	ELBs            map[string]*classicLB      `json:"elbs"`
	TargetGroups    map[string]*targetGroup    `json:"targetGroups"`
	// LoadBalancersV2 are the application and network load balancers by
	// ARN, with their listeners (elbv2_lb.go).
	LoadBalancersV2 map[string]*loadBalancerV2 `json:"loadBalancersV2"`
	ClientTokens    map[string]string          `json:"clientTokens"` // RunInstances ClientToken → reservation
	Snapshots       map[string]*snapshot       `json:"snapshots"`
	KeyPairs        map[string]*keyPair        `json:"keyPairs"` // by name
	// SSM parameters by name, and the data key standing for each KMS key id
	// their SecureString values are encrypted under (ssm.go).
	Parameters map[string]*ssmParameter `json:"ssmParameters"`
	KMSKeys    map[string]string        `json:"kmsKeys"`
	// PublicImageTags are the account's tags on public images it does not
	// own, by image id: EC2 lets an account tag a public resource, the
	// tags visible to that account only [Using_Tags]
	// (ec2_public_images.go).
	PublicImageTags map[string]map[string]string `json:"publicImageTags,omitempty"`
}

func newState() *state {
	return &state{
		NextIP:          1,
		Instances:       map[string]*instance{},
		Images:          map[string]*image{},
		SecurityGroups:  map[string]*securityGroup{},
		LaunchTemplates: map[string]*launchTemplate{},
		LaunchConfigs:   map[string]*launchConfig{},
		Groups:          map[string]*group{},
		ELBs:            map[string]*classicLB{},
		TargetGroups:    map[string]*targetGroup{},
		LoadBalancersV2: map[string]*loadBalancerV2{},
		ClientTokens:    map[string]string{},
		Snapshots:       map[string]*snapshot{},
		KeyPairs:        map[string]*keyPair{},
		Parameters:      map[string]*ssmParameter{},
		KMSKeys:         map[string]string{},
		PublicImageTags: map[string]map[string]string{},
	}
}

// EC2 instance states and their codes [API_InstanceState].
const (
	statePending      = "pending"
	stateRunning      = "running"
	stateShuttingDown = "shutting-down"
	stateTerminated   = "terminated"
)

var stateCodes = map[string]int{statePending: 0, stateRunning: 16, stateShuttingDown: 32, stateTerminated: 48}

type instance struct {
	ID             string            `json:"id"`
	ImageID        string            `json:"imageId"`
	InstanceType   string            `json:"instanceType"`
	PrivateIP      string            `json:"privateIp"`
	AZ             string            `json:"az"`
	State          string            `json:"state"`
	StateReason    string            `json:"stateReason,omitempty"`
	LaunchTime     time.Time         `json:"launchTime"`
	ReadyAt        time.Time         `json:"readyAt"`
	GoneAt         time.Time         `json:"goneAt,omitzero"` // shutting-down → terminated
	Tags           map[string]string `json:"tags"`
	SecurityGroups []string          `json:"securityGroups"`
	UserData       string            `json:"userData,omitempty"`
	KeyName        string            `json:"keyName,omitempty"`
	ReservationID  string            `json:"reservationId"`
	// LaunchIndex is its place in its reservation, from 0 [API_Instance:
	// AmiLaunchIndex, "the AMI launch index, which can be used to find this
	// instance in the launch group"].
	LaunchIndex int `json:"launchIndex,omitempty"`
	// Metadata are its InstanceMetadataOptions as launched (empty fields:
	// EC2's defaults); Profile its IAM instance profile, an ARN or a name.
	Metadata metadataOptions `json:"metadataOptions,omitzero"`
	Profile  string          `json:"iamInstanceProfile,omitempty"`
	// Launched from (for Auto Scaling's termination policies).
	LaunchConfig   string    `json:"launchConfig,omitempty"`
	LaunchTemplate *ltRef    `json:"launchTemplate,omitempty"`
	VisibleAt      time.Time `json:"visibleAt,omitzero"` // eventual consistency fault
	NeverHealthy   bool      `json:"neverHealthy,omitempty"`
	// Auto Scaling membership, empty Group when not in a group.
	Group        string    `json:"group,omitempty"`
	Lifecycle    string    `json:"lifecycle,omitempty"`
	Health       string    `json:"health,omitempty"`
	InServiceAt  time.Time `json:"inServiceAt,omitzero"`
	DrainUntil   time.Time `json:"drainUntil,omitzero"`
	ActivityID   string    `json:"activityId,omitempty"`
	ProtectScale bool      `json:"protectScale,omitempty"`
	Rebalance    bool      `json:"rebalance,omitempty"` // launched by AZRebalance
}

// ltRef names one launch template version.
type ltRef struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"` // as asked: a number, $Latest or $Default
}

type image struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	State       string            `json:"state"` // pending, available, deregistered
	Created     time.Time         `json:"created"`
	ReadyAt     time.Time         `json:"readyAt"`
	Tags        map[string]string `json:"tags"`
	Source      string            `json:"source,omitempty"`
	StateReason string            `json:"stateReason,omitempty"` // why it failed
	// Owner is a public image's owner account; empty: the account's own.
	Owner string `json:"owner,omitempty"`
	// Snapshot is the EBS snapshot of its root volume.
	Snapshot string `json:"snapshot,omitempty"`
	// Layer is the machine backend's filesystem layer topping the image.
	Layer string `json:"layer,omitempty"`
}

// snapshot is an EBS snapshot: the root volume of an image
// [API_Snapshot]. With machines, its data is the image's top layer.
type snapshot struct {
	ID          string            `json:"id"`
	VolumeID    string            `json:"volumeId"`
	Size        int               `json:"size"` // GiB
	Description string            `json:"description,omitempty"`
	State       string            `json:"state"` // pending, completed, error
	Started     time.Time         `json:"started"`
	Tags        map[string]string `json:"tags"`
	Layer       string            `json:"layer,omitempty"`
}

// keyPair is an EC2 key pair [API_KeyPairInfo]: only the public half is
// kept.
type keyPair struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Type        string            `json:"type"` // rsa or ed25519
	Fingerprint string            `json:"fingerprint"`
	PublicKey   string            `json:"publicKey"` // authorized_keys form
	Created     time.Time         `json:"created"`
	Tags        map[string]string `json:"tags"`
}

type securityGroup struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	VpcID       string            `json:"vpcId"`
	Tags        map[string]string `json:"tags"`
	// Ingress rules are kept and described, not enforced.
	Ingress []sgRule `json:"ingress,omitempty"`
}

// sgRule is one ingress rule: a protocol and port range from a CIDR or
// from the members of a security group.
type sgRule struct {
	Proto string `json:"proto"`
	From  int    `json:"from"`
	To    int    `json:"to"`
	CIDR  string `json:"cidr,omitempty"`
	Group string `json:"group,omitempty"`
}

type launchTemplate struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Created        time.Time         `json:"created"`
	DefaultVersion int               `json:"defaultVersion"`
	Versions       []*ltVersion      `json:"versions"` // Versions[i].Number == i+1
	Tags           map[string]string `json:"tags"`
}

type ltVersion struct {
	Number      int               `json:"number"`
	Description string            `json:"description,omitempty"`
	Created     time.Time         `json:"created"`
	Data        ltData            `json:"data"`
	InstTags    map[string]string `json:"instanceTags,omitempty"` // TagSpecification for instances
	VisibleAt   time.Time         `json:"visibleAt,omitzero"`     // eventual consistency fault
}

type ltData struct {
	ImageID        string   `json:"imageId,omitempty"`
	InstanceType   string   `json:"instanceType,omitempty"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
	UserData       string   `json:"userData,omitempty"`
	KeyName        string   `json:"keyName,omitempty"`
	// Metadata are its MetadataOptions, Profile its IamInstanceProfile
	// (an ARN or a name).
	Metadata metadataOptions `json:"metadataOptions,omitzero"`
	Profile  string          `json:"iamInstanceProfile,omitempty"`
}

type launchConfig struct {
	Name           string    `json:"name"`
	ImageID        string    `json:"imageId"`
	InstanceType   string    `json:"instanceType"`
	SecurityGroups []string  `json:"securityGroups"`
	UserData       string    `json:"userData,omitempty"`
	KeyName        string    `json:"keyName,omitempty"`
	Created        time.Time `json:"created"`
	// Metadata are its MetadataOptions (no InstanceMetadataTags: launch
	// configurations lack it); Profile its IamInstanceProfile.
	Metadata metadataOptions `json:"metadataOptions,omitzero"`
	Profile  string          `json:"iamInstanceProfile,omitempty"`
}

type group struct {
	Name                string            `json:"name"`
	ARN                 string            `json:"arn"`
	LaunchConfig        string            `json:"launchConfig,omitempty"`
	LaunchTemplate      *ltRef            `json:"launchTemplate,omitempty"`
	Min                 int               `json:"min"`
	Max                 int               `json:"max"`
	Desired             int               `json:"desired"`
	DefaultCooldown     int               `json:"defaultCooldown"`
	AZs                 []string          `json:"azs"`
	VPCZoneIdentifier   string            `json:"vpcZoneIdentifier,omitempty"`
	LoadBalancers       []string          `json:"loadBalancers"`
	TargetGroups        []string          `json:"targetGroups"`
	HealthCheckType     string            `json:"healthCheckType"`
	HealthCheckGrace    int               `json:"healthCheckGrace"`
	TerminationPolicies []string          `json:"terminationPolicies"`
	Suspended           map[string]string `json:"suspended"` // process → reason
	Tags                []groupTag        `json:"tags"`
	Created             time.Time         `json:"created"`
	NewProtected        bool              `json:"newProtected,omitempty"`
	LaunchRetryAt       time.Time         `json:"launchRetryAt,omitzero"`
	NextHealthCheck     time.Time         `json:"nextHealthCheck,omitzero"`
	FailingSince        time.Time         `json:"failingSince,omitzero"` // first failed launch since the last success
	// DesiredCause is the request that last changed desired capacity
	// ("At <time> a user request ..."), until the group reaches it: the
	// causes of the launches and terminations it brings begin with it.
	DesiredCause string `json:"desiredCause,omitempty"`
}

type groupTag struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	Propagate bool   `json:"propagate"`
}

type activity struct {
	ID          string    `json:"id"`
	Group       string    `json:"group"`
	Description string    `json:"description"`
	Cause       string    `json:"cause"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end,omitzero"`
	Status      string    `json:"status"` // InProgress, Successful, Failed
	StatusMsg   string    `json:"statusMsg,omitempty"`
	Progress    int       `json:"progress"`
}

type classicLB struct {
	Name        string             `json:"name"`
	DNSName     string             `json:"dnsName"`
	Created     time.Time          `json:"created"`
	Listeners   []elbListener      `json:"listeners"`
	AZs         []string           `json:"azs"`
	Subnets     []string           `json:"subnets,omitempty"`
	SecGroups   []string           `json:"secGroups,omitempty"`
	Tags        map[string]string  `json:"tags,omitempty"`
	Scheme      string             `json:"scheme"`
	HealthCheck healthCheck        `json:"healthCheck"`
	Members     map[string]*target `json:"members"` // by instance id
	Known       map[string]bool    `json:"known"`   // every instance ever registered
	// Connection draining [config-conn-drain]: off for balancers created
	// through the API.
	DrainEnabled bool `json:"drainEnabled,omitempty"`
	DrainTimeout int  `json:"drainTimeout,omitempty"`
}

type elbListener struct {
	Protocol         string `json:"protocol"`
	Port             int    `json:"port"`
	InstanceProtocol string `json:"instanceProtocol"`
	InstancePort     int    `json:"instancePort"`
}

// healthCheck is a balancer's health check, in AWS seconds.
type healthCheck struct {
	Protocol  string `json:"protocol"` // HTTP, HTTPS, TCP, SSL
	Port      int    `json:"port"`
	Path      string `json:"path"`
	Interval  int    `json:"interval"`
	Timeout   int    `json:"timeout"`
	Healthy   int    `json:"healthy"`
	Unhealthy int    `json:"unhealthy"`
	Matcher   string `json:"matcher,omitempty"`  // ELBv2 HTTP codes, e.g. 200 or 200-299
	PortSpec  string `json:"portSpec,omitempty"` // ELBv2 HealthCheckPort as given: traffic-port or a number
}

// target is one registration of an instance with a balancer or target group.
type target struct {
	ID           string    `json:"id"`
	Port         int       `json:"port,omitempty"`
	Registered   time.Time `json:"registered"`
	State        string    `json:"state"`
	Reason       string    `json:"reason,omitempty"`
	Passes       int       `json:"passes"`
	Fails        int       `json:"fails"`
	Checked      bool      `json:"checked"`
	NextCheck    time.Time `json:"nextCheck"`
	DrainUntil   time.Time `json:"drainUntil,omitzero"`
	probing      bool
	probeCounter int
}

type targetGroup struct {
	ARN         string             `json:"arn"`
	Name        string             `json:"name"`
	Protocol    string             `json:"protocol"`
	Port        int                `json:"port"`
	VpcID       string             `json:"vpcId"`
	TargetType  string             `json:"targetType"`
	HealthCheck healthCheck        `json:"healthCheck"`
	DeregDelay  int                `json:"deregDelay"`
	Targets     map[string]*target `json:"targets"` // by instance id
	Created     time.Time          `json:"created"`
	Tags        map[string]string  `json:"tags,omitempty"`
}

// loadState reads a state file; a missing file is an empty account.
func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return newState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	st := newState()
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("parse state %s: %w", path, err)
	}
	// Accounts saved before snapshots and key pairs existed.
	if st.Snapshots == nil {
		st.Snapshots = map[string]*snapshot{}
	}
	if st.KeyPairs == nil {
		st.KeyPairs = map[string]*keyPair{}
	}
	if st.Parameters == nil {
		st.Parameters = map[string]*ssmParameter{}
	}
	if st.LoadBalancersV2 == nil {
		st.LoadBalancersV2 = map[string]*loadBalancerV2{}
	}
	if st.KMSKeys == nil {
		st.KMSKeys = map[string]string{}
	}
	if st.PublicImageTags == nil {
		st.PublicImageTags = map[string]map[string]string{}
	}
	return st, nil
}

// saveState writes st to path atomically: a temporary file in the same
// directory, fsynced, then renamed over path.
func saveState(path string, st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}
