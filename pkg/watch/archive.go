package watch

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// WriteTree writes the tree of commit c to w as a tar stream (see
// WriteTree): what a bake delivers to its builder (pkg/bake). The mirror
// is held while it is written; write to a file, not to a slow reader.
func (m *Mirror) WriteTree(c plumbing.Hash, w io.Writer) error {
	return m.WithRepository(func(repo *git.Repository) error { return WriteTree(repo, c, w) })
}

// WriteTree writes the tree of commit c in repo to w as a tar stream, as
// `git archive` would: directories, regular files (0644, or 0755 when
// executable) and symbolic links, with the commit's time on every entry
// and no owner. Submodules (gitlinks) have no content in the repository
// and are left out. Nothing but the tree goes in: no .git, no credentials.
func WriteTree(repo *git.Repository, c plumbing.Hash, w io.Writer) error {
	cm, err := repo.CommitObject(c)
	if err != nil {
		return fmt.Errorf("commit %s: %w", c, err)
	}
	tree, err := cm.Tree()
	if err != nil {
		return fmt.Errorf("tree of %s: %w", c, err)
	}
	mtime := cm.Committer.When.UTC().Truncate(time.Second)
	tw := tar.NewWriter(w)
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("walk %s: %w", c, err)
		}
		if err := writeEntry(repo, tw, name, entry, mtime); err != nil {
			return fmt.Errorf("%s at %s: %w", name, c, err)
		}
	}
	return tw.Close()
}

func writeEntry(repo *git.Repository, tw *tar.Writer, name string, e object.TreeEntry, mtime time.Time) error {
	hdr := &tar.Header{Name: path.Clean(name), ModTime: mtime, Format: tar.FormatPAX}
	switch e.Mode {
	case filemode.Dir:
		hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
		return tw.WriteHeader(hdr)
	case filemode.Submodule:
		return nil
	case filemode.Symlink:
		target, err := blobBytes(repo, e.Hash)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, string(target), 0o777
		return tw.WriteHeader(hdr)
	case filemode.Regular, filemode.Deprecated, filemode.Executable:
		blob, err := repo.BlobObject(e.Hash)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, blob.Size, 0o644
		if e.Mode == filemode.Executable {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		r, err := blob.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(tw, r)
		return err
	}
	return fmt.Errorf("unknown file mode %s", e.Mode)
}

func blobBytes(repo *git.Repository, h plumbing.Hash) ([]byte, error) {
	blob, err := repo.BlobObject(h)
	if err != nil {
		return nil, err
	}
	r, err := blob.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}
