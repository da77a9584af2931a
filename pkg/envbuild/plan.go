// Package envbuild builds an environment from nothing and takes it down
// again: `ferry env create` and `ferry env destroy`. From the
// environment's [create] config it plans the seed's resources (Plan): the
// security groups, a classic load balancer, the long-lived servers (cache
// and queue, database primary and replica) and a launch template and Auto
// Scaling group each for the web and worker servers. Create makes what is
// missing of them, found again by their tags (ferry:project, ferry:env,
// ferry:role), so that a run after a failure finishes the work and never
// makes a second server; it then has every long-lived server made into its
// roles by its recipe (pkg/provision), all at once, one log each. Destroy
// removes what carries the environment's tags, in the order AWS needs.
package envbuild

import (
	"fmt"
	"slices"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// TagRole names what a resource is in its environment: a server type
// (config.CreateServerTypes), "balancer", or the security groups' role
// ("shared" for <project>-sg).
const TagRole = "ferry:role"

// Roles of resources that are not a server type.
const (
	RoleBalancer = "balancer"
	RoleShared   = "shared"
)

// The seed's balancer: 80→80 (HTTP) and 443→443 (HTTPS to the
// instances' snakeoil certificate; the balancer's own is create.certificate),
// checked over HTTPS:443 at /healthcheck.html; the values the seed leaves to
// AWS's defaults are CreateLoadBalancer's.
var (
	HealthCheck = cloud.HealthCheck{Target: "HTTPS:443/healthcheck.html", Interval: 30, Timeout: 5, Healthy: 10, Unhealthy: 2}
	// HealthCheckGrace (seconds) is how long the web group leaves a new
	// instance to pass the balancer's health check before it counts as
	// unhealthy and is replaced: twice the least time the check takes to
	// pass one (Healthy × Interval, 300 s), since the instance boots
	// first, and in a full deploy joins the balancer only once the upgrade
	// page is up and the migrations ran. AWS's console default, 300 s,
	// equals that least time: the group replaced a full deploy's new
	// instances before their checks could pass.
	HealthCheckGrace = 2 * HealthCheck.Healthy * HealthCheck.Interval
)

// SecurityGroup is one security group to make.
type SecurityGroup struct {
	// Name is the seed's: <project>-sg, <project>-web-sg, ...
	Name string
	// Role is the server type (or RoleShared) it is for.
	Role string
	// Ingress is what it lets in.
	Ingress []Rule
}

// Rule lets TCP traffic to Port in from a CIDR or from the members of
// another of the environment's security groups (by name).
type Rule struct {
	Port      int32
	FromCIDR  string
	FromGroup string
}

// Server is a long-lived server to make.
type Server struct {
	// Type is its server type (config.CreateServerTypes), its ferry:role.
	Type string
	// Name is its Name tag, <project>-<env>-<type>.
	Name string
	// Roles are the recipes it runs: the cache server takes cache and
	// queue.
	Roles          []roles.Role
	InstanceType   string
	ImageID        string
	SecurityGroups []string // names
}

// Group is an Auto Scaling group to make, with its launch template.
type Group struct {
	Type string
	// Name is the group's, from [groups].
	Name string
	// Template is its launch template's name, <project>-<env>-<type>.
	Template       string
	InstanceType   string
	ImageID        string // empty: the image the caller bakes (Options.GroupImage)
	SecurityGroups []string
	Min, Max       int
	// Balanced groups (web) register with the balancer and are judged by
	// its health check.
	Balanced bool
}

// Spec is everything an environment's create makes, in the order it makes
// it.
type Spec struct {
	Project, Env   string
	SecurityGroups []SecurityGroup
	Balancer       string
	Listeners      []cloud.Listener
	Servers        []Server
	Groups         []Group
	// Subnets are the config's; empty: the default subnets.
	Subnets []string
	Launch  config.Launch
}

// Tags are the tags of an environment's resource of the given role.
func (s Spec) Tags(role string) map[string]string {
	t := s.EnvTags()
	t[TagRole] = role
	return t
}

// EnvTags are the tags every resource of the environment carries.
func (s Spec) EnvTags() map[string]string {
	return map[string]string{plan.TagProject: s.Project, plan.TagEnv: s.Env}
}

// securityGroupsOf are the seed's security groups of each server type.
func securityGroupsOf(project, typ string) []string {
	shared := project + "-sg"
	switch typ {
	case config.ServerCache:
		return []string{shared, project + "-cache-sg", project + "-queue-sg"}
	case config.ServerDBPrimary, config.ServerDBReplica:
		return []string{shared, project + "-db-sg"}
	}
	return []string{shared, project + "-" + typ + "-sg"}
}

// The ports the recipes' services listen on for other servers.
const (
	portSSH      = 22
	portHTTP     = 80
	portHTTPS    = 443
	portPostgres = 5432
	portRedis    = 6379
	portRabbitMQ = 5672
)

// withRules gives each security group its ingress rules: SSH to every
// server from the environment's own servers and from sshFrom; the web
// servers' 80 and 443 from anywhere (the internet-facing balancer); the
// databases' PostgreSQL from the web and worker servers and from each
// other (replication); Redis and RabbitMQ from the web and worker servers.
func withRules(project string, sgs []SecurityGroup, sshFrom []string) []SecurityGroup {
	have := map[string]bool{}
	for _, g := range sgs {
		have[g.Name] = true
	}
	fromGroups := func(port int32, names ...string) []Rule {
		var rs []Rule
		for _, n := range names {
			if have[n] {
				rs = append(rs, Rule{Port: port, FromGroup: n})
			}
		}
		return rs
	}
	app := []string{project + "-web-sg", project + "-worker-sg"}
	for i := range sgs {
		g := &sgs[i]
		switch g.Name {
		case project + "-sg":
			g.Ingress = fromGroups(portSSH, g.Name)
			for _, c := range sshFrom {
				g.Ingress = append(g.Ingress, Rule{Port: portSSH, FromCIDR: c})
			}
		case project + "-web-sg":
			g.Ingress = []Rule{{Port: portHTTP, FromCIDR: "0.0.0.0/0"}, {Port: portHTTPS, FromCIDR: "0.0.0.0/0"}}
		case project + "-db-sg":
			g.Ingress = fromGroups(portPostgres, append(app, g.Name)...)
		case project + "-cache-sg":
			g.Ingress = fromGroups(portRedis, app...)
		case project + "-queue-sg":
			g.Ingress = fromGroups(portRabbitMQ, app...)
		}
	}
	return sgs
}

// Plan lists what env's create makes; env must have a [create] table.
func Plan(project string, env *config.Environment) (Spec, error) {
	c := env.Create
	if c == nil {
		return Spec{}, fmt.Errorf("environment %s has no [environments.%s.create] table: Ferry does not make its servers", env.Name, env.Name)
	}
	if len(env.LoadBalancers.Classic) != 1 {
		return Spec{}, fmt.Errorf("environment %s: env create makes one classic load balancer, load_balancers.classic names %d", env.Name, len(env.LoadBalancers.Classic))
	}
	s := Spec{Project: project, Env: env.Name, Balancer: env.LoadBalancers.Classic[0], Subnets: c.Subnets, Launch: env.Launch,
		Listeners: []cloud.Listener{
			{Protocol: "HTTP", Port: 80, InstanceProtocol: "HTTP", InstancePort: 80},
			{Protocol: "HTTPS", Port: 443, InstanceProtocol: "HTTPS", InstancePort: 443, Certificate: c.Certificate},
		}}
	seen := map[string]bool{}
	addGroup := func(name, role string) {
		if !seen[name] {
			seen[name] = true
			s.SecurityGroups = append(s.SecurityGroups, SecurityGroup{Name: name, Role: role})
		}
	}
	for _, t := range config.CreateServerTypes {
		sv := c.Servers[t]
		if sv == nil {
			continue
		}
		sgs := securityGroupsOf(project, t)
		addGroup(sgs[0], RoleShared)
		for _, g := range sgs[1:] {
			addGroup(g, t)
		}
		image := sv.ImageID
		if image == "" {
			image = env.Launch.ImageID
		}
		if config.IsGroupServer(t) {
			s.Groups = append(s.Groups, Group{
				Type: t, Name: env.Groups[t], Template: project + "-" + env.Name + "-" + t,
				InstanceType: sv.InstanceType, ImageID: image, SecurityGroups: sgs,
				Min: sv.Count, Max: sv.Max, Balanced: t == config.ServerWeb,
			})
			continue
		}
		if image == "" {
			image = env.Launch.BaseImage
		}
		rs := []roles.Role{roles.Role(t)}
		if t == config.ServerCache {
			rs = append(rs, roles.Queue)
		}
		s.Servers = append(s.Servers, Server{Type: t, Name: project + "-" + env.Name + "-" + t, Roles: rs,
			InstanceType: sv.InstanceType, ImageID: image, SecurityGroups: sgs})
	}
	s.SecurityGroups = withRules(project, s.SecurityGroups, c.SSHFrom)
	if len(s.Servers)+len(s.Groups) == 0 {
		return Spec{}, fmt.Errorf("environment %s: no server to create", env.Name)
	}
	// Web before worker, whatever the config's order.
	slices.SortStableFunc(s.Groups, func(a, b Group) int {
		return slices.Index(config.CreateServerTypes, a.Type) - slices.Index(config.CreateServerTypes, b.Type)
	})
	return s, nil
}
