package config

// Config is a whole project file.
type Config struct {
	// File is the path the config was read from; relative paths inside it
	// are resolved against its directory.
	File string `toml:"-"`

	Project      Project                 `toml:"project"`
	Agent        Agent                   `toml:"agent"`
	Environments map[string]*Environment `toml:"environments"`
	// Notify lists where deploy events are sent ([[notify]]).
	Notify []Notify `toml:"notify"`

	// pos places keys on lines, for the errors of CheckFiles.
	pos positions
}

// Notify is one notification target: a Slack incoming webhook, a generic
// JSON webhook signed with a shared secret, or a local command given the
// event on stdin. See docs/notifications.md.
type Notify struct {
	// Name names the target in logs and metrics; default "KIND-N" (its
	// place in the file, from 1).
	Name string `toml:"name"`
	// Kind is "slack", "webhook" or "exec".
	Kind string `toml:"kind"`
	// URL is where a webhook is POSTed. URLFile reads it from a file
	// instead: a Slack incoming webhook's URL is its token, so slack
	// targets take url_file only.
	URL     string `toml:"url"`
	URLFile string `toml:"url_file"`
	// SecretFile holds the webhook's shared HMAC-SHA256 secret (required
	// for kind webhook).
	SecretFile string `toml:"secret_file"`
	// Command is the exec target's command and arguments.
	Command []string `toml:"command"`
	// Environments and Events filter what is sent; empty sends all.
	Environments []string `toml:"environments"`
	Events       []string `toml:"events"`
}

// Agent configures what ferry run serves besides deploying.
type Agent struct {
	UI AgentUI `toml:"ui"`
}

// AgentUI configures the dashboard's actions (pause, resume, retry,
// approve, reject) and the listener's TLS. Actions are off unless
// TokenFile is set; with it, each action needs the token.
type AgentUI struct {
	// TokenFile holds the token an action must carry. Actions are refused
	// on a listener that is not loopback unless it serves TLS: the token
	// would cross the network in the clear.
	TokenFile string `toml:"token_file"`
	// TLSCertFile and TLSKeyFile (PEM), both or neither, make the
	// listener serve HTTPS: the dashboard, /healthz, /metrics and
	// /hooks/git alike.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
}

// Project describes the repository Ferry watches and where it keeps state.
type Project struct {
	// Name prefixes every launch configuration/template Ferry creates.
	Name string `toml:"name"`
	// StateDir holds the git mirror, journals, per-server logs.
	StateDir string `toml:"state_dir"`
	// SchemaMarker is the repository path whose change forces a full deploy.
	SchemaMarker string `toml:"schema_marker"`
	// FullDeployGlobs are path globs (doublestar syntax) whose change also
	// forces a full deploy, e.g. "**/migrations/*.py".
	FullDeployGlobs []string `toml:"full_deploy_globs"`

	Git Git `toml:"git"`
}

// Git is the remote repository and how it is polled.
type Git struct {
	URL string `toml:"url"`
	// NotesRef is where deploy outcomes are recorded as git notes.
	NotesRef string `toml:"notes_ref"`
	// PollInterval is the time between two polls of the remote's refs.
	// PollCron, when set, replaces it with a cron schedule.
	PollInterval Duration `toml:"poll_interval"`
	PollCron     string   `toml:"poll_cron"`

	SSH   *GitSSH   `toml:"ssh"`
	HTTPS *GitHTTPS `toml:"https"`
	// Webhook lets the forge trigger an immediate poll (POST /hooks/git).
	Webhook *GitWebhook `toml:"webhook"`
}

// GitWebhook is the shared secret webhook requests are signed with (GitHub,
// Gitea, generic HMAC) or carry (GitLab), read from a file or an
// environment variable.
type GitWebhook struct {
	SecretFile string `toml:"secret_file"`
	SecretEnv  string `toml:"secret_env"`
}

// GitSSH authenticates to an ssh:// or scp-style remote.
type GitSSH struct {
	KeyFile    string `toml:"key_file"`
	KnownHosts string `toml:"known_hosts"`
}

// GitHTTPS authenticates to an https:// remote with a token that is read
// from a file or an environment variable, never written in the config.
type GitHTTPS struct {
	Username  string `toml:"username"`
	TokenFile string `toml:"token_file"`
	TokenEnv  string `toml:"token_env"`
}

