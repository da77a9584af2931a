package envbuild

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	commitpkg "github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/provision"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// Cloud is what create and destroy ask of AWS (*cloud.Client).
type Cloud interface {
	SecurityGroupsTagged(ctx context.Context, tags map[string]string) ([]cloud.SecurityGroup, error)
	SecurityGroupNamed(ctx context.Context, name string) (cloud.SecurityGroup, error)
	CreateSecurityGroup(ctx context.Context, name, description string, tags map[string]string) (string, error)
	AuthorizeIngress(ctx context.Context, groupID string, rules []cloud.IngressRule) error
	DeleteSecurityGroup(ctx context.Context, id string) error

	ClassicBalancer(ctx context.Context, name string) (cloud.Balancer, error)
	CreateClassicBalancer(ctx context.Context, b cloud.Balancer) (string, error)
	DeleteClassicBalancer(ctx context.Context, name string) error

	RunServer(ctx context.Context, s cloud.ServerSpec) (string, error)
	MachinesTagged(ctx context.Context, tags map[string]string) ([]cloud.Machine, error)
	TerminateInstances(ctx context.Context, ids []string) error

	CreateLaunchTemplate(ctx context.Context, s cloud.TemplateSpec) (cloud.LaunchTemplate, error)
	LaunchTemplatesTagged(ctx context.Context, tags map[string]string) ([]cloud.LaunchTemplate, error)
	DeleteLaunchTemplate(ctx context.Context, id string) error

	CreateGroup(ctx context.Context, s cloud.GroupSpec) error
	GroupsTagged(ctx context.Context, tags map[string]string) ([]string, error)
	DeleteGroup(ctx context.Context, name string) error

	DefaultSubnets(ctx context.Context) ([]cloud.Subnet, error)
}

// Provisioner makes a server into its roles (*provision.Provisioner); it
// is called for every server at once.
type Provisioner interface {
	Provision(ctx context.Context, s provision.Server) provision.Report
}

// Addresses are the long-lived servers' private addresses, which the
// recipes of every server are made for.
type Addresses struct {
	Cache, DBPrimary, DBReplica string
}

// ErrEarlierEnvironment is wrapped by a create refused because servers of
// an environment of that name, made before, still run.
var ErrEarlierEnvironment = errors.New("an earlier environment of that name still runs")

// Builder creates and destroys one environment.
type Builder struct {
	Cloud Cloud
	Spec  Spec
	// StateDir keeps the create's journal (envs/<env>/create.json).
	StateDir string
	// GroupImage gives the image of a group whose server type names none
	// (launch.image = "bake": the environment's first commit, baked) and
	// the commit it holds, "" when it holds none Ferry knows. Called only
	// when a launch template is to be made.
	GroupImage func(ctx context.Context) (image, commit string, err error)
	// Secrets, when set, puts the environment's secrets where its servers
	// read them (SSM, under /<project>/<env>/) once the create is not
	// refused, before anything is made: every instance fetches them at
	// boot, the groups' included. It returns the names it wrote (new or
	// changed values).
	Secrets func(ctx context.Context) (written []string, err error)
	// DeliverSecrets hands the secrets to the running servers of the
	// environment's groups (their secrets_changed hooks). A create taken
	// up after a failure calls it, once the long-lived servers are
	// provisioned again, when Secrets changed a value after servers of
	// this create had started with the old one: they fetched theirs at
	// boot and would keep it.
	DeliverSecrets func(ctx context.Context) error
	// NewProvisioner makes the provisioner of the long-lived servers once
	// their addresses are known, with deployID naming their log directory;
	// nil leaves them as they booted.
	NewProvisioner func(a Addresses, deployID string) (Provisioner, error)
	// Migrate, when set, runs the first commit's migrations (the
	// worker's deploy hook) once the long-lived servers are provisioned:
	// on an instance of the worker group, or of the web group when there
	// is none, which runs the commit from the groups' image. A create
	// runs it once (its journal keeps the commit); nil leaves the
	// migrations to the first deploy.
	Migrate func(ctx context.Context, r FirstRelease) error
	// SkipProvision makes the resources only: the create stays
	// unfinished, and the next one provisions the servers.
	SkipProvision bool
	// SSHAddress is where Ferry reaches a server of that private address
	// over SSH (host:port); default the address itself.
	SSHAddress func(private string) string
	// Progress gets a line for each thing made and for each wait's news.
	Progress io.Writer
	// Poll paces the waits; Timeout bounds each.
	Poll, Timeout time.Duration
	Log           *slog.Logger
}

