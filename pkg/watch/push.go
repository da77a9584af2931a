package watch

import (
	"context"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/revlist"
)

// PushCAS sets the remote's ref to newHash only if it is oldHash now: a
// compare-and-swap that the server decides atomically under its ref lock.
// A zero oldHash means "create; the ref must not exist", a zero newHash
// means delete. It reports false, with no error, when the ref was not
// oldHash (another writer won); the caller re-reads and retries. On success
// the mirror's ref is updated too.
//
// go-git's Push cannot express this for a ref that must not exist yet, so
// PushCAS speaks the receive-pack protocol directly with the expected old
// hash in the command.
func (m *Mirror) PushCAS(ctx context.Context, name plumbing.ReferenceName, oldHash, newHash plumbing.Hash) (bool, error) {
	if err := checkRefName(name); err != nil {
		return false, err
	}
	defer m.lock()()
	auth, secret, err := m.auth()
	if err != nil {
		return false, m.remoteErr("push", err, secret)
	}
	c, err := m.transportFor()
	if err != nil {
		return false, m.remoteErr("push", err, secret)
	}
	sess, err := c.NewReceivePackSession(m.ep, auth)
	if err != nil {
		return false, m.remoteErr("push", err, secret)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return false, m.remoteErr("push", badAdvertisement(err), secret)
	}
	current := ar.References[name.String()]
	if current != oldHash {
		return false, nil
	}
	if oldHash == newHash {
		return true, nil
	}
	if newHash.IsZero() && !ar.Capabilities.Supports(capability.DeleteRefs) {
		return false, m.remoteErr("push", fmt.Errorf("remote cannot delete refs: %w", ErrPermanent), secret)
	}

	req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	req.Commands = []*packp.Command{{Name: name, Old: oldHash, New: newHash}}

	var hashes []plumbing.Hash
	if !newHash.IsZero() {
		// Only the ref's own old value counts as "have": revlist walks the
		// whole history of every have, and the notes and lock histories are
		// short where the project's branches may be 100k commits long.
		var haves []plumbing.Hash
		if !oldHash.IsZero() {
			haves = append(haves, oldHash)
		}
		hashes, err = revlist.Objects(m.st, []plumbing.Hash{newHash}, haves)
		if err != nil {
			return false, fmt.Errorf("objects to push for %s: %w", name, err)
		}
	}
	rs, err := m.sendPack(ctx, sess, req, hashes, newHash.IsZero(), !ar.Capabilities.Supports(capability.OFSDelta))
	if rs != nil {
		// go-git returns the report with an error built from it when the
		// server refused a command; the report is what tells.
		if err := rs.Error(); err != nil {
			// The server refused the update. Its ref lock compares the old
			// hash, so this is usually a lost race, or contention for the
			// ref's lock file with a concurrent push. Either way the ref was
			// not changed and the caller re-reads and retries within its
			// bound, and says what it found (a lock's loser: "lock held").
			// A warning here would come before that clear message for the
			// common case; the server's words stay in the debug log for the
			// rarer refusals (a hook, permissions).
			m.log.Debug("remote refused ref update", "ref", name, "status", err)
			return false, nil
		}
	}
	if err != nil {
		return false, m.remoteErr("push", err, secret)
	}
	if newHash.IsZero() {
		err = m.st.RemoveReference(name)
	} else {
		err = m.st.SetReference(plumbing.NewHashReference(name, newHash))
	}
	if err != nil {
		return true, fmt.Errorf("update local %s after push: %w", name, err)
	}
	return true, nil
}

func (m *Mirror) sendPack(ctx context.Context, sess interface {
	ReceivePack(context.Context, *packp.ReferenceUpdateRequest) (*packp.ReportStatus, error)
}, req *packp.ReferenceUpdateRequest, hashes []plumbing.Hash, deleteOnly, refDeltas bool) (*packp.ReportStatus, error) {
	if deleteOnly {
		return sess.ReceivePack(ctx, req)
	}
	rd, wr := io.Pipe()
	req.Packfile = rd
	done := make(chan error, 1)
	go func() {
		_, err := packfile.NewEncoder(wr, m.st, refDeltas).Encode(hashes, 10)
		done <- wr.CloseWithError(err)
	}()
	rs, err := sess.ReceivePack(ctx, req)
	if err != nil {
		_ = rd.CloseWithError(err)
		<-done
		return rs, err
	}
	if err := <-done; err != nil {
		return nil, err
	}
	return rs, nil
}
