package status

import (
	"reflect"
	"testing"
	"time"
)

// FuzzParseNote feeds arbitrary note text (anyone who can push to the
// remote can write notes) to the reader: it must never panic, and what it
// reads must format into a note that reads back the same (ferry status and
// the forges show records read from notes in Ferry's own form).
func FuzzParseNote(f *testing.F) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	f.Add(FormatNote([]Record{
		{Env: "staging", Method: "serial", Outcome: Started, Started: t0, Host: "bastion/42"},
		{Env: "staging", Method: "serial", Outcome: Failed, Started: t0, Ended: t0.Add(time.Minute), Reason: "health check failed", Previous: "80db5afabb96"},
	}))
	f.Add("a note written by hand\n\nferry deploy: prod approved\nenv: prod\noutcome: approved\nby: alice\n")
	f.Add("ferry deploy: x started\nenv: x\noutcome: started\nstarted: 2026-11-30T12:00:00+01:00\n")
	f.Add("ferry deploy: x started\nenv: x\noutcome: started\nstarted: 0000-01-01T00:30:00+01:00\n")
	f.Fuzz(func(t *testing.T, text string) {
		recs, err := ParseNote(text)
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.Env == "" || r.Outcome == "" {
				t.Fatalf("a record without env or outcome: %+v", r)
			}
		}
		again, err := ParseNote(FormatNote(recs))
		if err != nil {
			t.Fatalf("Ferry's own note does not read back: %v\n%s", err, FormatNote(recs))
		}
		// Formatting normalises (one line, UTC, a bounded reason): once
		// normalised, a record must keep its value.
		third, err := ParseNote(FormatNote(again))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, third) {
			t.Fatalf("a note changes each time it is rewritten:\n%+v\n%+v", again, third)
		}
	})
}
