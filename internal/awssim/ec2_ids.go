package awssim

import "strings"

// EC2's resource ids are the resource type's prefix, a hyphen and 8
// lowercase hexadecimal digits (before 2016) or 17 (every resource made
// since mid-2018) [resource-ids]. An id that is not of that form names no
// resource at all, and EC2 says so apart from an id of the right form that
// it does not know: `InvalidInstanceID.Malformed` rather than
// `InvalidInstanceID.NotFound`, and so on for each type [errors-overview],
// HTTP 400. The difference matters to a caller: a new instance's id may be
// unknown for a while (eventual consistency) and asking again helps, a
// malformed one never becomes known.
//
// The messages are EC2's as its users quote them (the error codes page
// gives none): `Invalid id: "i-123"` for instances, `Invalid id:
// "ami-xyz" (expecting "ami-...")` for images and security groups, `The
// snapshot ID '…' is not valid. The expected format is snap-xxxxxxxx or
// snap-xxxxxxxxxxxxxxxxx.` for snapshots. For launch templates, subnets
// and VPCs the simulator uses the images' form (unconfirmed).
type idKind struct {
	prefix    string // "i", "ami", ...
	malformed string // EC2's error code for an id not of this kind's form
	message   string // its message, formatted with the id
}

var (
	instanceIDs = idKind{"i", "InvalidInstanceID.Malformed", `Invalid id: "%s"`}
	imageIDs    = idKind{"ami", "InvalidAMIID.Malformed", `Invalid id: "%s" (expecting "ami-...")`}
	groupIDs    = idKind{"sg", "InvalidGroupId.Malformed", `Invalid id: "%s" (expecting "sg-...")`}
	templateIDs = idKind{"lt", "InvalidLaunchTemplateId.Malformed", `Invalid id: "%s" (expecting "lt-...")`}
	snapshotIDs = idKind{"snap", "InvalidSnapshotID.Malformed", "The snapshot ID '%s' is not valid. The expected format is snap-xxxxxxxx or snap-xxxxxxxxxxxxxxxxx."}
	subnetIDs   = idKind{"subnet", "InvalidSubnetID.Malformed", `Invalid id: "%s" (expecting "subnet-...")`}
	vpcIDs      = idKind{"vpc", "InvalidVpcID.Malformed", `Invalid id: "%s" (expecting "vpc-...")`}
)

// wellFormed reports whether id is this kind's prefix, a hyphen and 8 or
// 17 lowercase hexadecimal digits.
func (k idKind) wellFormed(id string) bool {
	digits, ok := strings.CutPrefix(id, k.prefix+"-")
	return ok && hexID(digits)
}

// check returns EC2's Malformed error for the first of ids that is not of
// this kind's form, or nil when all are. Calls check every id's form
// before looking any up: a malformed id is refused even beside one that
// does not exist.
func (k idKind) check(ids ...string) *APIError {
	for _, id := range ids {
		if !k.wellFormed(id) {
			return errf(k.malformed, k.message, id)
		}
	}
	return nil
}

// wellFormedResourceID reports whether id has the form of some EC2
// resource's id: a lowercase prefix (hyphens allowed inside it, as in
// vpc-cidr-assoc-…), a hyphen, 8 or 17 lowercase hexadecimal digits.
// CreateTags and DeleteTags, which take ids of any type, answer InvalidID
// for others.
func wellFormedResourceID(id string) bool {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 || !hexID(id[i+1:]) {
		return false
	}
	for _, c := range id[:i] {
		if (c < 'a' || c > 'z') && c != '-' {
			return false
		}
	}
	return true
}

// hexID reports whether s is 8 or 17 lowercase hexadecimal digits.
func hexID(s string) bool {
	if len(s) != 8 && len(s) != 17 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
