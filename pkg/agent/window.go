package agent

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ferry-deploy/ferry/pkg/config"
)

// WindowState says whether deploys may start now, and why.
type WindowState struct {
	Open   bool
	Reason string
}

// Windows decides whether deploys may start at now: a deny window that is
// open closes them (deny wins); otherwise, when allow windows exist, one of
// them must be open. A deploy already running is never stopped by a window.
func Windows(windows []config.Window, now time.Time) (WindowState, error) {
	anyAllow, inAllow := false, false
	for i, w := range windows {
		open, err := windowOpen(w, now)
		if err != nil {
			return WindowState{}, fmt.Errorf("window %d: %w", i, err)
		}
		switch w.Mode {
		case config.WindowDeny:
			if open {
				return WindowState{Reason: fmt.Sprintf("inside the deny window %q (%s, %s)", w.Cron, w.Duration, w.TimeZone)}, nil
			}
		default:
			anyAllow = true
			inAllow = inAllow || open
		}
	}
	if anyAllow && !inAllow {
		return WindowState{Reason: "outside every allow window"}, nil
	}
	return WindowState{Open: true}, nil
}

// windowOpen reports whether w opened within its duration before now: the
// first firing after now-duration is at or before now.
func windowOpen(w config.Window, now time.Time) (bool, error) {
	sched, err := cron.ParseStandard("CRON_TZ=" + w.TimeZone + " " + w.Cron)
	if err != nil {
		return false, err
	}
	next := sched.Next(now.Add(-w.Duration.Std()))
	return !next.IsZero() && !next.After(now), nil
}