// FirstRelease is where a create runs the migrations of the groups'
// first commit.
type FirstRelease struct {
	// Group and Type are the group's name and server type (worker or
	// web).
	Group, Type string
	// Instance, Address and SSH (host:port) are its instance's.
	Instance, Address, SSH string
	// Commit is the commit the instance runs (its ferry:commit tag).
	Commit string
	// DeployID names the log directory, the long-lived servers'.
	DeployID string
}

// Made is one resource of the environment.
type Made struct {
	Kind, Name, ID string
	// Created is true when this run made it, false when it was there.
	Created bool
}

// ServerResult is one long-lived server after create.
type ServerResult struct {
	Type, Name, ID, Address string
	Roles                   []roles.Role
	// Log is its provisioning log; Changes counts what the recipe changed.
	Log     string
	Changes int
	Err     error
}

// Result is what create made and found.
type Result struct {
	Resources []Made
	Servers   []ServerResult
	// BalancerDNS is the balancer's address.
	BalancerDNS string
}

// CreatedCount is how many resources this run made.
func (r *Result) CreatedCount() int {
	n := 0
	for _, m := range r.Resources {
		if m.Created {
			n++
		}
	}
	return n
}

func (b *Builder) progress(format string, args ...any) {
	if b.Progress != nil {
		fmt.Fprintf(b.Progress, format+"\n", args...)
	}
}

func (b *Builder) defaults() {
	if b.Poll <= 0 {
		b.Poll = 5 * time.Second
	}
	if b.Timeout <= 0 {
		b.Timeout = 15 * time.Minute
	}
	if b.Log == nil {
		b.Log = slog.New(slog.DiscardHandler)
	}
	if b.SSHAddress == nil {
		b.SSHAddress = func(a string) string { return a }
	}
}

