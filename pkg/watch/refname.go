package watch

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// checkRefName accepts a ref name the mirror may store: a full name under
// refs/ that `git check-ref-format` accepts. The mirror keeps refs as files
// under its directory, so a name from the remote that is not one ("config",
// "HEAD", "refs/ferry/locks/../../config", a name with control characters)
// could otherwise land on a file of the repository itself.
func checkRefName(name plumbing.ReferenceName) error {
	s := string(name)
	if !strings.HasPrefix(s, "refs/") {
		return fmt.Errorf("ref name %q is not under refs/: %w", s, ErrPermanent)
	}
	// go-git's Validate is check-ref-format's rules (no "..", no component
	// starting with "." or ending in ".lock", no control characters, space,
	// ~^:?*[\, no "@{", no empty component, no trailing "." or "/").
	if err := name.Validate(); err != nil {
		return fmt.Errorf("ref name %q: %w: %w", s, err, ErrPermanent)
	}
	return nil
}
