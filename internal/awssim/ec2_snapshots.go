package awssim

import "strings"

// snapshotSize is the size in GiB of every root volume here: the smallest
// Debian's AMIs have.
const snapshotSize = 8

// newSnapshotLocked records the snapshot of img's root volume, pending
// until the image is available.
func (s *Sim) newSnapshotLocked(img *image, description string, tags map[string]string) *snapshot {
	snap := &snapshot{ID: s.newIDLocked("snap"), VolumeID: s.newIDLocked("vol"), Size: snapshotSize,
		Description: description, State: "pending", Started: s.now(), Tags: tags, Layer: img.Layer}
	if snap.Tags == nil {
		snap.Tags = map[string]string{}
	}
	s.st.Snapshots[snap.ID] = snap
	img.Snapshot = snap.ID
	return snap
}

// snapshotUserLocked returns the registered image whose root volume is the
// snapshot, if any: such a snapshot cannot be deleted [ebs-deleting-snapshot].
func (s *Sim) snapshotUserLocked(id string) *image {
	for _, imgID := range sortedKeys(s.st.Images) {
		if img := s.st.Images[imgID]; img.Snapshot == id && img.State != "deregistered" {
			return img
		}
	}
	return nil
}

// deleteSnapshotLocked forgets a snapshot and lets the backend free its
// data.
func (s *Sim) deleteSnapshotLocked(snap *snapshot) {
	delete(s.st.Snapshots, snap.ID)
	s.backend.releaseLocked(snap)
}

// DeleteSnapshot [API_DeleteSnapshot]: the root snapshot of a registered
// image is InvalidSnapshot.InUse; deregister the image first
// [ebs-deleting-snapshot, errors-overview].
func ec2DeleteSnapshot(s *Sim, p params) ([]*node, *APIError) {
	id := p.str("SnapshotId")
	if id == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter SnapshotId")
	}
	if apiErr := snapshotIDs.check(id); apiErr != nil {
		return nil, apiErr
	}
	snap := s.st.Snapshots[id]
	if snap == nil {
		return nil, snapshotNotFound(id)
	}
	if img := s.snapshotUserLocked(id); img != nil {
		return nil, errf("InvalidSnapshot.InUse", "The snapshot %s is currently in use by %s", id, img.ID)
	}
	s.deleteSnapshotLocked(snap)
	return []*node{leaf("return", true)}, nil
}

// DescribeSnapshots [API_DescribeSnapshots]: the account's own snapshots
// (OwnerId self or the account), by id and filter (snapshot-id, status,
// volume-id, description, tag:K, tag-key), paginated.
func ec2DescribeSnapshots(s *Sim, p params) ([]*node, *APIError) {
	ids := p.strs("SnapshotId")
	if apiErr := snapshotIDs.check(ids...); apiErr != nil {
		return nil, apiErr
	}
	for _, id := range ids {
		if s.st.Snapshots[id] == nil {
			return nil, snapshotNotFound(id)
		}
	}
	for _, o := range p.strs("Owner") {
		if o != "self" && o != s.opts.AccountID {
			return []*node{items("snapshotSet", nil)}, nil // other accounts share nothing here
		}
	}
	filters := ec2Filters(p)
	var keep []*snapshot
	for _, id := range sortedKeys(s.st.Snapshots) {
		snap := s.st.Snapshots[id]
		if len(ids) > 0 && !contains(ids, id) {
			continue
		}
		ok := matchFilters(filters, func(name string) []string {
			switch name {
			case "snapshot-id":
				return []string{snap.ID}
			case "status":
				return []string{snap.State}
			case "volume-id":
				return []string{snap.VolumeID}
			case "description":
				return []string{snap.Description}
			case "owner-id":
				return []string{s.opts.AccountID}
			case "tag-key":
				return sortedKeys(snap.Tags)
			}
			if k, ok := strings.CutPrefix(name, "tag:"); ok {
				if v, ok := snap.Tags[k]; ok {
					return []string{v}
				}
			}
			return nil
		})
		if ok {
			keep = append(keep, snap)
		}
	}
	page, next, apiErr := paginateEC2(p, len(keep), 1000)
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, snap := range keep[page.from:page.to] {
		progress := "100%"
		if snap.State == "pending" {
			progress = "0%"
		}
		its = append(its, el("",
			leaf("snapshotId", snap.ID), leaf("volumeId", snap.VolumeID), leaf("status", snap.State),
			leaf("startTime", snap.Started), leaf("progress", progress), leaf("ownerId", s.opts.AccountID),
			leaf("volumeSize", snap.Size), opt("description", snap.Description), leaf("encrypted", false),
			leaf("storageTier", "standard"), ec2TagSet(snap.Tags)))
	}
	return []*node{items("snapshotSet", its), opt("nextToken", next)}, nil
}

func snapshotNotFound(id string) *APIError {
	return errf("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
}
