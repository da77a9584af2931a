package execute

import (
	"errors"
	"fmt"
	"testing"
)

// TestShortReason: an outcome's reason is one line; a failed rollback
// keeps the first line of the step's error and of the rollback's, joined
// with other errors or not.
func TestShortReason(t *testing.T) {
	step := errors.New("step 7 (upgrade-page-on): upgrade_page_on on i-1: connection cut\nupgrade_page_on on i-2: connection cut")
	rollback := fmt.Errorf("upgrade page: %w", errors.New("upgrade_page_off on i-1: refused\nupgrade_page_off on i-2: refused"))
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"one line", errors.New("step 3 (raise-capacity): throttled"), "step 3 (raise-capacity): throttled"},
		{"several lines", step, "step 7 (upgrade-page-on): upgrade_page_on on i-1: connection cut"},
		{"a failed rollback", &rollbackError{step: step, rollback: rollback},
			"step 7 (upgrade-page-on): upgrade_page_on on i-1: connection cut; rollback failed: upgrade page: upgrade_page_off on i-1: refused"},
		{"a failed rollback joined", errors.Join(&rollbackError{step: step, rollback: rollback}, errors.New("resume: throttled")),
			"step 7 (upgrade-page-on): upgrade_page_on on i-1: connection cut; rollback failed: upgrade page: upgrade_page_off on i-1: refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shortReason(tc.err); got != tc.want {
				t.Errorf("shortReason = %q, want %q", got, tc.want)
			}
		})
	}
}
