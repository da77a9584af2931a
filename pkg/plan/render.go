package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// WriteJSON writes the plan as indented JSON (schema: docs/plan-schema.md).
func (p *Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// WriteText writes the plan for a person to read before it runs.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	if p.Action == NoOp {
		fmt.Fprintf(&b, "No changes. %s already runs %s (%s).\n", p.Environment, p.Target.Commit.Short(), refOr(p.Target.Ref))
		writeWarnings(&b, p.Warnings)
		writeSecrets(&b, p)
		_, err := io.WriteString(w, b.String())
		return err
	}
	verb := "deploy"
	if p.TargetIsOlder {
		verb = "roll back"
	}
	fmt.Fprintf(&b, "Ferry will %s %s to %s (%s)", verb, p.Environment, p.Target.Commit.Short(), refOr(p.Target.Ref))
	if !p.Deployed.Commit.IsZero() {
		fmt.Fprintf(&b, ", replacing %s", p.Deployed.Commit.Short())
	} else {
		b.WriteString(", replacing an unknown version")
	}
	b.WriteString(".\n\n")

	fmt.Fprintf(&b, "Method: %s, because %s.\n", p.Method, p.Reasons[0].Detail)
	for _, r := range p.Reasons[1:] {
		fmt.Fprintf(&b, "        also: %s\n", r.Detail)
	}
	if p.Downtime {
		b.WriteString("Downtime: yes. Users see the \"upgrade in progress\" page from upgrade-page-on to upgrade-page-off.\n")
	} else {
		b.WriteString("Downtime: none. Old and new instances serve side by side.\n")
	}
	source := "new " + launchKind(p.LaunchSource.Kind) + " " + p.LaunchSource.Name
	if p.LaunchSource.Existing {
		source = "prepared " + launchKind(p.LaunchSource.Kind) + " " + p.LaunchSource.Name
	}
	fmt.Fprintf(&b, "Launch source: %s\n", source)
	switch im := p.Image; {
	case im == nil:
	case im.Bake:
		fmt.Fprintf(&b, "Image: baked for %s first (from %s)\n", p.Target.Commit.Short(), im.BaseImage)
	default:
		fmt.Fprintf(&b, "Image: %s, baked for %s before (reused)\n", im.ID, p.Target.Commit.Short())
	}
	b.WriteString("\n")

	b.WriteString("Groups:\n")
	for _, g := range p.Groups {
		c := g.Capacity
		fmt.Fprintf(&b, "  %-7s %s: desired %d -> %d during -> %d after", g.Role, g.Name, c.DesiredBefore, c.DesiredDuring, c.DesiredAfter)
		if c.MaxDuring > c.MaxBefore {
			fmt.Fprintf(&b, "; max size %d -> %d, restored to %d", c.MaxBefore, c.MaxDuring, c.MaxBefore)
		}
		b.WriteString("\n")
		if len(g.Replace) > 0 {
			fmt.Fprintf(&b, "          replaces %s\n", strings.Join(g.Replace, ", "))
		}
	}

	b.WriteString("\nSteps:\n")
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "  %2d. %s", i+1, s.Name)
		if s.Group != "" {
			fmt.Fprintf(&b, " [%s]", s.Group)
		}
		for _, kv := range s.params() {
			fmt.Fprintf(&b, " %s=%s", kv.key, kv.value)
		}
		fmt.Fprintf(&b, "\n      %s\n", s.Reason)
	}
	writeWarnings(&b, p.Warnings)
	writeSecrets(&b, p)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeWarnings(b *strings.Builder, warnings []string) {
	if len(warnings) == 0 {
		return
	}
	b.WriteString("\nWarnings:\n")
	for _, w := range warnings {
		fmt.Fprintf(b, "  ! %s\n", w)
	}
}

// writeSecrets says which secrets differ between the sources and SSM, by
// name.
func writeSecrets(b *strings.Builder, p *Plan) {
	s := p.Secrets
	switch {
	case s == nil:
	case s.Error != "":
		fmt.Fprintf(b, "\nSecrets: cannot compare the sources with SSM: %s\n", s.Error)
	case len(s.Differ) > 0 && s.PushedByDeploy:
		fmt.Fprintf(b, "\nSecrets: %s differ from SSM (%s); the deploy pushes them first (policy.push_secrets)\n", strings.Join(s.Differ, ", "), s.Path)
	case len(s.Differ) > 0:
		fmt.Fprintf(b, "\nSecrets: %s differ from SSM (%s); a deploy does not push them: ferry secrets push %s\n", strings.Join(s.Differ, ", "), s.Path, p.Environment)
	default:
		fmt.Fprintf(b, "\nSecrets: SSM has the sources' %d under %s\n", s.Unchanged, s.Path)
	}
}

func refOr(ref string) string {
	if ref == "" {
		return "no ref"
	}
	return ref
}

func launchKind(kind string) string {
	if kind == "configuration" {
		return "launch configuration"
	}
	return "launch template version"
}

type param struct{ key, value string }

// params shows what a step acts on, as key=value sorted by key, from the
// same fields pkg/execute reads.
func (s Step) params() []param {
	var out []param
	add := func(key, value string) { out = append(out, param{key, value}) }
	size := func(key string, n *int) {
		if n != nil {
			add(key, strconv.Itoa(*n))
		}
	}
	switch s.Name {
	case StepBakeImage:
		add("commit", s.Commit.String())
		add("timeout", s.Timeout.String())
	case StepPrepareLaunchSource:
		add("commit", s.Commit.String())
		if s.LaunchSource != nil {
			add("kind", s.LaunchSource.Kind)
			add("name", s.LaunchSource.Name)
		}
		if s.Image != "" {
			add("image", s.Image)
		}
	case StepInstallLaunchSource:
		if s.LaunchSource != nil {
			add("name", s.LaunchSource.Name)
		}
		add("tag", TagCommit+"="+s.Commit.String())
	case StepSuspendProcesses, StepResumeProcesses:
		add("processes", strings.Join(s.Processes, ","))
	case StepRaiseCapacity, StepRestoreCapacity:
		if s.Sizes != nil {
			size("desired", s.Sizes.Desired)
			size("min_size", s.Sizes.MinSize)
			size("max_size", s.Sizes.MaxSize)
		}
	case StepWaitInService:
		add("count", strconv.Itoa(s.Count))
		add("timeout", s.Timeout.String())
	case StepUpgradePageOn, StepUpgradePageOff, StepWorkerDeploy:
		add("hosts", s.Hosts)
		add("role", string(s.Role))
	case StepRegisterInstances:
		add("balancers", strings.Join(s.Balancers, ","))
		add("instances", "new")
	case StepWaitHealthy:
		add("count", strconv.Itoa(s.Count))
		add("instances", "new")
		add("timeout", s.Timeout.String())
	case StepTerminateOld, StepReplaceBatch:
		add("instances", strings.Join(s.Instances, ","))
		if s.Mode != "" {
			add("mode", s.Mode)
		}
		add("timeout", s.Timeout.String())
	case StepPostDeploy:
		add("on", s.On)
	}
	slices.SortFunc(out, func(a, b param) int { return strings.Compare(a.key, b.key) })
	return out
}
