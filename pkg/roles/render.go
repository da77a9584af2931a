package roles

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/ferry-deploy/ferry/pkg/commit"
)

// Vars are what hook commands may refer to, as {{.Commit}}, {{.ShortCommit}}
// and {{.Env}}. NewVars checks them, so a rendered command never carries
// anything but hex digits and a plain name into the shell.
type Vars struct {
	// Commit is the full SHA being deployed.
	Commit string
	// ShortCommit is its first 12 digits, as in launch template names.
	ShortCommit string
	// Env is the environment's name.
	Env string
}

var envRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// NewVars returns the variables for deploying commit c to env.
func NewVars(env string, c commit.ID) (Vars, error) {
	v := Vars{Commit: c.String(), ShortCommit: c.Short(), Env: env}
	return v, v.check()
}

func (v Vars) check() error {
	var errs []error
	if id, err := commit.Parse(v.Commit); err != nil || id.String() != v.Commit {
		errs = append(errs, fmt.Errorf("commit %q is not a full lower-case hex SHA", v.Commit))
	} else if v.ShortCommit != id.Short() {
		errs = append(errs, fmt.Errorf("short commit %q is not the first 12 digits of %s", v.ShortCommit, v.Commit))
	}
	if !envRE.MatchString(v.Env) {
		errs = append(errs, fmt.Errorf("environment name %q is not a plain name", v.Env))
	}
	return errors.Join(errs...)
}

// RenderError is a hook command that could not be rendered: a template
// syntax error or a reference to something Vars does not have.
type RenderError struct {
	Role  Role
	Hook  Hook
	Index int // of the command in the hook's list, from 0
	Err   error
}

func (e *RenderError) Error() string {
	return fmt.Sprintf("role %s hook %s command %d: %v (commands may use {{.Commit}}, {{.ShortCommit}} and {{.Env}})",
		e.Role, e.Hook, e.Index+1, e.Err)
}

func (e *RenderError) Unwrap() error { return e.Err }

// Render returns the commands of hook for role with v substituted. Rendering
// is strict: an unknown field or a missing key is an error, never an empty
// string in a shell command.
func Render(role Role, hook Hook, cmds []string, v Vars) ([]string, error) {
	if err := v.check(); err != nil {
		return nil, fmt.Errorf("role %s hook %s: %w", role, hook, err)
	}
	out := make([]string, len(cmds))
	for i, c := range cmds {
		s, err := renderOne(c, v)
		if err != nil {
			return nil, &RenderError{Role: role, Hook: hook, Index: i, Err: err}
		}
		out[i] = s
	}
	return out, nil
}

// envVars are what a hook run outside a deploy (secrets_changed) may refer
// to: there is no commit then.
type envVars struct{ Env string }

// RenderEnv renders the commands of a hook that runs outside any deploy
// (SecretsChanged): only {{.Env}} is known, and a reference to the commit
// is an error.
func RenderEnv(role Role, hook Hook, cmds []string, env string) ([]string, error) {
	if !envRE.MatchString(env) {
		return nil, fmt.Errorf("role %s hook %s: environment name %q is not a plain name", role, hook, env)
	}
	out := make([]string, len(cmds))
	for i, c := range cmds {
		s, err := renderOne(c, envVars{Env: env})
		if err != nil {
			return nil, &RenderError{Role: role, Hook: hook, Index: i, Err: err}
		}
		out[i] = s
	}
	return out, nil
}

func renderOne(cmd string, v any) (string, error) {
	t, err := template.New("command").Option("missingkey=error").Parse(cmd)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Check renders every command of every role with sample values, so that a
// configuration's mistakes show when it is loaded rather than mid-deploy.
func Check(cmds map[Role]Commands) error {
	sample := Vars{Commit: strings.Repeat("0", 40), ShortCommit: strings.Repeat("0", 12), Env: "check"}
	var errs []error
	for _, role := range All() {
		for _, hook := range Hooks() {
			render := func() error { _, err := Render(role, hook, cmds[role][hook], sample); return err }
			if hook == SecretsChanged {
				render = func() error { _, err := RenderEnv(role, hook, cmds[role][hook], sample.Env); return err }
			}
			if err := render(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Resolve returns the commands of every role for an environment: the
// defaults with the environment's overrides applied (see Merge). overrides
// is keyed by role and hook name, as config's [environments.NAME.hooks.ROLE]
// tables are; unknown names are errors.
func Resolve(overrides map[string]map[string][]string) (map[Role]Commands, error) {
	parsed := map[Role]Commands{}
	var errs []error
	for _, roleName := range slices.Sorted(maps.Keys(overrides)) {
		hooks := overrides[roleName]
		role, err := Parse(roleName)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		parsed[role] = Commands{}
		for _, hookName := range slices.Sorted(maps.Keys(hooks)) {
			hook, err := ParseHook(hookName)
			if err != nil {
				errs = append(errs, fmt.Errorf("role %s: %w", role, err))
				continue
			}
			parsed[role][hook] = hooks[hookName]
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := map[Role]Commands{}
	for _, role := range All() {
		if cmds := Merge(role, parsed[role]); len(cmds) > 0 {
			out[role] = cmds
		}
	}
	return out, Check(out)
}
