package status

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name string
		in   Record
		want Record
	}{
		{"full", Record{Env: "production", Method: "full", Outcome: Succeeded, Started: start, Ended: start.Add(9 * time.Minute),
			Launch: "app-production-0123456789ab-20260304T050607", Previous: strings.Repeat("a", 40), Host: "bastion-1"}, Record{}},
		{"started only", Record{Env: "staging", Method: "serial", Outcome: Started, Started: start, Host: "b"}, Record{}},
		{"multi-line reason flattened", Record{Env: "s", Outcome: Failed, Reason: "health check\n  timed out\tafter 5m"},
			Record{Env: "s", Outcome: Failed, Reason: "health check timed out after 5m"}},
		{"non-UTC times stored as UTC", Record{Env: "s", Outcome: RolledBack, Started: start.In(time.FixedZone("X", 3600))},
			Record{Env: "s", Outcome: RolledBack, Started: start}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if reflect.DeepEqual(want, Record{}) {
				want = tt.in
			}
			got, err := ParseNote(tt.in.Format())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Errorf("round trip:\n got %+v\nwant %+v\ntext:\n%s", got, want, tt.in.Format())
			}
		})
	}
}

func TestParseNoteSkipsForeignText(t *testing.T) {
	a := Record{Env: "staging", Outcome: Started}
	b := Record{Env: "staging", Outcome: Failed, Reason: "x"}
	text := "hand-written remark\n\n" + FormatNote([]Record{a, b}) + "\nfuture: field\n"
	got, err := ParseNote(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Outcome != Started || got[1].Reason != "x" {
		t.Errorf("ParseNote = %+v", got)
	}
}

func TestReasonIsBounded(t *testing.T) {
	r := Record{Env: "s", Outcome: Failed, Reason: strings.Repeat("é", 1000)}
	got, _ := ParseNote(r.Format())
	if n := len([]rune(got[0].Reason)); n != MaxReason {
		t.Errorf("reason has %d runes, want %d", n, MaxReason)
	}
}
