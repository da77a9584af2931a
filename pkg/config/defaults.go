package config

import (
	"fmt"
	"strings"
	"time"
)

// The defaults of every optional setting, in one place. docs/configuration.md
// mirrors this file; TestDefaultsDocumented keeps the two in step.
const (
	DefaultStateDir     = "/var/lib/ferry"
	DefaultSchemaMarker = ".ferry/schema-version"
	DefaultNotesRef     = "refs/notes/ferry"
	DefaultPollInterval = time.Minute

	DefaultLaunchKind = LaunchTemplate
	// IMDSv2 only, hop limit 1, on the launch sources Ferry makes.
	DefaultHTTPTokens       = "required"
	DefaultMetadataHopLimit = 1
	DefaultSerialBatchSize  = 1
	DefaultSerialMode       = SerialSurge
	DefaultMinHealthy       = 1
	// DefaultDeployPoll paces a deploy's waits: prompt enough, and far below
	// Auto Scaling's request rate limits.
	DefaultDeployPoll = 5 * time.Second

	DefaultInstancesInService = 15 * time.Minute
	DefaultHealthyInBalancers = 10 * time.Minute
	DefaultDrain              = 10 * time.Minute
	DefaultCommand            = 30 * time.Minute
	DefaultLockLease          = 2 * time.Minute
	DefaultBake               = 30 * time.Minute
	DefaultImagesKeep         = 5

	DefaultSSHPort           = 22
	DefaultSSHConnectTimeout = 15 * time.Second
	// DefaultSSHKeepAlive matches remote.DefaultKeepAlive.
	DefaultSSHKeepAlive = 15 * time.Second
	// DefaultSSHKnownHosts is relative to the project's state dir.
	DefaultSSHKnownHosts = "ssh_known_hosts"

	DefaultWindowTimeZone = "UTC"
	DefaultWindowMode     = WindowAllow
	DefaultNotes          = true
	// DefaultForgeContext is prefixed to the environment's name.
	DefaultForgeContext = "ferry/"
)

// Values of the enumerated settings.
const (
	LaunchTemplate      = "template"
	LaunchConfiguration = "configuration"

	LaunchImageBake = "bake"

	// ImagesCachePrevious starts a bake's builder from the environment's
	// newest baked image (of the same base image); ImagesCacheNone from
	// the base image always.
	ImagesCachePrevious = "previous"
	ImagesCacheNone     = "none"

	MethodFull   = "full"
	MethodSerial = "serial"

	SerialSurge            = "surge"
	SerialReplaceUnhealthy = "replace-unhealthy"

	WindowAllow = "allow"
	WindowDeny  = "deny"

	VerifyNone = "none"
	VerifyHead = "head"
	VerifyTag  = "tag"

	// The seed's server types: two groups, and three long-lived servers
	// (the cache server runs the queue too).
	ServerWeb       = "web"
	ServerWorker    = "worker"
	ServerCache     = "cache"
	ServerDBPrimary = "db-primary"
	ServerDBReplica = "db-replica"

	ForgeGitHub = "github"
	ForgeGitLab = "gitlab"
	ForgeGitea  = "gitea"

	NotifySlack   = "slack"
	NotifyWebhook = "webhook"
	NotifyExec    = "exec"

	// The events a [[notify]] target can be sent (pkg/notify sends them).
	EventStarted          = "started"
	EventSucceeded        = "succeeded"
	EventRolledBack       = "rolled-back"
	EventFailed           = "failed"
	EventAwaitingApproval = "awaiting-approval"
	EventBakeFailed       = "bake-failed"
)

// CreateServerTypes are the keys of [environments.NAME.create.servers], in
// the order env create makes them.
var CreateServerTypes = []string{ServerCache, ServerDBPrimary, ServerDBReplica, ServerWeb, ServerWorker}

// IsGroupServer reports a server type Ferry runs in an Auto Scaling group.
func IsGroupServer(t string) bool { return t == ServerWeb || t == ServerWorker }

