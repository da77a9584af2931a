package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// percentile is the nearest-rank percentile p (0–100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

func pick(ss []sample, f func(sample) time.Duration) []time.Duration {
	out := make([]time.Duration, 0, len(ss))
	for _, s := range ss {
		out = append(out, f(s))
	}
	return out
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// printTable writes one row per mode: the latency's percentiles against
// the goal.
func printTable(w io.Writer, o options, rs []result) {
	fmt.Fprintln(w, "| mode | pushes | p50 | p90 | p99 | max | goal (p99) | met |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, r := range rs {
		ds := pick(r.Samples, func(s sample) time.Duration { return s.Call })
		p99 := percentile(ds, 99)
		met := "yes"
		if p99 > o.goal(r.Mode) {
			met = "no"
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | ≤ %s | %s |\n", r.Mode, len(r.Samples), ms(percentile(ds, 50)),
			ms(percentile(ds, 90)), ms(p99), ms(percentile(ds, 100)), ms(o.goal(r.Mode)), met)
	}
	fmt.Fprintln(w)
}

// printBreakdown writes where the time went, as medians and p99s from the
// push returning: the webhook's answer, the agent seeing the commit, the
// deploy's first step, its first mutating call, the deploy done.
func printBreakdown(w io.Writer, rs []result) {
	fmt.Fprintln(w, "| mode | push (git) | webhook answered | agent saw the commit | first step | first AWS change | deploy done |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rs {
		cell := func(f func(sample) time.Duration) string {
			ds := pick(r.Samples, f)
			return ms(percentile(ds, 50)) + " / " + ms(percentile(ds, 99))
		}
		hook := "—"
		if r.Mode == modeWebhook {
			hook = cell(func(s sample) time.Duration { return s.Hook })
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Mode,
			cell(func(s sample) time.Duration { return s.Push }), hook,
			cell(func(s sample) time.Duration { return s.Seen }), cell(func(s sample) time.Duration { return s.Step }),
			cell(func(s sample) time.Duration { return s.Call }), cell(func(s sample) time.Duration { return s.Deploy }))
	}
	fmt.Fprintln(w, "\n(median / p99 of each, from `git push` returning)")
}