// Create makes what is missing of the environment and provisions its
// long-lived servers. It returns what it has made and found even when it
// fails; run again, it takes up the work where it stopped.
func (b *Builder) Create(ctx context.Context) (*Result, error) {
	b.defaults()
	s := b.Spec
	res := &Result{}
	jpath := journalPath(b.StateDir, s.Env)
	j, err := readJournal(jpath)
	if err != nil {
		return res, err
	}
	resumed := j != nil && j.Finished.IsZero()
	if !resumed {
		running, err := b.Cloud.MachinesTagged(ctx, s.EnvTags())
		if err != nil {
			return res, err
		}
		if len(running) > 0 {
			ids := make([]string, len(running))
			for i, m := range running {
				ids[i] = m.ID + " (" + m.State + ")"
			}
			slices.Sort(ids)
			return res, fmt.Errorf("environment %s: %w: %s; run `ferry env destroy %s` or terminate them, then create again",
				s.Env, ErrEarlierEnvironment, strings.Join(ids, ", "), s.Env)
		}
		now := time.Now().UTC()
		var nonce [4]byte
		_, _ = rand.Read(nonce[:]) // crypto/rand's Read never fails
		// Unique per create run: a create after a destroy launches anew.
		j = &journal{ID: now.Format("20060102T150405Z") + "-" + hex.EncodeToString(nonce[:]), Started: now}
		if err := j.write(jpath); err != nil {
			return res, err
		}
	} else {
		b.progress("taking up the create of %s begun %s", s.Env, j.Started.Format(time.RFC3339))
	}

	if b.Secrets != nil {
		written, err := b.Secrets(ctx)
		if err != nil {
			return res, fmt.Errorf("environment %s: its secrets: %w", s.Env, err)
		}
		// On a first run nothing runs yet; taken up, servers an earlier
		// run started hold the old values until they are handed the new
		// ones (remembered until then: a run that fails before keeps it
		// for the next).
		if resumed && len(written) > 0 && !j.SecretsStale {
			j.SecretsStale = true
			if err := j.write(jpath); err != nil {
				return res, err
			}
		}
	}
	sgIDs, err := b.securityGroups(ctx, res)
	if err != nil {
		return res, err
	}
	subnets, err := b.subnets(ctx)
	if err != nil {
		return res, err
	}
	if err := b.balancer(ctx, res, subnets); err != nil {
		return res, err
	}
	machines, err := b.servers(ctx, res, j.ID, sgIDs, subnets)
	if err != nil {
		return res, err
	}
	if err := b.groups(ctx, res, sgIDs, subnets); err != nil {
		return res, err
	}
	if err := b.provision(ctx, res, machines, "create-"+j.ID); err != nil {
		return res, err
	}
	if b.SkipProvision {
		b.progress("servers not provisioned: the create of %s finishes when it runs again without --no-provision", s.Env)
		return res, nil
	}
	if j.SecretsStale && b.DeliverSecrets != nil {
		b.progress("secrets changed since servers of this create started: handing them to the groups' running servers")
		if err := b.DeliverSecrets(ctx); err != nil {
			return res, fmt.Errorf("environment %s: handing the changed secrets to its running servers: %w (create again to retry)", s.Env, err)
		}
		j.SecretsStale = false
		if err := j.write(jpath); err != nil {
			return res, err
		}
	}
	if err := b.migrate(ctx, j, jpath, "create-"+j.ID); err != nil {
		return res, err
	}
	j.Finished = time.Now().UTC()
	return res, j.write(jpath)
}

func ids(names []string, byName map[string]string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = byName[n]
	}
	return out
}

// securityGroups makes the missing groups; it returns every group's id by
// name. A group of the seed's name that is not this environment's is an
// error: security group names are unique in a VPC.
func (b *Builder) securityGroups(ctx context.Context, res *Result) (map[string]string, error) {
	s := b.Spec
	have, err := b.Cloud.SecurityGroupsTagged(ctx, s.EnvTags())
	if err != nil {
		return nil, err
	}
	byName := map[string]string{}
	for _, g := range have {
		byName[g.Name] = g.ID
	}
	for _, g := range s.SecurityGroups {
		if id, ok := byName[g.Name]; ok {
			res.Resources = append(res.Resources, Made{Kind: "security group", Name: g.Name, ID: id})
			continue
		}
		switch other, err := b.Cloud.SecurityGroupNamed(ctx, g.Name); {
		case err == nil:
			return nil, fmt.Errorf("security group %s (%s) exists and is not environment %s's (its %s is %q): rename or delete it",
				g.Name, other.ID, s.Env, plan.TagEnv, other.Tags[plan.TagEnv])
		case !errors.Is(err, cloud.ErrNotFound):
			return nil, err
		}
		id, err := b.Cloud.CreateSecurityGroup(ctx, g.Name, fmt.Sprintf("%s %s: %s", s.Project, s.Env, g.Role), s.Tags(g.Role))
		if err != nil {
			return nil, err
		}
		byName[g.Name] = id
		res.Resources = append(res.Resources, Made{Kind: "security group", Name: g.Name, ID: id, Created: true})
		b.progress("security group %s: created %s", g.Name, id)
	}
	// Once every group exists, the rules that name one another: those
	// already there are kept (a re-run adds what a failure left out).
	for _, g := range s.SecurityGroups {
		var rules []cloud.IngressRule
		for _, r := range g.Ingress {
			rules = append(rules, cloud.IngressRule{Port: r.Port, CIDR: r.FromCIDR, Group: byName[r.FromGroup]})
		}
		if err := b.Cloud.AuthorizeIngress(ctx, byName[g.Name], rules); err != nil {
			return nil, err
		}
	}
	return byName, nil
}

