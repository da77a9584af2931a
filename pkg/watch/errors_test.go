package watch

import (
	"testing"
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
