package watch

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule says when the next poll is due after t. cron.Schedule satisfies
// it.
type Schedule interface {
	Next(t time.Time) time.Time
}

// Every polls at a fixed interval.
func Every(d time.Duration) Schedule { return every(d) }

type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

// CronSchedule parses a standard five-field cron spec ("*/5 * * * *") or a
// descriptor ("@hourly", "@every 90s").
func CronSchedule(spec string) (Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("cron schedule %q: %w: %w", spec, err, ErrPermanent)
	}
	return s, nil
}
