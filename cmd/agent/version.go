package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Ferry's version",
		Long: `Version prints the version Ferry was built as, the commit it was built from
when known, and the Go toolchain and platform.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "ferry %s%s (%s %s/%s)\n", version, buildRevision(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// buildRevision returns " commit abc123" when the binary carries VCS info.
func buildRevision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	if id, err := commit.Parse(rev); err == nil {
		rev = id.Short()
	}
	return " commit " + rev + dirty
}
