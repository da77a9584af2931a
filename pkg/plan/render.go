package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
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
		fmt.Fprintf(&b, "No changes. %s already runs %s (%s).\n", p.Environment, short(p.Target.Commit), refOr(p.Target.Ref))
		writeWarnings(&b, p.Warnings)
		_, err := io.WriteString(w, b.String())
		return err
	}
	verb := "deploy"
	if p.Rollback {
		verb = "roll back"
	}
	fmt.Fprintf(&b, "Ferry will %s %s to %s (%s)", verb, p.Environment, short(p.Target.Commit), refOr(p.Target.Ref))
	if p.Deployed.Commit != "" {
		fmt.Fprintf(&b, ", replacing %s", short(p.Deployed.Commit))
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
	fmt.Fprintf(&b, "Launch source: %s\n\n", source)

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
		if len(s.Params) > 0 {
			keys := make([]string, 0, len(s.Params))
			for k := range s.Params {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, " %s=%s", k, s.Params[k])
			}
		}
		fmt.Fprintf(&b, "\n      %s\n", s.Reason)
	}
	writeWarnings(&b, p.Warnings)
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