// subnets are the config's, or the default VPC's default ones.
func (b *Builder) subnets(ctx context.Context) ([]string, error) {
	if len(b.Spec.Subnets) > 0 {
		return b.Spec.Subnets, nil
	}
	subs, err := b.Cloud.DefaultSubnets(ctx)
	if err != nil {
		return nil, err
	}
	if len(subs) == 0 {
		return nil, fmt.Errorf("the account has no default subnet: set create.subnets")
	}
	out := make([]string, len(subs))
	for i, sn := range subs {
		out[i] = sn.ID
	}
	return out, nil
}

func (b *Builder) balancer(ctx context.Context, res *Result, subnets []string) error {
	s := b.Spec
	lb, err := b.Cloud.ClassicBalancer(ctx, s.Balancer)
	switch {
	case err == nil:
		if lb.Tags[plan.TagEnv] != s.Env || lb.Tags[plan.TagProject] != s.Project {
			return fmt.Errorf("load balancer %s exists and is not environment %s's (its %s is %q): name another in load_balancers.classic",
				s.Balancer, s.Env, plan.TagEnv, lb.Tags[plan.TagEnv])
		}
		res.BalancerDNS = lb.DNSName
		res.Resources = append(res.Resources, Made{Kind: "load balancer", Name: s.Balancer, ID: lb.DNSName})
		return nil
	case !errors.Is(err, cloud.ErrNotFound):
		return err
	}
	dns, err := b.Cloud.CreateClassicBalancer(ctx, cloud.Balancer{Name: s.Balancer, Listeners: s.Listeners, HealthCheck: HealthCheck,
		Subnets: subnets, Tags: s.Tags(RoleBalancer)})
	if err != nil {
		return err
	}
	res.BalancerDNS = dns
	res.Resources = append(res.Resources, Made{Kind: "load balancer", Name: s.Balancer, ID: dns, Created: true})
	b.progress("load balancer %s: created, %s", s.Balancer, dns)
	return nil
}

// servers launches the long-lived servers not running yet and waits until
// every one runs with an address; it returns them by server type.
func (b *Builder) servers(ctx context.Context, res *Result, runID string, sgIDs map[string]string, subnets []string) (map[string]cloud.Machine, error) {
	s := b.Spec
	found, err := b.serversByType(ctx)
	if err != nil {
		return nil, err
	}
	var md *cloud.MetadataOptions
	if s.Launch.HTTPTokens != "" {
		md = &cloud.MetadataOptions{HTTPTokens: s.Launch.HTTPTokens, HopLimit: int32(max(s.Launch.MetadataHopLimit, 1))}
	}
	for i, sv := range s.Servers {
		if m, ok := found[sv.Type]; ok {
			res.Resources = append(res.Resources, Made{Kind: "server", Name: sv.Name, ID: m.ID})
			continue
		}
		tags := s.Tags(sv.Type)
		tags["Name"] = sv.Name
		id, err := b.Cloud.RunServer(ctx, cloud.ServerSpec{
			ImageID: sv.ImageID, InstanceType: sv.InstanceType, KeyName: s.Launch.KeyName, IAMInstanceProfile: s.Launch.IAMInstanceProfile,
			Subnet: subnets[i%len(subnets)], SecurityGroups: ids(sv.SecurityGroups, sgIDs), Tags: tags, Metadata: md,
			// One launch per server type and create run, however often
			// the call is retried (ec2-api-idempotency).
			ClientToken: clientToken(s.Project, s.Env, runID, sv.Type),
		})
		if err != nil {
			return nil, err
		}
		res.Resources = append(res.Resources, Made{Kind: "server", Name: sv.Name, ID: id, Created: true})
		b.progress("server %s (%s, %s): launched %s", sv.Name, sv.InstanceType, sv.ImageID, id)
	}
	return b.waitRunning(ctx)
}