// DefaultBalancerName is the classic load balancer env create makes when
// load_balancers names none: "<project>-<env>" in what ELB allows (1-32
// letters, digits and '-', not at either end).
func DefaultBalancerName(project, env string) string {
	b := []byte(project + "-" + env)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b[:min(len(b), 32)]), "-")
}

// NotifyEvents lists every event, in the order the docs show them.
var NotifyEvents = []string{EventStarted, EventSucceeded, EventRolledBack, EventFailed, EventAwaitingApproval, EventBakeFailed}

// defaultConfig is where decoding starts: every optional project setting
// already holds its default, so a key present in the file overrides it and
// an absent one keeps it.
func defaultConfig() *Config {
	return &Config{
		Project: Project{
			StateDir:     DefaultStateDir,
			SchemaMarker: DefaultSchemaMarker,
			Git: Git{
				NotesRef:     DefaultNotesRef,
				PollInterval: Duration(DefaultPollInterval),
			},
		},
	}
}

// setDefaults fills a new environment before its table is decoded onto it.
func (e *Environment) setDefaults() {
	*e = Environment{
		Launch: Launch{Kind: DefaultLaunchKind, HTTPTokens: DefaultHTTPTokens, MetadataHopLimit: DefaultMetadataHopLimit},
		Policy: Policy{
			Methods:         []string{MethodFull, MethodSerial},
			SerialBatchSize: DefaultSerialBatchSize,
			SerialMode:      DefaultSerialMode,
			MinHealthy:      DefaultMinHealthy,
			PollInterval:    Duration(DefaultDeployPoll),
			Timeouts: Timeouts{
				InstancesInService: Duration(DefaultInstancesInService),
				HealthyInBalancers: Duration(DefaultHealthyInBalancers),
				Drain:              Duration(DefaultDrain),
				Command:            Duration(DefaultCommand),
				LockLease:          Duration(DefaultLockLease),
				Bake:               Duration(DefaultBake),
			},
		},
		SSH: SSH{
			Port:              DefaultSSHPort,
			ConnectTimeout:    Duration(DefaultSSHConnectTimeout),
			KeepAliveInterval: Duration(DefaultSSHKeepAlive),
		},
		Status: Status{Notes: DefaultNotes},
		Images: Images{Keep: DefaultImagesKeep, Cache: ImagesCachePrevious},
	}
}

// setDefaults fills a new server type before its table is decoded onto it:
// one server unless count says otherwise (0 is an empty group).
func (s *CreateServer) setDefaults() { *s = CreateServer{Count: 1} }

// setDefaults fills a new window before its table is decoded onto it.
func (w *Window) setDefaults() {
	*w = Window{TimeZone: DefaultWindowTimeZone, Mode: DefaultWindowMode}
}

// finish fills the defaults that depend on other values, once decoding is
// done: they cannot be known before the whole file is read.
func (c *Config) finish() {
	for name, env := range c.Environments {
		env.Name = name
		if env.Verify == "" {
			// A release tag is a decision someone signs; a branch head
			// may be anyone's push.
			env.Verify = VerifyNone
			if env.Tag != "" {
				env.Verify = VerifyTag
			}
		}
		if cr := env.Create; cr != nil {
			// The balancer env create makes, unless one is named.
			if len(env.LoadBalancers.Classic) == 0 && len(env.LoadBalancers.TargetGroups) == 0 {
				env.LoadBalancers.Classic = []string{DefaultBalancerName(c.Project.Name, name)}
			}
			for _, s := range cr.Servers {
				if s != nil && s.Max == 0 {
					s.Max = s.Count
				}
			}
		}
		if env.SSH.KnownHosts == "" {
			env.SSH.KnownHosts = joinPath(c.Project.StateDir, DefaultSSHKnownHosts)
		}
		for i := range env.Status.Forges {
			if env.Status.Forges[i].Context == "" {
				env.Status.Forges[i].Context = DefaultForgeContext + name
			}
		}
	}
	for i := range c.Notify {
		if n := &c.Notify[i]; n.Name == "" {
			n.Name = fmt.Sprintf("%s-%d", n.Kind, i+1)
		}
	}
}