// Environment is one deploy target: what triggers it, where it runs and how
// it is deployed.
type Environment struct {
	// Name is the key under [environments].
	Name string `toml:"-"`

	// Branch deploys the branch's head; Tag deploys the highest semver tag
	// matching the pattern (e.g. "v*"). Exactly one is set.
	Branch string `toml:"branch"`
	Tag    string `toml:"tag"`

	// Verify says which signature a target must carry to be deployed:
	// "none", "head" (the commit) or "tag" (the release tag). Default
	// "tag" for tag-triggered environments, "none" for branches.
	Verify      string      `toml:"verify"`
	TrustedKeys TrustedKeys `toml:"trusted_keys"`

	AWS AWS `toml:"aws"`
	// Groups maps a role (see package roles) to its Auto Scaling group name.
	Groups map[string]string `toml:"groups"`
	// Hosts lists the servers of a role that has no Auto Scaling group
	// (the long-lived database, cache and queue servers) by address; its
	// post_deploy hook runs on them over SSH.
	Hosts         map[string][]string `toml:"hosts"`
	LoadBalancers LoadBalancers       `toml:"load_balancers"`
	Launch        Launch              `toml:"launch"`
	Policy        Policy              `toml:"policy"`
	SSH           SSH                 `toml:"ssh"`
	// Hooks overrides the commands a role runs at a deploy hook:
	// [environments.NAME.hooks.ROLE] HOOK = ["command", ...].
	Hooks   map[string]map[string][]string `toml:"hooks"`
	Windows []Window                       `toml:"windows"`
	Status  Status                         `toml:"status"`
	// Images is what Ferry keeps of the images it bakes.
	Images Images `toml:"images"`
	// Secrets are where the environment's secrets come from; nil when it
	// has none.
	Secrets *Secrets `toml:"secrets"`
	// Protected refuses `ferry env destroy` unless it is given
	// --yes-destroy-NAME (production).
	Protected bool `toml:"protected"`
	// Create is what `ferry env create` builds; nil for an environment
	// whose servers Ferry did not make.
	Create *Create `toml:"create"`
}

// Create describes an environment `ferry env create` builds from nothing:
// the seed's five server types, behind one classic load balancer.
type Create struct {
	// Subnets place the servers, groups and balancer; empty: the default
	// VPC's default subnets, one per zone.
	Subnets []string `toml:"subnets"`
	// Recipes is a directory laid over the default role recipes, file by
	// file; empty: the defaults.
	Recipes string `toml:"recipes"`
	// SSHFrom are the networks (CIDR) Ferry's SSH reaches the servers
	// from, besides the environment's own servers.
	SSHFrom []string `toml:"ssh_from"`
	// Certificate is the ARN of the certificate (ACM or IAM) the
	// balancer's HTTPS listener presents; AWS requires one.
	Certificate string `toml:"certificate"`
	// Servers maps a server type (CreateServerTypes) to its size.
	Servers map[string]*CreateServer `toml:"servers"`
	// AppModule is the app's Django package (APP_MODULE.settings,
	// APP_MODULE.wsgi:application, celery -A APP_MODULE); default "app".
	AppModule string `toml:"app_module"`
	// FerryBinary is the ferry binary the web and worker servers get as
	// /usr/local/bin/ferry (their boot unit fetches the secrets with it);
	// default: the running ferry's own executable (same OS and
	// architecture as the servers).
	FerryBinary string `toml:"ferry_binary"`
	// InstanceEndpoint is the AWS endpoint as the servers reach it, for a
	// simulator only (e.g. http://172.31.0.1:4566); default: AWS's own.
	InstanceEndpoint string `toml:"instance_endpoint"`
}

// DefaultAppModule is create.app_module's default.
const DefaultAppModule = "app"

// CreateServer is one server type's size and image.
type CreateServer struct {
	InstanceType string `toml:"instance_type"`
	// ImageID is the image it starts from; default launch.image_id, else
	// launch.base_image when that is an ami-… id. The groups' servers
	// start from the baked image of the first commit with image = "bake".
	ImageID string `toml:"image_id"`
	// Count is a group's minimum and desired size (default 1); a
	// long-lived server is one.
	Count int `toml:"count"`
	// Max is a group's maximum size (default Count).
	Max int `toml:"max"`
}

