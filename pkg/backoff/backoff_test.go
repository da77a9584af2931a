package backoff

import (
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 8 * time.Second}
	tests := []struct {
		failures int
		r        float64
		want     time.Duration
	}{
		{1, 0, 500 * time.Millisecond},
		{1, 0.999999999, time.Second - time.Nanosecond},
		{2, 0, time.Second},
		{3, 1, 4 * time.Second},
		{4, 0.5, 6 * time.Second},
		{10, 0, 4 * time.Second}, // capped at Max, half of it at least
		{0, 0, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		got := b.Delay(tt.failures, tt.r)
		if diff := got - tt.want; diff < -time.Microsecond || diff > time.Microsecond {
			t.Errorf("Delay(%d, %v) = %v, want %v", tt.failures, tt.r, got, tt.want)
		}
	}
}

func TestStepDoublesUpToMax(t *testing.T) {
	b := Backoff{Base: time.Second, Max: time.Minute}
	for attempt := 1; attempt <= 8; attempt++ {
		if got, want := b.Step(attempt), min(time.Second<<(attempt-1), time.Minute); got != want {
			t.Errorf("Step(%d) = %s, want %s", attempt, got, want)
		}
	}
}