// clientToken is a RunInstances ClientToken (at most 64 ASCII characters)
// for one server of one create run.
func clientToken(project, env, runID, typ string) string {
	sum := sha256.Sum256([]byte(project + "\x00" + env + "\x00" + runID + "\x00" + typ))
	return "ferry-" + hex.EncodeToString(sum[:16])
}

// serversByType finds the environment's long-lived servers that are not
// terminated, by server type.
func (b *Builder) serversByType(ctx context.Context) (map[string]cloud.Machine, error) {
	ms, err := b.Cloud.MachinesTagged(ctx, b.Spec.EnvTags())
	if err != nil {
		return nil, err
	}
	out := map[string]cloud.Machine{}
	for _, m := range ms {
		t := m.Tags[TagRole]
		if !slices.ContainsFunc(b.Spec.Servers, func(s Server) bool { return s.Type == t }) {
			continue // a group's instance
		}
		if m.State == "shutting-down" || m.State == "stopping" || m.State == "stopped" {
			return nil, fmt.Errorf("server %s (%s) is %s: terminate it (or start it) and create again", m.ID, t, m.State)
		}
		if prev, ok := out[t]; ok {
			return nil, fmt.Errorf("environment %s has two %s servers, %s and %s: terminate the one it should not have", b.Spec.Env, t, prev.ID, m.ID)
		}
		out[t] = m
	}
	return out, nil
}

// waitRunning waits until every long-lived server runs and has its private
// address, saying which ones it still waits for each time that changes.
func (b *Builder) waitRunning(ctx context.Context) (map[string]cloud.Machine, error) {
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	start, last := time.Now(), ""
	for {
		found, err := b.serversByType(ctx)
		if err != nil {
			return nil, err
		}
		var waiting []string
		for _, sv := range b.Spec.Servers {
			m, ok := found[sv.Type]
			switch {
			case !ok:
				return nil, fmt.Errorf("server %s is gone (terminated?): create again", sv.Name)
			case m.State != "running" || m.PrivateIP == "":
				waiting = append(waiting, sv.Type+" "+m.State)
			}
		}
		if len(waiting) == 0 {
			if last != "" {
				b.progress("servers running after %s", time.Since(start).Round(time.Second))
			}
			return found, nil
		}
		if now := strings.Join(waiting, ", "); now != last {
			b.progress("waiting for servers to run (%s): %s", time.Since(start).Round(time.Second), now)
			last = now
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("servers not running after %s (%s): %w", b.Timeout, last, ctx.Err())
		case <-time.After(b.Poll):
		}
	}
}

