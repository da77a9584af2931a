package watch

import (
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/pkg/commit"
)

// hashOf is go-git's name for a commit id: the watcher hands out
// commit.IDs (Target.Commit) and reads the mirror with plumbing.Hashes.
func hashOf(id commit.ID) plumbing.Hash { return plumbing.NewHash(id.String()) }
