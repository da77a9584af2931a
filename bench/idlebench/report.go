package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// printTable writes one markdown row per run.
func printTable(out io.Writer, rs []result) {
	fmt.Fprintln(out, "| envs | in sync (start/end) | RSS start → end (peak) | agent CPU | git children CPU | git daemon CPU | AWS calls/min | per env/min | max calls/s | remote refs | remote loose objects | mirror | state dir files | log lines while idle (info/warn/error) |")
	fmt.Fprintln(out, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rs {
		perMin := float64(r.CallsTotal) / r.Duration.Minutes()
		daemon := "–"
		if r.Remote == remoteDaemon {
			daemon = fmt.Sprintf("%.2f %%", r.DaemonCPU)
		}
		fmt.Fprintf(out, "| %d | %d/%d | %.1f → %.1f (%.1f) MiB | %.2f %% | %.2f %% | %s | %.1f | %.2f | %d | %d → %d | %d → %d | %s → %s, %d → %d files | %d → %d | %d/%d/%d |\n",
			r.Envs, r.Settled, r.InSyncAtEnd,
			mib(r.RSSStartKiB), mib(r.RSSEndKiB), mib(r.RSSPeakKiB),
			r.AgentCPU, r.ChildCPU, daemon,
			perMin, perMin/float64(r.Envs), r.MaxCallsPerSec,
			r.RemoteBefore.Refs, r.RemoteAfter.Refs,
			r.RemoteBefore.LooseObjects, r.RemoteAfter.LooseObjects,
			size(r.StateBefore.MirrorBytes), size(r.StateAfter.MirrorBytes), r.StateBefore.MirrorFiles, r.StateAfter.MirrorFiles,
			r.StateBefore.StateFiles, r.StateAfter.StateFiles,
			r.LogLines["INFO"], r.LogLines["WARN"], r.LogLines["ERROR"])
	}
}

// printCalls writes, per run, the AWS calls per minute by API, and what the
// agent warned about or failed at while idle.
func printCalls(out io.Writer, rs []result) {
	for _, r := range rs {
		fmt.Fprintf(out, "\n%d environment(s): AWS calls per minute by API (%d calls in %s; busiest second %d calls; calls in %d seconds):\n",
			r.Envs, r.CallsTotal, r.Duration, r.MaxCallsPerSec, r.BusySeconds)
		apis := make([]string, 0, len(r.Calls))
		for a := range r.Calls {
			apis = append(apis, a)
		}
		sort.Slice(apis, func(i, j int) bool {
			if r.Calls[apis[i]] != r.Calls[apis[j]] {
				return r.Calls[apis[i]] > r.Calls[apis[j]]
			}
			return apis[i] < apis[j]
		})
		for _, a := range apis {
			fmt.Fprintf(out, "- %s: %.1f/min (%.2f per env)\n", a, float64(r.Calls[a])/r.Duration.Minutes(), float64(r.Calls[a])/r.Duration.Minutes()/float64(r.Envs))
		}
		if r.Deploying > 0 {
			fmt.Fprintf(out, "- state \"deploying\" logged %d times while idle\n", r.Deploying)
		}
		for i, p := range r.Problems {
			if i == 8 {
				fmt.Fprintf(out, "- … %d more kinds of warnings/errors (see -json)\n", len(r.Problems)-8)
				break
			}
			fmt.Fprintf(out, "- %s ×%d: %s%s\n", p.Level, p.Count, p.Msg, suffix(p.Err))
		}
		if len(r.NotInSync) > 0 {
			fmt.Fprintf(out, "- not in sync at the end: %s\n", describe(r.NotInSync))
		}
	}
}

func suffix(err string) string {
	if err == "" {
		return ""
	}
	if len(err) > 200 {
		err = err[:200] + "…"
	}
	return ": " + strings.ReplaceAll(err, "\n", " ")
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func size(b int64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%.0f KiB", float64(b)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