// groups makes the missing launch templates and Auto Scaling groups.
func (b *Builder) groups(ctx context.Context, res *Result, sgIDs map[string]string, subnets []string) error {
	s := b.Spec
	if len(s.Groups) == 0 {
		return nil
	}
	tpls, err := b.Cloud.LaunchTemplatesTagged(ctx, s.EnvTags())
	if err != nil {
		return err
	}
	tplByName := map[string]cloud.LaunchTemplate{}
	for _, t := range tpls {
		tplByName[t.Name] = t
	}
	have, err := b.Cloud.GroupsTagged(ctx, s.EnvTags())
	if err != nil {
		return err
	}
	// The groups' instances run one image baked for every group's role:
	// each reads its own (its ferry:role, propagated from its group) from
	// its instance metadata at boot (pkg/roles, ferry-role.service).
	md := &cloud.MetadataOptions{InstanceTags: true}
	if s.Launch.HTTPTokens != "" {
		md.HTTPTokens, md.HopLimit = s.Launch.HTTPTokens, int32(max(s.Launch.MetadataHopLimit, 1))
	}
	var image, commit string
	for _, g := range s.Groups {
		tags := s.Tags(g.Type)
		tpl, ok := tplByName[g.Template]
		if ok {
			res.Resources = append(res.Resources, Made{Kind: "launch template", Name: g.Template, ID: tpl.ID})
		} else {
			img := g.ImageID
			if img == "" {
				if image == "" {
					if b.GroupImage == nil {
						return fmt.Errorf("group %s: no image: set create.servers.%s.image_id or launch.image_id", g.Name, g.Type)
					}
					if image, commit, err = b.GroupImage(ctx); err != nil {
						return fmt.Errorf("the groups' image: %w", err)
					}
				}
				img = image
			}
			ttags := maps.Clone(tags)
			ttags["Name"] = s.Project + "-" + s.Env + "-" + g.Type
			if commit != "" {
				ttags[plan.TagCommit] = commit
			}
			spec := cloud.TemplateSpec{
				Name: g.Template, ImageID: img, InstanceType: g.InstanceType, KeyName: s.Launch.KeyName,
				IAMInstanceProfile: s.Launch.IAMInstanceProfile, SecurityGroups: ids(g.SecurityGroups, sgIDs), Metadata: md, Tags: ttags,
			}
			if c, err := commitpkg.Parse(commit); err == nil {
				// A deploy's plan reads the running commit from the group's
				// tag and checks it against this name, as for its own
				// launch sources.
				spec.Description = plan.LaunchSourceName(s.Project, s.Env, c, time.Now())
			}
			tpl, err = b.Cloud.CreateLaunchTemplate(ctx, spec)
			if err != nil {
				return err
			}
			res.Resources = append(res.Resources, Made{Kind: "launch template", Name: g.Template, ID: tpl.ID, Created: true})
			b.progress("launch template %s: created %s from %s", g.Template, tpl.ID, img)
		}
		if slices.Contains(have, g.Name) {
			res.Resources = append(res.Resources, Made{Kind: "group", Name: g.Name})
			continue
		}
		gtags := maps.Clone(tags)
		gtags["Name"] = s.Project + "-" + s.Env + "-" + g.Type
		if commit != "" {
			gtags[plan.TagCommit] = commit
		}
		spec := cloud.GroupSpec{Name: g.Name, Template: cloud.LaunchTemplateRef{ID: tpl.ID, Version: "$Default"},
			Min: int32(g.Min), Max: int32(g.Max), Desired: int32(g.Min), Subnets: subnets, Tags: gtags}
		if g.Balanced {
			spec.ClassicBalancers, spec.HealthCheckGrace = []string{s.Balancer}, HealthCheckGrace
		}
		if err := b.Cloud.CreateGroup(ctx, spec); err != nil {
			return err
		}
		res.Resources = append(res.Resources, Made{Kind: "group", Name: g.Name, Created: true})
		b.progress("group %s: created (%d-%d %s)", g.Name, g.Min, g.Max, g.InstanceType)
	}
	return nil
}

