package agent

import (
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
)

func TestWindows(t *testing.T) {
	weekdays := config.Window{Cron: "0 9 * * 1-5", Duration: config.Duration(8 * time.Hour), TimeZone: "America/New_York", Mode: config.WindowAllow}
	freeze := config.Window{Cron: "0 14 * * 5", Duration: config.Duration(3 * time.Hour), TimeZone: "America/New_York", Mode: config.WindowDeny}
	nightlyDeny := config.Window{Cron: "0 23 * * *", Duration: config.Duration(2 * time.Hour), TimeZone: "UTC", Mode: config.WindowDeny}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	at := func(day, hour, minute int) time.Time { return time.Date(2026, 11, day, hour, minute, 0, 0, ny) }
	for _, tc := range []struct {
		name    string
		windows []config.Window
		now     time.Time
		open    bool
	}{
		{"no windows: always open", nil, at(22, 3, 0), true},
		{"inside an allow window", []config.Window{weekdays}, at(23, 10, 0), true}, // Monday
		{"at the opening minute", []config.Window{weekdays}, at(23, 9, 0), true},
		{"at the closing instant", []config.Window{weekdays}, at(23, 17, 0), false},
		{"before it opens", []config.Window{weekdays}, at(23, 8, 59), false},
		{"on a Sunday", []config.Window{weekdays}, at(22, 10, 0), false},
		{"deny wins over allow", []config.Window{weekdays, freeze}, at(27, 15, 0), false}, // Friday
		{"allow outside the freeze", []config.Window{weekdays, freeze}, at(27, 11, 0), true},
		{"deny window crossing midnight", []config.Window{nightlyDeny}, time.Date(2026, 11, 24, 0, 30, 0, 0, time.UTC), false},
		{"only deny windows: open outside them", []config.Window{nightlyDeny}, time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Windows(tc.windows, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Open != tc.open {
				t.Errorf("open = %v (%s), want %v", got.Open, got.Reason, tc.open)
			}
			if !got.Open && got.Reason == "" {
				t.Error("a closed window must say why")
			}
		})
	}
}

// blockedID is a commit the control file tests block.
var blockedID = commit.MustParse("abcabcabcabcabcabcabcabcabcabcabcabcabca")

func TestControlSurvivesRestarts(t *testing.T) {
	c := Control{Dir: t.TempDir()}
	if p, err := c.PausedState("staging"); p != nil || err != nil {
		t.Fatalf("fresh state: %v, %v", p, err)
	}
	if err := c.Pause("staging", Paused{By: "ops@bastion", Reason: "load test"}); err != nil {
		t.Fatal(err)
	}
	// A new Control on the same dir (a restarted agent) sees it.
	p, err := Control{Dir: c.Dir}.PausedState("staging")
	if err != nil || p == nil || p.Reason != "load test" {
		t.Fatalf("after restart: %+v, %v", p, err)
	}
	if other, _ := c.PausedState("production"); other != nil {
		t.Error("pausing staging paused production")
	}
	if err := c.Resume("staging"); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume("staging"); err != nil {
		t.Errorf("resume twice: %v", err)
	}
	if p, _ := c.PausedState("staging"); p != nil {
		t.Error("still paused after resume")
	}
	if err := c.Block("staging", Blocked{Commit: blockedID, Outcome: "rolled-back"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := c.BlockedState("staging"); b == nil || b.Commit != blockedID {
		t.Errorf("blocked: %+v", b)
	}
	if err := c.Retry("staging"); err != nil {
		t.Fatal(err)
	}
	if b, _ := c.BlockedState("staging"); b != nil {
		t.Error("still blocked after retry")
	}
}