// Secrets name an environment's secret sources: a dotenv file on the
// bastion and/or a path in SSM Parameter Store. `ferry secrets push` puts
// them under /<project>/<env>/ and hands them to the servers.
type Secrets struct {
	// File is a dotenv file (KEY=value lines) readable by Ferry's user
	// only.
	File string `toml:"file"`
	// Path is an SSM Parameter Store path ("/shop/production/") whose
	// parameters (SecureString, decrypted) are secrets too; the file's
	// value wins for a name in both.
	Path string `toml:"path"`
	// KMSKeyID is the KMS key the pushed SecureString parameters are
	// encrypted with; empty uses the account's default, alias/aws/ssm.
	KMSKeyID string `toml:"kms_key_id"`
}

// Images bounds the images an environment's bakes leave (launch.image =
// "bake").
type Images struct {
	// Keep is how many baked images are kept, newest first, besides those
	// in use; older ones are deregistered and their snapshots deleted
	// after each bake.
	Keep int `toml:"keep"`
	// Cache is what a bake's builder starts from: "previous" (the
	// environment's newest baked image made from the same base image, so
	// what the build hooks installed outside the release is there already;
	// the base image when there is none) or "none" (the base image).
	Cache string `toml:"cache"`
}

// TrustedKeys are the keys whose signatures Ferry accepts.
type TrustedKeys struct {
	// OpenPGP is an armored keyring file.
	OpenPGP string `toml:"openpgp"`
	// SSHAllowedSigners is an allowed_signers file (ssh-keygen(1)).
	SSHAllowedSigners string `toml:"ssh_allowed_signers"`
}

// AWS locates the environment's account and region.
type AWS struct {
	Region string `toml:"region"`
	// Endpoint overrides every service endpoint (e.g. the simulator).
	Endpoint string `toml:"endpoint"`
	// Profile selects a shared-config profile; empty uses the default chain.
	Profile string `toml:"profile"`
}

// LoadBalancers lists every balancer the web instances serve behind.
type LoadBalancers struct {
	Classic      []string `toml:"classic"`
	TargetGroups []string `toml:"target_groups"`
}

// Launch describes the launch source Ferry creates for each commit. Fields
// left empty are copied from the group's current launch source.
type Launch struct {
	// Kind is "template" (launch template versions) or "configuration"
	// (launch configurations, for existing groups only).
	Kind string `toml:"kind"`
	// Template names the launch template to add versions to (kind template).
	Template string `toml:"template"`
	// Image is how new instances get the commit's code: "" (image_id or
	// the group's image, the code delivered some other way) or "bake"
	// (LaunchImageBake: an image per commit, baked from BaseImage by
	// pkg/bake, which the launch source of the commit then names).
	Image string `toml:"image"`
	// BaseImage is the image a bake's builder starts from, by id (ami-…)
	// or name; required with image = "bake".
	BaseImage          string   `toml:"base_image"`
	ImageID            string   `toml:"image_id"`
	InstanceType       string   `toml:"instance_type"`
	SecurityGroups     []string `toml:"security_groups"`
	KeyName            string   `toml:"key_name"`
	IAMInstanceProfile string   `toml:"iam_instance_profile"`
	// BuilderInstanceProfile is the instance profile of a bake's builder:
	// none by default. The builder runs the commit's build hooks, code
	// from git; with the groups' profile they could read the
	// environment's secrets from SSM, which must never reach an image.
	BuilderInstanceProfile string `toml:"builder_instance_profile"`
	// UserDataFile is a text/template rendered with the commit.
	UserDataFile string `toml:"user_data_file"`
	// HTTPTokens is the instance metadata service's HttpTokens on the
	// launch sources Ferry makes: "required" (IMDSv2 only, the default: the
	// instance profile's credentials, which read the secrets, are not
	// readable through IMDSv1) or "optional".
	HTTPTokens string `toml:"http_tokens"`
	// MetadataHopLimit is HttpPutResponseHopLimit (1-64, default 1: a
	// container on the instance cannot reach the metadata service).
	MetadataHopLimit int `toml:"metadata_hop_limit"`
}

