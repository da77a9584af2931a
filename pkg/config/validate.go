package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // windows name IANA zones; a bastion may lack /usr/share/zoneinfo

	"github.com/bmatcuk/doublestar/v4"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/robfig/cron/v3"

	"github.com/ferry-deploy/ferry/pkg/roles"
)

var (
	// Names end up in AWS resource names (launch templates allow letters,
	// digits and ._-/()) and in git ref names, so keep them plain.
	projectNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	envNameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	regionRE      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	envVarRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	targetGroupRE = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]+$`)
)

// validator checks a decoded config for what the schema's types cannot say.
type validator struct {
	pos  positions
	errs *errorList
	envs map[string]*Environment
}

func validate(c *Config, pos positions, errs *errorList) {
	v := &validator{pos: pos, errs: errs, envs: c.Environments}
	v.project(&c.Project)
	v.environments(c)
	v.agentUI(&c.Agent.UI)
	for i := range c.Notify {
		v.notify(keyPath{"notify"}.index(i), &c.Notify[i])
	}
}

// agentUI: the listener's certificate and key come together.
func (v *validator) agentUI(ui *AgentUI) {
	at := keyPath{"agent", "ui"}
	switch {
	case ui.TLSCertFile != "" && ui.TLSKeyFile == "":
		v.fail(at.key("tls_cert_file"), "set tls_key_file too: the listener serves TLS with both or neither")
	case ui.TLSCertFile == "" && ui.TLSKeyFile != "":
		v.fail(at.key("tls_key_file"), "set tls_cert_file too: the listener serves TLS with both or neither")
	}
}

func (v *validator) fail(p keyPath, format string, args ...any) {
	v.errs.add(p, v.pos.line(p), format, args...)
}

// required reports a missing value at p, placed on the line of p's table.
func (v *validator) required(p keyPath, value string, what string) bool {
	if strings.TrimSpace(value) == "" {
		v.fail(p, "missing required value: %s", what)
		return false
	}
	return true
}

func (v *validator) positive(p keyPath, d Duration) {
	if d <= 0 {
		v.fail(p, "must be a positive duration, such as \"30s\" or \"10m\" (got %s)", d)
	}
}

func (v *validator) project(p *Project) {
	// A project's secrets live under /<name>/<env>/ in SSM.
	for _, env := range v.envs {
		if env.Secrets != nil && ssmReserved(p.Name) {
			v.fail(keyPath{"project", "name"}, "%q cannot hold secrets: SSM reserves parameter names beginning with \"aws\" or \"ssm\" and secrets go under /%s/ENV/", p.Name, p.Name)
			break
		}
	}
	at := keyPath{"project"}
	if v.required(at.key("name"), p.Name, "the project's name") && !projectNameRE.MatchString(p.Name) {
		v.fail(at.key("name"), "%q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", p.Name)
	}
	v.required(at.key("state_dir"), p.StateDir, "a directory for Ferry's state")
	if m := p.SchemaMarker; m == "" || path.IsAbs(m) || strings.HasPrefix(path.Clean(m), "..") {
		v.fail(at.key("schema_marker"), "%q: must be a path inside the repository, such as %q", m, DefaultSchemaMarker)
	}
	for i, g := range p.FullDeployGlobs {
		if !doublestar.ValidatePattern(g) {
			v.fail(at.key("full_deploy_globs").index(i), "%q is not a valid glob pattern", g)
		}
	}
	v.git(at.key("git"), &p.Git)
}

func (v *validator) git(at keyPath, g *Git) {
	if g.NotesRef != "" {
		if !strings.HasPrefix(g.NotesRef, "refs/notes/") || plumbing.ReferenceName(g.NotesRef).Validate() != nil {
			v.fail(at.key("notes_ref"), "%q: must be a valid ref under refs/notes/", g.NotesRef)
		}
	} else {
		v.fail(at.key("notes_ref"), "missing required value: the ref that holds deploy notes")
	}
	if g.PollCron != "" {
		v.cron(at.key("poll_cron"), g.PollCron, "")
	} else {
		v.positive(at.key("poll_interval"), g.PollInterval)
	}
	if w := g.Webhook; w != nil {
		switch {
		case w.SecretFile == "" && w.SecretEnv == "":
			v.fail(at.key("webhook"), "set secret_file or secret_env (the secret is never written in the config)")
		case w.SecretFile != "" && w.SecretEnv != "":
			v.fail(at.key("webhook"), "set only one of secret_file and secret_env")
		case w.SecretEnv != "" && !envVarRE.MatchString(w.SecretEnv):
			v.fail(at.key("webhook").key("secret_env"), "%q is not an environment variable name", w.SecretEnv)
		}
	}
	if !v.required(at.key("url"), g.URL, "the repository's URL") {
		return
	}
	switch transport(g.URL) {
	case "ssh":
		if g.HTTPS != nil {
			v.fail(at.key("https"), "https credentials given for an SSH remote %s", redactURL(g.URL))
		}
		if g.SSH == nil {
			v.fail(at.key("ssh"), "an SSH remote needs [project.git.ssh] with key_file and known_hosts")
			return
		}
		v.required(at.key("ssh").key("key_file"), g.SSH.KeyFile, "the SSH private key file")
		v.required(at.key("ssh").key("known_hosts"), g.SSH.KnownHosts, "a known_hosts file (host keys are always checked)")
	case "https", "http":
		if g.SSH != nil {
			v.fail(at.key("ssh"), "SSH credentials given for an HTTP remote %s", redactURL(g.URL))
		}
		if u, _ := url.Parse(g.URL); u != nil && u.User != nil {
			v.fail(at.key("url"), "credentials in the URL: use [project.git.https] with token_file or token_env")
		}
		if g.HTTPS != nil {
			v.tokenSource(at.key("https"), g.HTTPS.TokenFile, g.HTTPS.TokenEnv)
		}
	case "file", "git":
		if g.SSH != nil || g.HTTPS != nil {
			v.fail(at.key("url"), "credentials given for a remote that takes none: %s", g.URL)
		}
	default:
		v.fail(at.key("url"), "%q: use an ssh://, scp-style (git@host:path), https://, git:// or file:// URL, or an absolute path", g.URL)
	}
}

// transport classifies a git URL as go-git would reach it.
func transport(raw string) string {
	if strings.HasPrefix(raw, "/") {
		return "file"
	}
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Scheme != raw[:1] {
		switch u.Scheme {
		case "ssh", "git+ssh":
			return "ssh"
		case "https", "http", "file", "git":
			if u.Scheme != "file" && u.Host == "" {
				return ""
			}
			return u.Scheme
		}
		return ""
	}
	// scp-like: [user@]host:path
	if at := strings.Index(raw, ":"); at > 0 && !strings.Contains(raw[:at], "/") {
		return "ssh"
	}
	return ""
}

// redactURL drops any user info from a URL before it goes into a message.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

func (v *validator) tokenSource(at keyPath, file, env string) {
	switch {
	case file == "" && env == "":
		v.fail(at, "set token_file or token_env (the token is never written in the config)")
	case file != "" && env != "":
		v.fail(at, "set only one of token_file and token_env")
	case env != "" && !envVarRE.MatchString(env):
		v.fail(at.key("token_env"), "%q is not an environment variable name", env)
	}
}

func (v *validator) cron(at keyPath, spec, zone string) {
	if zone != "" && !strings.HasPrefix(spec, "CRON_TZ=") && !strings.HasPrefix(spec, "TZ=") {
		spec = "CRON_TZ=" + zone + " " + spec
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		v.fail(at, "invalid cron spec: %v", err)
		return
	}
	// robfig/cron gives up after five years: a spec such as "0 0 30 2 *"
	// parses but never fires.
	if sched.Next(time.Now()).IsZero() {
		v.fail(at, "cron spec never fires")
	}
}

func (v *validator) environments(c *Config) {
	if len(c.Environments) == 0 {
		v.fail(keyPath{"environments"}, "no environment defined: add an [environments.NAME] table")
		return
	}
	names := make([]string, 0, len(c.Environments))
	for name := range c.Environments {
		names = append(names, name)
	}
	// Check in file order so "already claimed by" names the earlier one.
	slices.SortFunc(names, func(a, b string) int {
		return v.pos.line(keyPath{"environments", a}) - v.pos.line(keyPath{"environments", b})
	})
	branches := map[string]string{}
	tags := map[string]string{}
	groups := map[string]string{}
	for _, name := range names {
		env := c.Environments[name]
		at := keyPath{"environments", name}
		v.environment(at, env)
		if b := env.Branch; b != "" {
			if other, ok := branches[b]; ok {
				v.fail(at.key("branch"), "branch %q already deploys environment %q (line %d)", b, other, v.pos.line(keyPath{"environments", other, "branch"}))
			}
			branches[b] = name
		}
		if t := env.Tag; t != "" {
			if other, ok := tags[t]; ok {
				v.fail(at.key("tag"), "tag pattern %q already deploys environment %q (line %d)", t, other, v.pos.line(keyPath{"environments", other, "tag"}))
			}
			tags[t] = name
		}
		for _, role := range sortedKeys(env.Groups) {
			g := env.Groups[role]
			if other, ok := groups[g]; ok && g != "" {
				v.fail(at.key("groups").key(role), "Auto Scaling group %q is already used by %s", g, other)
			}
			groups[g] = name + "." + role
		}
	}
}

func (v *validator) environment(at keyPath, e *Environment) {
	if !envNameRE.MatchString(e.Name) {
		v.fail(at, "environment name %q: use 1-32 lowercase letters, digits or '-' (it names git refs and AWS resources)", e.Name)
	}
	switch {
	case e.Branch == "" && e.Tag == "":
		v.fail(at, "set what deploys this environment: branch = \"NAME\" or tag = \"PATTERN\" (e.g. \"v*\")")
	case e.Branch != "" && e.Tag != "":
		v.fail(at.key("tag"), "set branch or tag, not both")
	case e.Branch != "":
		if err := plumbing.NewBranchReferenceName(e.Branch).Validate(); err != nil || strings.HasPrefix(e.Branch, "refs/") {
			v.fail(at.key("branch"), "%q is not a valid branch name (give the short name, e.g. \"staging\")", e.Branch)
		}
	case e.Tag != "":
		if !doublestar.ValidatePattern(e.Tag) {
			v.fail(at.key("tag"), "tag pattern %q does not compile", e.Tag)
		}
	}
	switch e.Verify {
	case VerifyNone:
	case VerifyHead, VerifyTag:
		if e.Verify == VerifyTag && e.Tag == "" {
			v.fail(at.key("verify"), "verify = %q needs a tag-triggered environment (this one deploys branch %q); use %q", VerifyTag, e.Branch, VerifyHead)
		}
		if e.TrustedKeys.OpenPGP == "" && e.TrustedKeys.SSHAllowedSigners == "" {
			v.fail(at.key("trusted_keys"), "verify = %q needs trusted keys: set trusted_keys.openpgp (an armored keyring) and/or trusted_keys.ssh_allowed_signers, or verify = %q", e.Verify, VerifyNone)
		}
	default:
		v.fail(at.key("verify"), "%q: use %q, %q or %q", e.Verify, VerifyNone, VerifyHead, VerifyTag)
	}
	v.aws(at.key("aws"), &e.AWS)
	v.groups(at, e)
	v.launch(at.key("launch"), &e.Launch)
	if e.Images.Keep < 1 {
		v.fail(at.key("images").key("keep"), "must be at least 1 (got %d): the image being deployed is one", e.Images.Keep)
	}
	switch e.Images.Cache {
	case ImagesCachePrevious, ImagesCacheNone:
	default:
		v.fail(at.key("images").key("cache"), "%q: use %q or %q", e.Images.Cache, ImagesCachePrevious, ImagesCacheNone)
	}
	v.policy(at.key("policy"), &e.Policy)
	v.ssh(at.key("ssh"), &e.SSH, usesSSH(e))
	v.hosts(at, e)
	v.hooks(at.key("hooks"), e)
	for i := range e.Windows {
		v.window(at.key("windows").index(i), &e.Windows[i])
	}
	for i := range e.Status.Forges {
		v.forge(at.key("status").key("forge").index(i), &e.Status.Forges[i])
	}
	if e.Create != nil {
		v.create(at, e)
	}
	if e.Secrets != nil {
		v.secrets(at.key("secrets"), e.Secrets)
	} else if e.Policy.PushSecrets {
		v.fail(at.key("policy").key("push_secrets"), "there are no secrets to push: add [%s.secrets] with file and/or path", at)
	}
	if e.Policy.BakeAhead && e.Launch.Image != LaunchImageBake {
		v.fail(at.key("policy").key("bake_ahead"), "there is no image to bake: set launch.image = %q and launch.base_image", LaunchImageBake)
	}
}

var (
	// SSM parameter names: letters, digits and _.-, levels split by /
	// (sysman-parameter-name-constraints).
	ssmPathRE  = regexp.MustCompile(`^(/[A-Za-z0-9_.-]+)+/?$`)
	kmsKeyIDRE = regexp.MustCompile(`^(alias/[A-Za-z0-9/_-]+|[0-9a-fA-F-]{36}|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key/[0-9a-fA-F-]{36}|alias/[A-Za-z0-9/_-]+))$`)
)

// ssmReserved reports a name SSM refuses: its first level may not begin
// with "aws" or "ssm", in any case.
func ssmReserved(name string) bool {
	first := strings.ToLower(strings.TrimPrefix(name, "/"))
	return strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm")
}

func (v *validator) secrets(at keyPath, s *Secrets) {
	if s.File == "" && s.Path == "" {
		v.fail(at, "no secret source: set file (a dotenv file on this host) and/or path (an SSM Parameter Store path)")
	}
	if s.Path != "" {
		switch {
		case !ssmPathRE.MatchString(s.Path):
			v.fail(at.key("path"), "%q is not an SSM parameter path: it starts with / and has levels of letters, digits and _.- (e.g. \"/shop/production/\")", s.Path)
		case strings.Count(strings.TrimSuffix(s.Path, "/"), "/") > 14:
			v.fail(at.key("path"), "%q is too deep: SSM names have at most 15 levels, and a secret's name adds one", s.Path)
		case ssmReserved(s.Path):
			v.fail(at.key("path"), "%q: SSM reserves names beginning with \"aws\" or \"ssm\"", s.Path)
		}
	}
	if s.KMSKeyID != "" && !kmsKeyIDRE.MatchString(s.KMSKeyID) {
		v.fail(at.key("kms_key_id"), "%q is not a KMS key id, alias (alias/NAME) or ARN", s.KMSKeyID)
	}
}

func (v *validator) aws(at keyPath, a *AWS) {
	if v.required(at.key("region"), a.Region, "the AWS region, e.g. \"us-east-1\"") && !regionRE.MatchString(a.Region) {
		v.fail(at.key("region"), "%q is not an AWS region name, such as \"us-east-1\"", a.Region)
	}
	if a.Endpoint != "" {
		u, err := url.Parse(a.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail(at.key("endpoint"), "%q: must be an http:// or https:// URL", a.Endpoint)
		}
	}
}

func (v *validator) groups(at keyPath, e *Environment) {
	if len(e.Groups) == 0 {
		v.fail(at.key("groups"), "no Auto Scaling group: add [%s.groups] with at least web = \"GROUP\"", at)
	}
	for _, role := range sortedKeys(e.Groups) {
		if _, err := roles.Parse(role); err != nil {
			v.fail(at.key("groups").key(role), "%v", err)
		}
		v.required(at.key("groups").key(role), e.Groups[role], "the Auto Scaling group's name")
	}
	lbs := at.key("load_balancers")
	if _, ok := e.Groups[string(roles.Web)]; ok && len(e.LoadBalancers.Classic) == 0 && len(e.LoadBalancers.TargetGroups) == 0 {
		v.fail(lbs, "the web group needs a load balancer: set classic = [\"NAME\"] or target_groups = [\"ARN\"]")
	}
	for i, name := range e.LoadBalancers.Classic {
		v.required(lbs.key("classic").index(i), name, "a classic load balancer's name")
	}
	for i, arn := range e.LoadBalancers.TargetGroups {
		if !targetGroupRE.MatchString(arn) {
			v.fail(lbs.key("target_groups").index(i), "%q is not a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)", arn)
		}
	}
}

func (v *validator) launch(at keyPath, l *Launch) {
	switch l.Kind {
	case LaunchTemplate:
	case LaunchConfiguration:
		if l.Template != "" {
			v.fail(at.key("template"), "a launch template is named but kind is %q", LaunchConfiguration)
		}
	default:
		v.fail(at.key("kind"), "%q: use %q or %q", l.Kind, LaunchTemplate, LaunchConfiguration)
	}
	switch l.Image {
	case "":
		if l.BaseImage != "" {
			v.fail(at.key("base_image"), "a base image is only used to bake: set image = %q too", LaunchImageBake)
		}
	case LaunchImageBake:
		v.required(at.key("base_image"), l.BaseImage, "the image a bake's builder starts from (ami-… or a name)")
		if l.ImageID != "" {
			v.fail(at.key("image_id"), "%q: with image = %q each commit's launch source names its baked image; remove one of the two", l.ImageID, LaunchImageBake)
		}
	default:
		v.fail(at.key("image"), "%q: use %q (an image per commit) or leave it out (image_id or the group's image)", l.Image, LaunchImageBake)
	}
	if l.HTTPTokens != "required" && l.HTTPTokens != "optional" {
		v.fail(at.key("http_tokens"), "%q: use \"required\" (IMDSv2 only) or \"optional\" (IMDSv1 too)", l.HTTPTokens)
	}
	if l.MetadataHopLimit < 1 || l.MetadataHopLimit > 64 {
		v.fail(at.key("metadata_hop_limit"), "must be 1-64 (got %d)", l.MetadataHopLimit)
	}
}

var (
	subnetRE       = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	amiRE          = regexp.MustCompile(`^ami-[0-9a-f]{8,17}$`)
	certRE         = regexp.MustCompile(`^arn:aws[a-z-]*:(acm:[a-z0-9-]+:[0-9]{12}:certificate/|iam::[0-9]{12}:server-certificate/)[A-Za-z0-9/_+=,.@-]+$`)
	instanceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	appModuleRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	endpointRE     = regexp.MustCompile(`^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$`)
)

// create checks what env create needs: a size and an image for every
// server, and groups only for the web and worker servers.
func (v *validator) create(envAt keyPath, e *Environment) {
	at, c := envAt.key("create"), e.Create
	for i, s := range c.Subnets {
		if !subnetRE.MatchString(s) {
			v.fail(at.key("subnets").index(i), "%q is not a subnet id (subnet-…)", s)
		}
	}
	for i, cidr := range c.SSHFrom {
		if pfx, err := netip.ParsePrefix(cidr); err != nil || !pfx.Addr().Is4() {
			v.fail(at.key("ssh_from").index(i), "%q is not an IPv4 network such as \"10.0.0.0/16\"", cidr)
		}
	}
	if c.AppModule != "" && !appModuleRE.MatchString(c.AppModule) {
		v.fail(at.key("app_module"), "%q is not a Python package name such as \"app\"", c.AppModule)
	}
	if c.InstanceEndpoint != "" && !endpointRE.MatchString(c.InstanceEndpoint) {
		v.fail(at.key("instance_endpoint"), "%q is not an http(s) URL of a host and port such as \"http://172.31.0.1:4566\"", c.InstanceEndpoint)
	}
	if c.Certificate != "" && !certRE.MatchString(c.Certificate) {
		v.fail(at.key("certificate"), "%q is not a certificate ARN (arn:aws:acm:… or arn:aws:iam::…:server-certificate/…)", c.Certificate)
	}
	if len(c.Servers) == 0 {
		v.fail(at.key("servers"), "no server to create: add [%s.servers.web] (and worker, cache, db-primary, db-replica) with instance_type", at)
	}
	for _, t := range sortedKeys(c.Servers) {
		sp := at.key("servers").key(t)
		s := c.Servers[t]
		switch {
		case t == string(roles.Queue):
			v.fail(sp, "the queue runs on the cache server (the seed's cache and queue server): size it under servers.%s", ServerCache)
			continue
		case !slices.Contains(CreateServerTypes, t):
			v.fail(sp, "unknown server type %q: use one of %s", t, strings.Join(CreateServerTypes, ", "))
			continue
		}
		if v.required(sp.key("instance_type"), s.InstanceType, "the server's EC2 instance type, e.g. \"t3.small\"") && !instanceTypeRE.MatchString(s.InstanceType) {
			v.fail(sp.key("instance_type"), "%q is not an EC2 instance type such as \"t3.small\"", s.InstanceType)
		}
		if s.ImageID != "" && !amiRE.MatchString(s.ImageID) {
			v.fail(sp.key("image_id"), "%q is not an image id (ami-…)", s.ImageID)
		}
		if IsGroupServer(t) {
			if e.Groups[t] == "" {
				v.fail(sp, "the %s servers run in an Auto Scaling group: name it in groups.%s", t, t)
			}
			if s.Count < 0 || s.Max < s.Count {
				v.fail(sp.key("max"), "a group's max (%d) must be at least its count (%d), which is at least 0", s.Max, s.Count)
			}
			if s.ImageID == "" && e.Launch.ImageID == "" && e.Launch.Image != LaunchImageBake {
				v.fail(sp.key("image_id"), "the %s group needs an image: set image_id here, launch.image_id, or launch.image = %q", t, LaunchImageBake)
			}
			continue
		}
		if s.Count > 1 || s.Max > 1 {
			v.fail(sp.key("count"), "a long-lived %s server is one server", t)
		}
		if s.ImageID == "" && e.Launch.ImageID == "" && !amiRE.MatchString(e.Launch.BaseImage) {
			v.fail(sp.key("image_id"), "the %s server needs an image: set image_id here, launch.image_id, or launch.base_image as an ami-… id", t)
		}
	}
	for _, role := range sortedKeys(e.Groups) {
		if !IsGroupServer(role) {
			v.fail(at.key("servers"), "env create makes the web and worker groups only; groups.%s is not one of them", role)
		} else if c.Servers[role] == nil {
			v.fail(at.key("servers").key(role), "groups.%s names a group for env create to make: size it with instance_type", role)
		}
	}
	if len(e.LoadBalancers.Classic) > 1 || len(e.LoadBalancers.TargetGroups) > 0 {
		v.fail(envAt.key("load_balancers"), "env create makes one classic load balancer: list at most one in classic, no target_groups")
	}
	if e.Launch.Kind != LaunchTemplate {
		v.fail(envAt.key("launch").key("kind"), "env create makes launch templates: use %q", LaunchTemplate)
	}
	if e.Launch.InstanceType != "" || len(e.Launch.SecurityGroups) > 0 || e.Launch.Template != "" {
		v.fail(envAt.key("launch"), "env create gives each group its own launch template, instance type and security groups: remove launch.instance_type, launch.security_groups and launch.template")
	}
}

func (v *validator) policy(at keyPath, p *Policy) {
	if len(p.Methods) == 0 {
		v.fail(at.key("methods"), "allow at least one deploy method: %q or %q", MethodFull, MethodSerial)
	}
	seen := map[string]bool{}
	for i, m := range p.Methods {
		if m != MethodFull && m != MethodSerial {
			v.fail(at.key("methods").index(i), "%q: use %q or %q", m, MethodFull, MethodSerial)
		}
		if seen[m] {
			v.fail(at.key("methods").index(i), "%q is listed twice", m)
		}
		seen[m] = true
	}
	seen = map[string]bool{}
	for i, m := range p.Approve {
		switch {
		case m != MethodFull && m != MethodSerial:
			v.fail(at.key("approve").index(i), "%q: use %q or %q", m, MethodFull, MethodSerial)
		case seen[m]:
			v.fail(at.key("approve").index(i), "%q is listed twice", m)
		case !slices.Contains(p.Methods, m):
			v.fail(at.key("approve").index(i), "%q is not in policy.methods: its deploys are refused, never approved", m)
		}
		seen[m] = true
	}
	if p.SerialBatchSize < 1 {
		v.fail(at.key("serial_batch_size"), "must be at least 1 (got %d)", p.SerialBatchSize)
	}
	if p.SerialMode != SerialSurge && p.SerialMode != SerialReplaceUnhealthy {
		v.fail(at.key("serial_mode"), "%q: use %q or %q", p.SerialMode, SerialSurge, SerialReplaceUnhealthy)
	}
	if p.MinHealthy < 0 {
		v.fail(at.key("min_healthy"), "must not be negative (got %d)", p.MinHealthy)
	}
	v.positive(at.key("poll_interval"), p.PollInterval)
	t := at.key("timeouts")
	v.positive(t.key("instances_in_service"), p.Timeouts.InstancesInService)
	v.positive(t.key("healthy_in_balancers"), p.Timeouts.HealthyInBalancers)
	v.positive(t.key("drain"), p.Timeouts.Drain)
	v.positive(t.key("command"), p.Timeouts.Command)
	v.positive(t.key("lock_lease"), p.Timeouts.LockLease)
	v.positive(t.key("bake"), p.Timeouts.Bake)
}

// usesSSH reports whether Ferry logs in to a server of e: a deploy's hook
// with commands, secrets_changed when the environment has secrets (ferry
// secrets push runs it), a bake (its builder and build hook), or the
// servers [create] provisions. Default hooks included: roles.Resolve
// applies the environment's overrides to them. A config whose hooks cannot
// be resolved is reported by hooks; it counts as using SSH here.
func usesSSH(e *Environment) bool {
	if e.Launch.Image == LaunchImageBake || e.Create != nil {
		return true
	}
	cmds, err := roles.Resolve(e.Hooks)
	if err != nil {
		return true
	}
	for _, byHook := range cmds {
		for hook, list := range byHook {
			if len(list) > 0 && hook != roles.Build && (hook != roles.SecretsChanged || e.Secrets != nil) {
				return true
			}
		}
	}
	return false
}

func (v *validator) ssh(at keyPath, s *SSH, used bool) {
	if used {
		v.required(at.key("user"), s.User, "the user Ferry logs in as on instances (some hook runs commands over SSH)")
	}
	if s.Port < 1 || s.Port > 65535 {
		v.fail(at.key("port"), "must be a TCP port, 1-65535 (got %d)", s.Port)
	}
	v.required(at.key("known_hosts"), s.KnownHosts, "a known_hosts file")
	v.positive(at.key("connect_timeout"), s.ConnectTimeout)
	v.positive(at.key("keepalive_interval"), s.KeepAliveInterval)
}

// hosts checks the servers listed for roles without an Auto Scaling group.
func (v *validator) hosts(at keyPath, e *Environment) {
	for _, role := range sortedKeys(e.Hosts) {
		p := at.key("hosts").key(role)
		if _, err := roles.Parse(role); err != nil {
			v.fail(p, "%v", err)
			continue
		}
		if _, ok := e.Groups[role]; ok {
			v.fail(p, "the %s role has an Auto Scaling group (groups.%s): its servers are that group's instances", role, role)
		}
		if len(e.Hosts[role]) == 0 {
			v.fail(p, "no servers: list their addresses, or remove the key")
		}
		seen := map[string]bool{}
		for i, h := range e.Hosts[role] {
			switch {
			case net.ParseIP(h) == nil && !hostnameRE.MatchString(h):
				v.fail(p.index(i), "%q is not a host name or IP address", h)
			case seen[h]:
				v.fail(p.index(i), "%q is listed twice", h)
			}
			seen[h] = true
		}
	}
}

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// hookRunsNowhere says why commands set for role at hook would never run
// in e, or "" when they run: the upgrade page is the web servers', the
// deploy step runs on one worker (or web server, with no worker group),
// and post_deploy on the servers of the role, from its group or hosts.
func hookRunsNowhere(e *Environment, role roles.Role, hook roles.Hook) string {
	_, web := e.Groups[string(roles.Web)]
	switch hook {
	case roles.UpgradePageOn, roles.UpgradePageOff:
		if role != roles.Web {
			return "the upgrade page runs on web servers only: set it under hooks.web"
		}
		if !web {
			return "there is no web group (groups.web) to run it on"
		}
	case roles.Deploy:
		if role != roles.Worker {
			return "the deploy step is the worker's (migrations, static media): set it under hooks.worker"
		}
		if _, worker := e.Groups[string(roles.Worker)]; !worker && !web {
			return "there is no worker or web group to run it on"
		}
	case roles.Build:
		if _, group := e.Groups[string(role)]; !group {
			return fmt.Sprintf("build runs on a bake's builder for the roles with a group, and the %s role has none (groups.%s)", role, role)
		}
		if e.Launch.Image != LaunchImageBake {
			return "build runs only when Ferry bakes the image: set launch.image = \"bake\""
		}
	case roles.PostDeploy, roles.SecretsChanged:
		_, group := e.Groups[string(role)]
		if !group && len(e.Hosts[string(role)]) == 0 {
			return fmt.Sprintf("the %s role has no Auto Scaling group (groups.%s) and no servers (hosts.%s) to run it on", role, role, role)
		}
	}
	return ""
}

func (v *validator) hooks(at keyPath, e *Environment) {
	hooks := e.Hooks
	for _, role := range sortedKeys(hooks) {
		if _, err := roles.Parse(role); err != nil {
			v.fail(at.key(role), "%v", err)
			continue
		}
		for _, hook := range sortedKeys(hooks[role]) {
			hp := at.key(role).key(hook)
			if _, err := roles.ParseHook(hook); err != nil {
				v.fail(hp, "%v", err)
				continue
			}
			r, h := roles.Role(role), roles.Hook(hook)
			if len(hooks[role][hook]) > 0 {
				if why := hookRunsNowhere(e, r, h); why != "" {
					v.fail(hp, "these commands would never run: %s", why)
					continue
				}
			}
			for i, cmd := range hooks[role][hook] {
				if strings.TrimSpace(cmd) == "" {
					v.fail(hp.index(i), "empty command")
					continue
				}
				// Render with sample values now, so a template mistake
				// shows at validate time rather than mid-deploy.
				_, err := roles.Render(r, h, []string{cmd}, roles.Vars{Commit: strings.Repeat("0", 40), ShortCommit: strings.Repeat("0", 12), Env: "check"})
				if h == roles.SecretsChanged {
					_, err = roles.RenderEnv(r, h, []string{cmd}, "check")
				}
				if err != nil {
					var re *roles.RenderError
					if errors.As(err, &re) {
						err = re.Err
					}
					places := "{{.Commit}}, {{.ShortCommit}}, {{.Env}}"
					if h == roles.SecretsChanged {
						places = "{{.Env}} only: it runs outside a deploy"
					}
					v.fail(hp.index(i), "%v (placeholders: %s)", err, places)
				}
			}
		}
	}
}

func (v *validator) window(at keyPath, w *Window) {
	zoneOK := true
	if _, err := time.LoadLocation(w.TimeZone); err != nil || w.TimeZone == "" {
		v.fail(at.key("time_zone"), "unknown time zone %q: use an IANA name such as \"Europe/Berlin\" or \"UTC\"", w.TimeZone)
		zoneOK = false
	}
	if v.required(at.key("cron"), w.Cron, "when the window opens, as a cron spec") {
		zone := w.TimeZone
		if !zoneOK {
			zone = "" // still check the spec itself
		}
		v.cron(at.key("cron"), w.Cron, zone)
	}
	v.positive(at.key("duration"), w.Duration)
	if w.Mode != WindowAllow && w.Mode != WindowDeny {
		v.fail(at.key("mode"), "%q: use %q or %q", w.Mode, WindowAllow, WindowDeny)
	}
}

func (v *validator) forge(at keyPath, f *Forge) {
	switch f.Provider {
	case ForgeGitHub, ForgeGitLab:
	case ForgeGitea:
		v.required(at.key("api_url"), f.APIURL, "the Gitea server's API URL")
	default:
		v.fail(at.key("provider"), "%q: use %q, %q or %q", f.Provider, ForgeGitHub, ForgeGitLab, ForgeGitea)
	}
	if f.APIURL != "" {
		if u, err := url.Parse(f.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail(at.key("api_url"), "%q: must be an http:// or https:// URL", f.APIURL)
		}
	}
	v.required(at.key("repository"), f.Repository, "the repository, e.g. \"owner/name\"")
	v.tokenSource(at, f.TokenFile, f.TokenEnv)
}

func (v *validator) notify(at keyPath, n *Notify) {
	switch n.Kind {
	case NotifySlack:
		if n.URL != "" {
			v.fail(at.key("url"), "a Slack incoming webhook's URL is its token: put it in a file readable by Ferry only and set url_file")
		}
		v.required(at.key("url_file"), n.URLFile, "the file holding the Slack incoming webhook's URL")
	case NotifyWebhook:
		switch {
		case n.URL == "" && n.URLFile == "":
			v.fail(at, "set url (or url_file) for a webhook target")
		case n.URL != "" && n.URLFile != "":
			v.fail(at.key("url_file"), "set only one of url and url_file")
		case n.URL != "":
			if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.fail(at.key("url"), "%q: must be an http:// or https:// URL", redactURL(n.URL))
			}
		}
		v.required(at.key("secret_file"), n.SecretFile, "the file holding the shared secret requests are signed with")
	case NotifyExec:
		if len(n.Command) == 0 || strings.TrimSpace(n.Command[0]) == "" {
			v.fail(at.key("command"), "missing required value: the command to run, e.g. [\"/usr/local/bin/page-oncall\"]")
		}
	default:
		v.fail(at.key("kind"), "%q: use %q, %q or %q", n.Kind, NotifySlack, NotifyWebhook, NotifyExec)
	}
	if n.Kind != NotifyWebhook && n.SecretFile != "" {
		v.fail(at.key("secret_file"), "only webhook targets are signed")
	}
	if n.Kind != NotifyExec && len(n.Command) > 0 {
		v.fail(at.key("command"), "only exec targets run a command")
	}
	if n.Kind == NotifyExec && (n.URL != "" || n.URLFile != "") {
		v.fail(at.key("url"), "exec targets have no URL")
	}
	for i, e := range n.Environments {
		if _, ok := v.envs[e]; !ok {
			v.fail(at.key("environments").index(i), "no environment %q in this file", e)
		}
	}
	for i, e := range n.Events {
		if !slices.Contains(NotifyEvents, e) {
			v.fail(at.key("events").index(i), "%q: use one of %s", e, strings.Join(NotifyEvents, ", "))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