// provision runs every long-lived server's recipe, all at once.
func (b *Builder) provision(ctx context.Context, res *Result, machines map[string]cloud.Machine, deployID string) error {
	s := b.Spec
	addr := Addresses{Cache: machines[config.ServerCache].PrivateIP, DBPrimary: machines[config.ServerDBPrimary].PrivateIP,
		DBReplica: machines[config.ServerDBReplica].PrivateIP}
	var servers []provision.Server
	for _, sv := range s.Servers {
		m := machines[sv.Type]
		res.Servers = append(res.Servers, ServerResult{Type: sv.Type, Name: sv.Name, ID: m.ID, Address: m.PrivateIP, Roles: sv.Roles})
		servers = append(servers, provision.Server{SSH: b.SSHAddress(m.PrivateIP), Address: m.PrivateIP, Instance: m.ID, Roles: sv.Roles})
	}
	if b.NewProvisioner == nil || b.SkipProvision || len(servers) == 0 {
		return nil
	}
	p, err := b.NewProvisioner(addr, deployID)
	if err != nil {
		return err
	}
	b.progress("provisioning %d servers at once", len(servers))
	start := time.Now()
	type done struct {
		i int
		r provision.Report
	}
	ch := make(chan done)
	for i, sv := range servers {
		go func() { ch <- done{i, p.Provision(ctx, sv)} }()
	}
	reports := make([]provision.Report, len(servers))
	left := map[int]bool{}
	for i := range servers {
		left[i] = true
	}
	// Each server's end is shown as it comes, and which ones are still
	// at work every so often: a recipe takes a minute.
	tick := time.NewTicker(max(b.Poll, 15*time.Second))
	defer tick.Stop()
	for len(left) > 0 {
		select {
		case d := <-ch:
			delete(left, d.i)
			reports[d.i] = d.r
			sr := &res.Servers[d.i]
			sr.Log, sr.Changes, sr.Err = d.r.Log, len(d.r.Changes), d.r.Err
			state := "provisioned"
			if d.r.Err != nil {
				state = "FAILED"
			}
			b.progress("server %s %s after %s, %d changes, log %s", sr.Name, state, time.Since(start).Round(time.Second), sr.Changes, sr.Log)
		case <-tick.C:
			var names []string
			for i := range left {
				names = append(names, res.Servers[i].Type)
			}
			slices.Sort(names)
			b.progress("provisioning (%s): %s", time.Since(start).Round(time.Second), strings.Join(names, ", "))
		}
	}
	if err := provision.Failed(reports); err != nil {
		return fmt.Errorf("provisioning: %w (each server's log says why; create again to retry)", err)
	}
	return nil
}

// migrate runs the groups' first commit's migrations once (Builder.Migrate),
// as the first full deploy of the seed's create_environment does: on an
// instance of the worker group (the web group's without one), where the
// commit's code is, once the databases it migrates are provisioned. The
// app's tables exist before any deploy.
func (b *Builder) migrate(ctx context.Context, j *journal, jpath, deployID string) error {
	s := b.Spec
	if b.Migrate == nil || len(s.Groups) == 0 || j.Migrated != "" {
		return nil
	}
	g := s.Groups[0]
	if i := slices.IndexFunc(s.Groups, func(g Group) bool { return g.Type == config.ServerWorker }); i >= 0 {
		g = s.Groups[i]
	}
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	start, waited := time.Now(), false
	var m cloud.Machine
	for {
		ms, err := b.Cloud.MachinesTagged(ctx, s.Tags(g.Type))
		if err != nil {
			return err
		}
		i := slices.IndexFunc(ms, func(m cloud.Machine) bool { return m.State == "running" && m.PrivateIP != "" })
		if i >= 0 {
			m = ms[i]
			break
		}
		if !waited {
			b.progress("waiting for an instance of group %s to run the first commit's migrations", g.Name)
			waited = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group %s: no instance running after %s to run the first commit's migrations: %w", g.Name, b.Timeout, ctx.Err())
		case <-time.After(b.Poll):
		}
	}
	c := m.Tags[plan.TagCommit]
	if c == "" {
		// An image of the config's (launch.image_id): Ferry does not
		// know which commit it holds.
		b.progress("group %s's instance %s names no commit (%s): its migrations run at the first deploy", g.Name, m.ID, plan.TagCommit)
		return nil
	}
	short := c
	if id, err := commitpkg.Parse(c); err == nil {
		short = id.Short()
	}
	b.progress("running %s's migrations on %s (%s, group %s)", short, m.ID, m.PrivateIP, g.Name)
	r := FirstRelease{Group: g.Name, Type: g.Type, Instance: m.ID, Address: m.PrivateIP, SSH: b.SSHAddress(m.PrivateIP), Commit: c, DeployID: deployID}
	if err := b.Migrate(ctx, r); err != nil {
		return fmt.Errorf("the first commit's migrations on %s: %w (create again to retry)", m.ID, err)
	}
	b.progress("migrations of %s done after %s", short, time.Since(start).Round(time.Second))
	j.Migrated = c
	return j.write(jpath)
}