// Policy bounds what a deploy may do.
type Policy struct {
	// Methods lists the deploy methods allowed: "full", "serial".
	Methods []string `toml:"methods"`
	// SerialBatchSize is how many instances a serial deploy replaces at once.
	SerialBatchSize int `toml:"serial_batch_size"`
	// SerialMode is "surge" (add, then remove: capacity never dips) or
	// "replace-unhealthy" (the seed's: mark unhealthy, wait for replacement).
	SerialMode string `toml:"serial_mode"`
	// MinHealthy is the fewest healthy web instances a deploy may leave
	// serving at any time.
	MinHealthy int `toml:"min_healthy"`
	// Confirm asks a person to confirm `ferry deploy` (production).
	Confirm bool `toml:"confirm"`
	// PollInterval is how often a deploy looks at AWS while it waits.
	PollInterval Duration `toml:"poll_interval"`
	// PushSecrets makes a deploy run `ferry secrets push` first (under the
	// lock, before anything changes): a deploy whose secrets cannot be
	// pushed does not start.
	PushSecrets bool `toml:"push_secrets"`
	// Approve lists the methods whose deploys the agent does not start
	// until a person runs `ferry approve ENV SHA` ("full": the downtime of
	// the upgrade page). Empty: the agent asks nobody.
	Approve []string `toml:"approve"`
	// BakeAhead makes the agent bake the image of a new target while the
	// deploy window is closed (launch.image = "bake"), so that the deploy
	// is fast when the window opens.
	BakeAhead bool `toml:"bake_ahead"`

	Timeouts Timeouts `toml:"timeouts"`
}

// Timeouts bound every wait of a deploy; none may be zero.
type Timeouts struct {
	// InstancesInService: new instances reach InService in their group.
	InstancesInService Duration `toml:"instances_in_service"`
	// HealthyInBalancers: new instances pass every balancer's health check.
	HealthyInBalancers Duration `toml:"healthy_in_balancers"`
	// Drain: old instances leave the balancers and terminate.
	Drain Duration `toml:"drain"`
	// Command: one hook command over SSH.
	Command Duration `toml:"command"`
	// LockLease: the environment lock's lease, renewed while a deploy runs.
	LockLease Duration `toml:"lock_lease"`
	// Bake: a bake's builder running and reachable, and its image
	// available, each (the build hook has Command's bound).
	Bake Duration `toml:"bake"`
}

// SSH is how Ferry reaches instances to run role hooks.
type SSH struct {
	User string `toml:"user"`
	Port int    `toml:"port"`
	// KeyFile is the private key; empty uses the SSH agent.
	KeyFile    string `toml:"key_file"`
	KnownHosts string `toml:"known_hosts"`
	// TrustOnFirstUse records an unknown host's key in KnownHosts instead of
	// refusing it; a changed key is always refused.
	TrustOnFirstUse bool     `toml:"trust_on_first_use"`
	ConnectTimeout  Duration `toml:"connect_timeout"`
	// KeepAliveInterval is how often a connection to an instance is
	// checked; one silent for three intervals (a partition, an instance
	// gone without a reset) fails its command instead of hanging it
	// until timeouts.command.
	KeepAliveInterval Duration `toml:"keepalive_interval"`
}

// Window opens (allow) or closes (deny) deploys from each time Cron fires,
// for Duration, in TimeZone. With any allow window, deploys happen only
// inside one; deny wins over allow.
type Window struct {
	Cron     string   `toml:"cron"`
	Duration Duration `toml:"duration"`
	TimeZone string   `toml:"time_zone"`
	Mode     string   `toml:"mode"`
}

// Status says where outcomes are reported.
type Status struct {
	// Notes records outcomes as git notes on the deployed commit.
	Notes  bool    `toml:"notes"`
	Forges []Forge `toml:"forge"`
}

// Forge reports outcomes as commit statuses on GitHub, GitLab or Gitea.
type Forge struct {
	Provider   string `toml:"provider"`
	APIURL     string `toml:"api_url"`
	Repository string `toml:"repository"`
	TokenFile  string `toml:"token_file"`
	TokenEnv   string `toml:"token_env"`
	// Context is the status context; default "ferry/<env>".
	Context   string `toml:"context"`
	TargetURL string `toml:"target_url"`
}
