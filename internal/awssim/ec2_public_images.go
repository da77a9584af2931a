package awssim

import "time"

// DebianImage is the public AMI every stub simulator knows: Debian 12
// (bookworm) for amd64, owned by Debian's AWS account, as an operator
// finds it with `aws ec2 describe-images --owners 136693071363 --filters
// Name=name,Values=debian-12-amd64-*`. Ferry's tests and demo launch
// their stub instances from it.
const (
	DebianImage      = "ami-0fe77a1b2c3d4e5f6"
	DebianImageName  = "debian-12-amd64-20260101-2000"
	DebianImageOwner = "136693071363"
)

// PublicImage is an AMI the account did not make but may launch: a public
// image in the region (AWS: "Public AMIs are available for anyone to
// use", AMIs.html#public-amis-describe). Launching an id that is neither
// the account's nor public is InvalidAMIID.NotFound [API_RunInstances].
type PublicImage struct {
	ID, Name string
	Owner    string // its owner's account id; default DebianImageOwner
}

// publicImagesOf is the catalogue of a stub simulator: Debian's image, the
// extra ones of opts. The machine backend has its own base image instead.
func publicImagesOf(opts Options) map[string]*image {
	out := map[string]*image{}
	if opts.Machines {
		return out
	}
	created := time.Date(2026, 1, 1, 20, 0, 0, 0, time.UTC)
	for _, pi := range append([]PublicImage{{ID: DebianImage, Name: DebianImageName}}, opts.PublicImages...) {
		if pi.Owner == "" {
			pi.Owner = DebianImageOwner
		}
		if pi.Name == "" {
			pi.Name = pi.ID
		}
		out[pi.ID] = &image{ID: pi.ID, Name: pi.Name, Owner: pi.Owner, State: "available", Created: created, ReadyAt: created, Tags: map[string]string{}}
	}
	return out
}

// publicImageTagsLocked returns the account's tags on a public image,
// kept in the account's state (the image itself is not): "You can tag
// public or shared resources, but the tags you assign are available only
// to your AWS account" [Using_Tags]. The image's Tags is the same map, so
// DescribeImages shows them and filters on them.
func (s *Sim) publicImageTagsLocked(img *image) map[string]string {
	tags := s.st.PublicImageTags[img.ID]
	if tags == nil {
		tags = map[string]string{}
		s.st.PublicImageTags[img.ID] = tags
	}
	img.Tags = tags
	return tags
}

// imageLocked finds an image the account may launch: its own or a public
// one.
func (s *Sim) imageLocked(id string) *image {
	if img := s.st.Images[id]; img != nil {
		return img
	}
	return s.public[id]
}
