package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// printTable writes one markdown row per run.
func printTable(out io.Writer, rs []result) {
	fmt.Fprintln(out, "| instances | method | batches | outcome | wall | waiting for AWS | agent's own time (SDK body-read retries) | CPU (ferry + git) | peak RSS | AWS calls | changes | describes | looks | describes per look |")
	fmt.Fprintln(out, "| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rs {
		perLook := "–"
		if r.Looks > 0 {
			perLook = fmt.Sprintf("%.2f", float64(r.Describes)/float64(r.Looks))
		}
		fmt.Fprintf(out, "| %d | %s | %d | %s | %s | %s (%d waits) | %s (%d) | %s + %s | %.1f MiB | %d | %d | %d | %d | %s |\n",
			r.Size, methodName(r), r.Batches, r.Outcome, secs(r.Wall), secs(r.Waits), r.NWaits, secs(r.Overhead), r.BodyFails,
			secs(r.CPUSelf), secs(r.CPUChildren), float64(r.PeakRSSKiB)/1024,
			r.Changes+r.Describes, r.Changes, r.Describes, r.Looks, perLook)
	}
}

func methodName(r result) string {
	if r.Method == methodSerial {
		return fmt.Sprintf("serial, batch %d", r.Batch)
	}
	return r.Method
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// printCalls writes the AWS calls by API, one column per run, so that
// growth with the group's size reads along a row.
func printCalls(out io.Writer, rs []result) {
	apis := map[string]bool{}
	for _, r := range rs {
		for a := range r.Calls {
			apis[a] = true
		}
	}
	names := make([]string, 0, len(apis))
	for a := range apis {
		names = append(names, a)
	}
	sort.Slice(names, func(i, j int) bool {
		di, dj := isDescribe(names[i]), isDescribe(names[j])
		if di != dj {
			return !di // changes first
		}
		return names[i] < names[j]
	})
	var head, rule strings.Builder
	head.WriteString("\n| AWS call |")
	rule.WriteString("| --- |")
	for _, r := range rs {
		fmt.Fprintf(&head, " %d, %s |", r.Size, methodName(r))
		rule.WriteString(" ---: |")
	}
	fmt.Fprintln(out, head.String())
	fmt.Fprintln(out, rule.String())
	for _, a := range names {
		fmt.Fprintf(out, "| %s |", a)
		for _, r := range rs {
			fmt.Fprintf(out, " %d |", r.Calls[a])
		}
		fmt.Fprintln(out)
	}
}

func isDescribe(action string) bool {
	_, d, _ := classify(map[string]int{action: 1})
	return d == 1
}
