package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/agent"
)

func newDescribeCmd(logs *logOptions) *cobra.Command {
	var (
		path   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "describe ENV",
		Short: "Show an environment as AWS has it: groups, instances, hosts, images",
		Long: `Describe reads the environment from AWS, changing nothing, and shows per role:
its Auto Scaling group (desired/min/max, suspended processes, the launch
source new instances start from with its image and commit), each instance
(id, address, availability zone, the launch source and commit it was
started from, lifecycle state, health in the group and in each load
balancer), or the servers the config lists for a role without a group
(hosts.ROLE); and, as drift, the [launch] settings of the config the
launch sources lack (ferry redeploy applies them).

Exit status: 0 shown, 1 failed (AWS could not be read), 64 wrong command line.`,
		Example: `  ferry describe -c /etc/ferry/ferry.toml production
  ferry describe -c ferry.toml staging --json`,
		Args: exactlyOneEnv,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			p, err := openProject(path, newCloud, log)
			if err != nil {
				return err
			}
			d, err := p.Describe(cmd.Context(), args[0])
			if err != nil {
				return usage(err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(d)
			}
			writeDescription(cmd.OutOrStdout(), d)
			return nil
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the description as JSON")
	return cmd
}

func writeDescription(out io.Writer, d *agent.Description) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "%s\n", d.Env)
	for _, r := range d.Roles {
		fmt.Fprintf(w, "\n%s\n", r.Role)
		if g := r.Group; g != nil {
			fmt.Fprintf(w, "  group\t%s desired %d min %d max %d\n", g.Name, g.Desired, g.Min, g.Max)
			fmt.Fprintf(w, "  suspended\t%s\n", orNone(strings.Join(g.Suspended, ", ")))
			fmt.Fprintf(w, "  launch source\t%s\n", g.Source)
			fmt.Fprintf(w, "  image\t%s\n", orNone(g.Image))
			fmt.Fprintf(w, "  commit\t%s\n", orNone(g.Commit))
			fmt.Fprintln(w, "  INSTANCE\tADDRESS\tZONE\tCOMMIT\tSTATE\tHEALTH\tBALANCERS\tLAUNCH SOURCE")
			for _, i := range g.Instances {
				var bs []string
				for b, s := range i.Balancers {
					bs = append(bs, b+"="+s)
				}
				slices.Sort(bs)
				fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, orNone(i.Address), i.Zone, orNone(i.Commit),
					i.Lifecycle, orNone(i.Health), orNone(strings.Join(bs, ",")), i.Source)
			}
		}
		if len(r.Hosts) > 0 {
			fmt.Fprintf(w, "  hosts\t%s\n", strings.Join(r.Hosts, ", "))
		}
	}
	if len(d.Drift) > 0 {
		fmt.Fprintln(w)
		for _, dr := range d.Drift {
			fmt.Fprintf(w, "drift\t%s (ferry redeploy %s applies it)\n", dr, d.Env)
		}
	}
	_ = w.Flush()
}
