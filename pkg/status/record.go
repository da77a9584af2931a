package status

import (
	"bufio"
	"fmt"
	"strings"
	"time"
)

// Outcome of a deploy attempt.
type Outcome string

const (
	Started    Outcome = "started"
	Succeeded  Outcome = "succeeded"
	Failed     Outcome = "failed"
	RolledBack Outcome = "rolled-back"
	// Refused: the target was not deployed at all (an untrusted
	// signature, a plan refused by its pre-flight checks).
	Refused Outcome = "refused"
	// AwaitingApproval: the deploy waits for `ferry approve`
	// (policy.approve); Approved and Rejected record the answer, with By;
	// Superseded: a newer commit replaced one awaiting approval.
	AwaitingApproval Outcome = "awaiting-approval"
	Approved         Outcome = "approved"
	Rejected         Outcome = "rejected"
	Superseded       Outcome = "superseded"
)

// Record is one deploy attempt's outcome as kept in a note.
type Record struct {
	Env     string
	Method  string // "full" or "serial"
	Outcome Outcome
	Started time.Time
	Ended   time.Time // zero while the attempt runs
	// Launch is the launch configuration name or launch template version.
	Launch   string
	Previous string // the commit the environment ran before
	Host     string // the agent that deployed
	Reason   string // short failure reason
	// By is who approved or rejected the deploy (policy.approve).
	By string
}

// MaxReason bounds the failure reason a note records, in characters: a
// note is a summary, the journal and logs hold the details. It is Ferry's
// one bound on a reason; pkg/execute keeps a reason to one line, and each
// forge bounds its descriptions as its API does.
const MaxReason = 300

// header starts each record; it makes `git log --notes=ferry` readable at a
// glance and marks where a record begins.
const header = "ferry deploy: "

// Format renders the record as a block of "key: value" lines under a
// one-line summary. Values are single lines.
func (r Record) Format() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s %s", header, oneLine(r.Env), oneLine(string(r.Outcome)))
	if r.Method != "" {
		fmt.Fprintf(&b, " (%s)", oneLine(r.Method))
	}
	b.WriteByte('\n')
	field := func(k, v string) {
		if v = oneLine(v); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	field("env", r.Env)
	field("method", r.Method)
	field("outcome", string(r.Outcome))
	field("started", rfc3339(r.Started))
	field("ended", rfc3339(r.Ended))
	field("launch", r.Launch)
	field("previous", r.Previous)
	field("host", r.Host)
	field("by", r.By)
	reason := oneLine(r.Reason)
	if len([]rune(reason)) > MaxReason {
		reason = string([]rune(reason)[:MaxReason-1]) + "…"
	}
	field("reason", reason)
	return b.String()
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func oneLine(s string) string {
	return strings.TrimSpace(strings.Join(strings.Fields(s), " "))
}

// FormatNote joins records into a note's text.
func FormatNote(recs []Record) string {
	parts := make([]string, len(recs))
	for i, r := range recs {
		parts[i] = r.Format()
	}
	return strings.Join(parts, "\n")
}

// ParseNote reads back the records in a note. Text that is not a Ferry
// record (a note someone wrote by hand) is skipped; unknown keys are
// ignored so newer agents can add fields.
func ParseNote(text string) ([]Record, error) {
	var recs []Record
	var cur *Record
	flush := func() {
		if cur != nil && cur.Env != "" && cur.Outcome != "" {
			recs = append(recs, *cur)
		}
		cur = nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, header) {
			flush()
			cur = &Record{}
			continue
		}
		if cur == nil {
			continue
		}
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		if err := cur.set(k, v); err != nil {
			return nil, err
		}
	}
	flush()
	return recs, sc.Err()
}

func (r *Record) set(k, v string) error {
	switch k {
	case "env":
		r.Env = v
	case "method":
		r.Method = v
	case "outcome":
		r.Outcome = Outcome(v)
	case "started", "ended":
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fmt.Errorf("note field %s: %w", k, err)
		}
		if y := t.UTC().Year(); y < 0 || y > 9999 {
			// Format writes UTC, and RFC 3339 has four-digit years only:
			// such a time (0000-01-01T00:30:00+01:00) could not be read
			// back from the note Ferry writes.
			return fmt.Errorf("note field %s: %q is outside the years 0000-9999 in UTC", k, v)
		}
		if k == "started" {
			r.Started = t
		} else {
			r.Ended = t
		}
	case "launch":
		r.Launch = v
	case "previous":
		r.Previous = v
	case "host":
		r.Host = v
	case "reason":
		r.Reason = v
	case "by":
		r.By = v
	}
	return nil
}

// Attempts keeps one record per deploy attempt: its outcome, or its
// "started" record while it has none.
func Attempts(recs []Record) []Record {
	finished := map[time.Time]bool{}
	for _, r := range recs {
		if r.Outcome != Started {
			finished[r.Started] = true
		}
	}
	var out []Record
	for _, r := range recs {
		if r.Outcome != Started || !finished[r.Started] {
			out = append(out, r)
		}
	}
	return out
}
