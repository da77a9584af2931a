package awssim

import (
	"fmt"
	"strings"
	"time"
)

// CreateImage [API_CreateImage]: the image is pending until the backend
// has captured the instance (stubs: ImageBuildTime), then available, with
// one EBS snapshot of its root volume, which TagSpecification's snapshot
// tags go on. NoReboot is not modelled: the instance keeps running, as
// with NoReboot=true.
func ec2CreateImage(s *Sim, p params) ([]*node, *APIError) {
	instID, name := p.str("InstanceId"), p.str("Name")
	if instID == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter InstanceId")
	}
	if name == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter Name")
	}
	if apiErr := instanceIDs.check(instID); apiErr != nil {
		return nil, apiErr
	}
	inst := s.st.Instances[instID]
	if inst == nil || inst.State == stateTerminated {
		return nil, errf("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", instID)
	}
	for _, img := range s.st.Images {
		if img.Name == name && img.State != "deregistered" {
			return nil, errf("InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI %s", name, img.ID)
		}
	}
	now := s.now()
	img := &image{
		ID: s.newIDLocked("ami"), Name: name, Description: p.str("Description"),
		State: "pending", Created: now, ReadyAt: now.Add(s.opts.ImageBuildTime),
		Tags: tagSpecs(p, "TagSpecification", "image"), Source: instID,
	}
	if apiErr := s.backend.captureLocked(img, inst); apiErr != nil {
		return nil, apiErr
	}
	snap := s.newSnapshotLocked(img, fmt.Sprintf("Created by CreateImage(%s) for %s", instID, img.ID), tagSpecs(p, "TagSpecification", "snapshot"))
	snap.VolumeID = rootVolumeID(inst) // a snapshot of the instance's root volume
	snap.Description += " from " + snap.VolumeID
	s.st.Images[img.ID] = img
	return []*node{leaf("imageId", img.ID)}, nil
}

// advanceImagesLocked makes pending images available (their snapshots
// completed) once captured, or failed.
func (s *Sim) advanceImagesLocked(now time.Time) {
	for _, id := range sortedKeys(s.st.Images) {
		img := s.st.Images[id]
		if img.State != "pending" {
			continue
		}
		done, err := s.backend.capturedLocked(img, now)
		if !done {
			continue
		}
		img.State, img.ReadyAt = "available", now
		snapState := "completed"
		if err != nil {
			img.State, img.StateReason, snapState = "failed", err.Error(), "error"
			s.log.Warn("awssim: image failed", "image", img.ID, "err", err)
		}
		if snap := s.st.Snapshots[img.Snapshot]; snap != nil {
			snap.State = snapState
		}
	}
}

// DescribeImages [API_DescribeImages]: the images the account may launch,
// its own and the public ones ("If you don't specify ... Owners, the
// results include all images for which you have launch permissions"), by
// id, Owner (self, an account id) and filter (name, state, image-id,
// owner-id, is-public, tag:K, tag-key).
func ec2DescribeImages(s *Sim, p params) ([]*node, *APIError) {
	ids := p.strs("ImageId")
	if apiErr := imageIDs.check(ids...); apiErr != nil {
		return nil, apiErr
	}
	for _, id := range ids {
		if img := s.imageLocked(id); img == nil || img.State == "deregistered" {
			return nil, errf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
		}
	}
	owners := p.strs("Owner")
	ownerOf := func(img *image) string {
		if img.Owner == "" {
			return s.opts.AccountID
		}
		return img.Owner
	}
	filters := ec2Filters(p)
	var keep []*image
	all := map[string]*image{}
	for id, img := range s.public {
		all[id] = img
	}
	for id, img := range s.st.Images {
		all[id] = img
	}
	for _, id := range sortedKeys(all) {
		img := all[id]
		if img.State == "deregistered" || len(ids) > 0 && !contains(ids, id) {
			continue
		}
		if len(owners) > 0 && !contains(owners, ownerOf(img)) && !(img.Owner == "" && contains(owners, "self")) {
			continue
		}
		ok := matchFilters(filters, func(name string) []string {
			switch name {
			case "name":
				return []string{img.Name}
			case "state":
				return []string{img.State}
			case "image-id":
				return []string{img.ID}
			case "description":
				return []string{img.Description}
			case "block-device-mapping.snapshot-id":
				return []string{img.Snapshot}
			case "owner-id":
				return []string{ownerOf(img)}
			case "is-public":
				return []string{fmt.Sprint(img.Owner != "")}
			case "tag-key":
				return sortedKeys(img.Tags)
			}
			if k, ok := strings.CutPrefix(name, "tag:"); ok {
				if v, ok := img.Tags[k]; ok {
					return []string{v}
				}
			}
			return nil
		})
		if ok {
			keep = append(keep, img)
		}
	}
	page, next, apiErr := paginateEC2(p, len(keep), 1000)
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, img := range keep[page.from:page.to] {
		its = append(its, el("",
			leaf("imageId", img.ID), leaf("imageLocation", ownerOf(img)+"/"+img.Name),
			leaf("imageState", img.State), leaf("imageOwnerId", ownerOf(img)),
			leaf("creationDate", img.Created), leaf("isPublic", img.Owner != ""),
			leaf("architecture", "x86_64"), leaf("imageType", "machine"),
			leaf("name", img.Name), opt("description", img.Description),
			leaf("rootDeviceType", "ebs"), leaf("rootDeviceName", rootDevice),
			s.blockDevicesLocked(img), leaf("virtualizationType", "hvm"),
			stateReasonNode(img.StateReason), opt("sourceInstanceId", img.Source), ec2TagSet(img.Tags)))
	}
	return []*node{items("imagesSet", its), opt("nextToken", next)}, nil
}

// DeregisterImage [API_DeregisterImage]: the image can no longer launch
// instances; its snapshot stays unless DeleteAssociatedSnapshots says
// otherwise [deregister-ami].
func ec2DeregisterImage(s *Sim, p params) ([]*node, *APIError) {
	id := p.str("ImageId")
	if id == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter ImageId")
	}
	if apiErr := imageIDs.check(id); apiErr != nil {
		return nil, apiErr
	}
	img := s.st.Images[id]
	if img == nil || img.State == "deregistered" {
		return nil, errf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
	}
	img.State = "deregistered"
	if p.boolOr("DeleteAssociatedSnapshots", false) {
		if snap := s.st.Snapshots[img.Snapshot]; snap != nil {
			s.deleteSnapshotLocked(snap)
		}
	}
	return []*node{leaf("return", true)}, nil
}

// rootDevice is the root volume's device name on the images here, as on
// Debian's AMIs.
const rootDevice = "/dev/xvda"

// blockDevicesLocked is an image's block device mapping: its root volume
// from its snapshot.
func (s *Sim) blockDevicesLocked(img *image) *node {
	snap := s.st.Snapshots[img.Snapshot]
	if snap == nil {
		return items("blockDeviceMapping", nil)
	}
	return items("blockDeviceMapping", []*node{el("", leaf("deviceName", rootDevice),
		el("ebs", leaf("snapshotId", snap.ID), leaf("volumeSize", snap.Size),
			leaf("deleteOnTermination", true), leaf("volumeType", "gp3"), leaf("encrypted", false)))})
}

// stateReasonNode is a stateReason element from "Code: message", or none.
func stateReasonNode(reason string) *node {
	if reason == "" {
		return nil
	}
	code, msg, ok := strings.Cut(reason, ": ")
	if !ok {
		code, msg = "Server.InternalError", reason
	}
	return el("stateReason", leaf("code", code), leaf("message", msg))
}
