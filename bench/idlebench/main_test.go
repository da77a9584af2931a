package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (ferry (run) x) S 1 4242 4242 0 -1 4194560 1000 200 0 0 150 30 7 5 20 0 12 0 100 1000000 2000 18446744073709551615\n"
	got, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if got.self != 180 || got.children != 12 {
		t.Fatalf("parseStat = %+v, want self 180 (150+30), children 12 (7+5)", got)
	}
	if _, err := parseStat([]byte("4242 (ferry) S 1 2")); err == nil {
		t.Fatal("a short stat line parsed")
	}
}

func TestParseRSS(t *testing.T) {
	status := "Name:\tferry\nVmPeak:\t  900000 kB\nVmRSS:\t   74752 kB\nThreads:\t12\n"
	got, err := parseRSS(strings.NewReader(status))
	if err != nil || got != 74752 {
		t.Fatalf("parseRSS = %d, %v; want 74752", got, err)
	}
	if _, err := parseRSS(strings.NewReader("Name:\tzombie\n")); err == nil {
		t.Fatal("no VmRSS parsed")
	}
}

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
		agent0:    cpuTicks{self: 100, children: 10},
		agent1:    cpuTicks{self: 200, children: 60},
		daemon1:   cpuTicks{self: 5, children: 15},
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
