package watch

import (
	"testing"
	"time"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://user:s3cret@git.example.com/a.git", "https://user:redacted@git.example.com/a.git"},
		{"https://git.example.com/a.git", "https://git.example.com/a.git"},
		{"ssh://git@git.example.com/a.git", "ssh://git@git.example.com/a.git"},
		{"git@git.example.com:a.git", "git@git.example.com:a.git"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
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
