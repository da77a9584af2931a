package machines

import _ "embed"

// stackScript installs the Debian packages of every server role of
// Ferry's (pkg/roles) and disables the services they bring.
//
//go:embed stack.sh
var stackScript string

// StackRecipe is DefaultRecipe plus every package a role recipe of
// pkg/roles installs (nginx, gunicorn, Django, Celery, Redis, RabbitMQ,
// PostgreSQL 15, PgBouncer, stunnel), installed with apt after
// customize.sh, with none of their services enabled. Machines cannot reach
// a Debian mirror, so the recipes find their packages here; it is a few
// minutes more to build than the base, so only what asks for it builds it.
func StackRecipe() Recipe {
	r := DefaultRecipe()
	r.Flavor = "stack"
	r.Extra = stackScript
	return r
}
