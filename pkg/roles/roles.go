// Package roles names the server roles of a Ferry environment and the deploy
// hooks each role takes part in, with the commands each hook runs by default.
//
// The roles are those of FabulAWS's server architecture: web servers behind
// the load balancer, the worker that runs migrations and background tasks,
// the cache and queue server, and the database primary and replica. Only web
// (and optionally worker) servers are usually in Auto Scaling groups; the
// others are long-lived and only take part in hooks.
//
// The package knows nothing of AWS, git or SSH: it is the vocabulary, the
// default commands, the merge of per-environment overrides onto them
// (Resolve), their rendering for a commit (Render) and the choice of the
// instances each hook runs on (PlanHook). Package remote carries them out.
package roles

import (
	"fmt"
	"slices"
	"strings"
)

// Role is a kind of server in an environment.
type Role string

// The roles of the seed's server architecture.
const (
	Web       Role = "web"
	Worker    Role = "worker"
	Cache     Role = "cache"
	Queue     Role = "queue"
	DBPrimary Role = "db-primary"
	DBReplica Role = "db-replica"
)

// All lists every role in a stable order.
func All() []Role {
	return []Role{Web, Worker, Cache, Queue, DBPrimary, DBReplica}
}

// Parse returns the role named s, or an error listing the valid names.
func Parse(s string) (Role, error) {
	r := Role(s)
	if slices.Contains(All(), r) {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (valid: %s)", s, joinRoles(All()))
}

// Hook is a point of a deploy at which a role runs commands.
type Hook string

// The deploy hooks, in the order a full deploy reaches them.
const (
	// UpgradePageOn shows the "upgrade in progress" page (full deploys).
	UpgradePageOn Hook = "upgrade_page_on"
	// Deploy is the role's deploy step; for the worker, migrations and
	// static media. It runs on exactly one instance of the role.
	Deploy Hook = "deploy"
	// UpgradePageOff removes the page once the new instances serve.
	UpgradePageOff Hook = "upgrade_page_off"
	// PostDeploy runs after a deploy succeeded (cache flush, notifications).
	PostDeploy Hook = "post_deploy"
	// SecretsChanged runs on every running server of the role when
	// `ferry secrets push` changed the environment's secrets, outside any
	// deploy. Its commands read the secrets on stdin as KEY=value lines.
	SecretsChanged Hook = "secrets_changed"
	// Build runs on a bake's builder instance (pkg/bake), in the commit's
	// release directory /srv/app/releases/<sha>, before the image is made:
	// dependencies, compiled assets, anything the image must hold. It runs
	// once per role with a group, outside any deploy, as the SSH user.
	Build Hook = "build"
)

// Hooks lists every hook: those of a full deploy in the order it runs them,
// then secrets_changed and build, which run outside a deploy.
func Hooks() []Hook {
	return []Hook{UpgradePageOn, Deploy, UpgradePageOff, PostDeploy, SecretsChanged, Build}
}

// ParseHook returns the hook named s, or an error listing the valid names.
func ParseHook(s string) (Hook, error) {
	h := Hook(s)
	if slices.Contains(Hooks(), h) {
		return h, nil
	}
	names := make([]string, 0, len(Hooks()))
	for _, h := range Hooks() {
		names = append(names, string(h))
	}
	return "", fmt.Errorf("unknown hook %q (valid: %s)", s, strings.Join(names, ", "))
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}
