package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/bench/internal/benchproc"
)

func TestParseCountObjects(t *testing.T) {
	out := "count: 551\nsize: 2204\nin-pack: 12\npacks: 1\nsize-pack: 4\nprune-packable: 0\ngarbage: 0\nsize-garbage: 0"
	got, err := parseCountObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	want := repoStats{LooseObjects: 551, LooseKiB: 2204, PackedObjs: 12, Packs: 1, PackKiB: 4}
	if got != want {
		t.Fatalf("parseCountObjects = %+v, want %+v", got, want)
	}
}

func TestParseLog(t *testing.T) {
	log := `{"level":"INFO","msg":"environment","env":"e000","state":"deploying"}
{"level":"INFO","msg":"environment","env":"e000","state":"idle","detail":"in sync"}
{"level":"ERROR","msg":"deploy could not run; will try again","err":"read lock e001: read tcp 127.0.0.1:36928: connection reset"}
{"level":"ERROR","msg":"deploy could not run; will try again","err":"read lock e002: read tcp 127.0.0.1:36766: connection reset"}
{"level":"WARN","msg":"could not release the lock; it expires on its own","err":"EOF"}
panic: not JSON
`
	levels, deploying, problems, err := parseLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if levels["INFO"] != 2 || levels["ERROR"] != 2 || levels["WARN"] != 1 || levels["other"] != 1 {
		t.Fatalf("levels = %v", levels)
	}
	if deploying != 1 {
		t.Fatalf("deploying = %d, want 1", deploying)
	}
	if len(problems) != 2 || problems[0].Count != 2 || problems[0].Err != "read lock eN: read tcp N.N.N.N:N: connection reset" {
		t.Fatalf("problems = %+v", problems)
	}
}

func TestFill(t *testing.T) {
	s := samples{
		wall:      100 * time.Second,
		rss:       []int64{1000, 3000, 2000},
		agent0:    benchproc.CPUTicks{Self: 100, Children: 10},
		agent1:    benchproc.CPUTicks{Self: 200, Children: 60},
		daemon1:   benchproc.CPUTicks{Self: 5, Children: 15},
		calls:     map[string]int{"ec2:DescribeInstances": 4, "elb:DescribeInstanceHealth": 4},
		perSecond: []int{0, 6, 0, 2},
	}
	var r result
	s.fill(&r, 100)
	if r.AgentCPU != 1 || r.ChildCPU != 0.5 || r.DaemonCPU != 0.2 {
		t.Fatalf("CPU = %v %v %v, want 1 0.5 0.2 (%% of one core)", r.AgentCPU, r.ChildCPU, r.DaemonCPU)
	}
	if r.RSSStartKiB != 1000 || r.RSSEndKiB != 2000 || r.RSSPeakKiB != 3000 {
		t.Fatalf("RSS = %d %d %d", r.RSSStartKiB, r.RSSEndKiB, r.RSSPeakKiB)
	}
	if r.CallsTotal != 8 || r.MaxCallsPerSec != 6 || r.BusySeconds != 2 {
		t.Fatalf("calls = %d, max %d/s, busy %d s", r.CallsTotal, r.MaxCallsPerSec, r.BusySeconds)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-ferry", "/bin/true", "-n", "1, 10,50", "-remote", "file"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.envs) != 3 || o.envs[2] != 50 || o.sim != "/bin/true" || o.remote != remoteFile {
		t.Fatalf("options = %+v", o)
	}
	for _, bad := range [][]string{
		{"-n", "1"},                        // no -ferry
		{"-ferry", "x", "-n", "0"},         // no environments
		{"-ferry", "x", "-remote", "ssh"},  // unknown remote
		{"-ferry", "x", "-duration", "1s"}, // too short to mean anything
		{"-ferry", "x", "extra"},           // arguments
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}
