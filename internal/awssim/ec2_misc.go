package awssim

import (
	"encoding/base64"
	"path"
	"strconv"
	"strings"
)

type filter struct {
	Name   string
	Values []string
}

// ec2Filters reads an ec2Query Filter.N.Name / Filter.N.Value.M list.
func ec2Filters(p params) []filter {
	var fs []filter
	for _, f := range p.subs("Filter") {
		fs = append(fs, filter{Name: f.str("Name"), Values: f.strs("Value")})
	}
	return fs
}

// matchFilters reports whether every filter matches one of its values
// (values may use the * and ? wildcards) [Using filtering, EC2 API].
func matchFilters(fs []filter, get func(name string) []string) bool {
	for _, f := range fs {
		have := get(f.Name)
		ok := false
		for _, want := range f.Values {
			for _, h := range have {
				if m, _ := path.Match(want, h); m || want == h {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

type pageRange struct{ from, to int }

func encodeToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("awssim:" + strconv.Itoa(offset)))
}

func decodeToken(tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(string(b), "awssim:")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// paginate cuts total items into a page starting at token, of at most size
// items, and returns the token of the next page ("" on the last page).
func paginate(token string, size, total int) (pageRange, string, bool) {
	from := 0
	if token != "" {
		n, ok := decodeToken(token)
		if !ok || n > total {
			return pageRange{}, "", false
		}
		from = n
	}
	to := min(from+size, total)
	next := ""
	if to < total {
		next = encodeToken(to)
	}
	return pageRange{from, to}, next, true
}

// paginateEC2 applies MaxResults (5–1000) / NextToken.
func paginateEC2(p params, total, def int) (pageRange, string, *APIError) {
	return paginateEC2Within(p, total, def, 5, 1000)
}

// paginateEC2Within applies MaxResults (lo–hi) / NextToken, for the
// listings whose page sizes differ from EC2's usual 5–1000 (launch
// templates and their versions: 1–200).
func paginateEC2Within(p params, total, def, lo, hi int) (pageRange, string, *APIError) {
	size, apiErr := p.intOr("MaxResults", def)
	if apiErr != nil {
		return pageRange{}, "", apiErr
	}
	if p.has("MaxResults") && (size < lo || size > hi) {
		return pageRange{}, "", errf("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value between %d and %d.", size, lo, hi)
	}
	r, next, ok := paginate(p.str("NextToken"), size, total)
	if !ok {
		return pageRange{}, "", errf("InvalidPaginationToken", "The pagination token %q is invalid.", p.str("NextToken"))
	}
	return r, next, nil
}

// taggedLocked returns the tag map of an EC2 resource and its type.
func (s *Sim) taggedLocked(id string) (map[string]string, string) {
	if inst := s.st.Instances[id]; inst != nil {
		return inst.Tags, "instance"
	}
	if img := s.st.Images[id]; img != nil {
		return img.Tags, "image"
	}
	if img := s.public[id]; img != nil {
		return s.publicImageTagsLocked(img), "image"
	}
	if g := s.st.SecurityGroups[id]; g != nil {
		return g.Tags, "security-group"
	}
	if lt := s.st.LaunchTemplates[id]; lt != nil {
		return lt.Tags, "launch-template"
	}
	if snap := s.st.Snapshots[id]; snap != nil {
		return snap.Tags, "snapshot"
	}
	for _, k := range s.st.KeyPairs {
		if k.ID == id {
			return k.Tags, "key-pair"
		}
	}
	return nil, ""
}

// tagTargetsLocked reads the resources CreateTags and DeleteTags name
// (ResourceId, required; each must exist) and returns each one's tags, in
// the request's order. An id that is no resource's form is InvalidID, as
// EC2 answers CreateTags, whatever its prefix ("The ID 'i-eCHmOTcEW0OZ9KbNe'
// is not valid", as users quote it); one of the right form that does not
// exist is its type's NotFound.
func (s *Sim) tagTargetsLocked(p params) ([]string, []map[string]string, *APIError) {
	ids := p.strs("ResourceId")
	if len(ids) == 0 {
		return nil, nil, errf("MissingParameter", "The request must contain the parameter resourceIdSet")
	}
	for _, id := range ids {
		if !wellFormedResourceID(id) {
			return nil, nil, errf("InvalidID", "The ID '%s' is not valid", id)
		}
	}
	all := make([]map[string]string, len(ids))
	for i, id := range ids {
		if all[i], _ = s.taggedLocked(id); all[i] == nil {
			return nil, nil, notFoundByPrefix(id)
		}
	}
	return ids, all, nil
}

// CreateTags [API_CreateTags].
func ec2CreateTags(s *Sim, p params) ([]*node, *APIError) {
	ids, all, apiErr := s.tagTargetsLocked(p)
	if apiErr != nil {
		return nil, apiErr
	}
	add := map[string]string{}
	for _, t := range p.subs("Tag") {
		add[t.str("Key")] = t.str("Value")
	}
	// An instance whose tags are in its metadata takes only keys that can
	// be a path there [work-with-tags-in-IMDS].
	for _, id := range ids {
		if inst := s.st.Instances[id]; inst != nil {
			if apiErr := checkMetadataTagKeys(inst.Metadata, add); apiErr != nil {
				return nil, apiErr
			}
		}
	}
	for _, tags := range all {
		for _, t := range p.subs("Tag") {
			tags[t.str("Key")] = t.str("Value")
		}
	}
	return []*node{leaf("return", true)}, nil
}

func notFoundByPrefix(id string) *APIError {
	switch {
	case strings.HasPrefix(id, "i-"):
		return errf("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	case strings.HasPrefix(id, "ami-"):
		return errf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
	case strings.HasPrefix(id, "sg-"):
		return errf("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
	case strings.HasPrefix(id, "snap-"):
		return snapshotNotFound(id)
	case strings.HasPrefix(id, "key-"):
		return errf("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", id)
	case strings.HasPrefix(id, "lt-"):
		return errf("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", id)
	}
	return errf("InvalidID", "The ID '%s' is not valid", id)
}

// DescribeTags [API_DescribeTags]: filters resource-id, resource-type, key,
// value.
func ec2DescribeTags(s *Sim, p params) ([]*node, *APIError) {
	filters := ec2Filters(p)
	type row struct{ id, typ, k, v string }
	var rows []row
	var ids []string
	ids = append(ids, sortedKeys(s.st.Instances)...)
	ids = append(ids, sortedKeys(s.st.Images)...)
	for _, id := range sortedKeys(s.st.PublicImageTags) {
		if s.public[id] != nil && s.st.Images[id] == nil {
			ids = append(ids, id)
		}
	}
	ids = append(ids, sortedKeys(s.st.SecurityGroups)...)
	ids = append(ids, sortedKeys(s.st.LaunchTemplates)...)
	ids = append(ids, sortedKeys(s.st.Snapshots)...)
	for _, name := range sortedKeys(s.st.KeyPairs) {
		ids = append(ids, s.st.KeyPairs[name].ID)
	}
	for _, id := range ids {
		tags, typ := s.taggedLocked(id)
		for _, k := range sortedKeys(tags) {
			r := row{id, typ, k, tags[k]}
			ok := matchFilters(filters, func(name string) []string {
				switch name {
				case "resource-id":
					return []string{r.id}
				case "resource-type":
					return []string{r.typ}
				case "key":
					return []string{r.k}
				case "value":
					return []string{r.v}
				}
				return nil
			})
			if ok {
				rows = append(rows, r)
			}
		}
	}
	page, next, apiErr := paginateEC2(p, len(rows), 1000)
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, r := range rows[page.from:page.to] {
		its = append(its, el("", leaf("resourceId", r.id), leaf("resourceType", r.typ), leaf("key", r.k), leaf("value", r.v)))
	}
	return []*node{items("tagSet", its), opt("nextToken", next)}, nil
}

func (s *Sim) securityGroupByNameLocked(name string) *securityGroup {
	for _, id := range sortedKeys(s.st.SecurityGroups) {
		if g := s.st.SecurityGroups[id]; g.Name == name {
			return g
		}
	}
	return nil
}

// CreateSecurityGroup [API_CreateSecurityGroup] (rules are not simulated).
func ec2CreateSecurityGroup(s *Sim, p params) ([]*node, *APIError) {
	name := p.str("GroupName")
	if name == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter GroupName")
	}
	if s.securityGroupByNameLocked(name) != nil {
		return nil, errf("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC 'vpc-0a000000000000000'", name)
	}
	id := s.newIDLocked("sg")
	s.st.SecurityGroups[id] = &securityGroup{ID: id, Name: name, Description: p.str("GroupDescription"), VpcID: defaultVPCID, Tags: tagSpecs(p, "TagSpecification", "security-group")}
	return []*node{leaf("return", true), leaf("groupId", id)}, nil
}

// DescribeSecurityGroups [API_DescribeSecurityGroups].
func ec2DescribeSecurityGroups(s *Sim, p params) ([]*node, *APIError) {
	ids, names := p.strs("GroupId"), p.strs("GroupName")
	filters := ec2Filters(p)
	var keep []*securityGroup
	if apiErr := groupIDs.check(ids...); apiErr != nil {
		return nil, apiErr
	}
	for _, id := range ids {
		if s.st.SecurityGroups[id] == nil {
			return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
	}
	for _, n := range names {
		if s.securityGroupByNameLocked(n) == nil {
			return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC 'vpc-0a000000000000000'", n)
		}
	}
	for _, id := range sortedKeys(s.st.SecurityGroups) {
		g := s.st.SecurityGroups[id]
		if len(ids) > 0 && !contains(ids, g.ID) || len(names) > 0 && !contains(names, g.Name) {
			continue
		}
		ok := matchFilters(filters, func(name string) []string {
			switch name {
			case "group-id":
				return []string{g.ID}
			case "group-name":
				return []string{g.Name}
			case "vpc-id":
				return []string{g.VpcID}
			case "tag-key":
				return sortedKeys(g.Tags)
			}
			if k, ok := strings.CutPrefix(name, "tag:"); ok {
				if v, ok := g.Tags[k]; ok {
					return []string{v}
				}
			}
			return nil
		})
		if ok {
			keep = append(keep, g)
		}
	}
	page, next, apiErr := paginateEC2(p, len(keep), 1000)
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, g := range keep[page.from:page.to] {
		its = append(its, el("",
			leaf("ownerId", s.opts.AccountID), leaf("groupId", g.ID), leaf("groupName", g.Name),
			leaf("groupDescription", g.Description), leaf("vpcId", g.VpcID),
			items("ipPermissions", ingressNodes(g.Ingress)), items("ipPermissionsEgress", nil), ec2TagSet(g.Tags)))
	}
	return []*node{items("securityGroupInfo", its), opt("nextToken", next)}, nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func ec2Actions() map[string]handlerFunc {
	return map[string]handlerFunc{
		"RunInstances":                   ec2RunInstances,
		"DescribeInstances":              ec2DescribeInstances,
		"TerminateInstances":             ec2TerminateInstances,
		"DescribeInstanceStatus":         ec2DescribeInstanceStatus,
		"DescribeInstanceAttribute":      ec2DescribeInstanceAttribute,
		"DescribeRegions":                ec2DescribeRegions,
		"DeleteTags":                     ec2DeleteTags,
		"RevokeSecurityGroupIngress":     ec2RevokeSecurityGroupIngress,
		"DescribeAvailabilityZones":      ec2DescribeAvailabilityZones,
		"CreateTags":                     ec2CreateTags,
		"DescribeTags":                   ec2DescribeTags,
		"CreateSecurityGroup":            ec2CreateSecurityGroup,
		"DescribeSecurityGroups":         ec2DescribeSecurityGroups,
		"DescribeVpcs":                   ec2DescribeVpcs,
		"DescribeSubnets":                ec2DescribeSubnets,
		"ModifyInstanceMetadataOptions":  ec2ModifyInstanceMetadataOptions,
		"CreateImage":                    ec2CreateImage,
		"DescribeImages":                 ec2DescribeImages,
		"DeregisterImage":                ec2DeregisterImage,
		"DescribeSnapshots":              ec2DescribeSnapshots,
		"CreateKeyPair":                  ec2CreateKeyPair,
		"ImportKeyPair":                  ec2ImportKeyPair,
		"DescribeKeyPairs":               ec2DescribeKeyPairs,
		"DeleteKeyPair":                  ec2DeleteKeyPair,
		"GetConsoleOutput":               ec2GetConsoleOutput,
		"DeleteSnapshot":                 ec2DeleteSnapshot,
		"CreateLaunchTemplate":           ec2CreateLaunchTemplate,
		"CreateLaunchTemplateVersion":    ec2CreateLaunchTemplateVersion,
		"DescribeLaunchTemplates":        ec2DescribeLaunchTemplates,
		"DescribeLaunchTemplateVersions": ec2DescribeLaunchTemplateVersions,
		"ModifyLaunchTemplate":           ec2ModifyLaunchTemplate,
		"DeleteLaunchTemplate":           ec2DeleteLaunchTemplate,
		"DeleteSecurityGroup":            ec2DeleteSecurityGroup,
		"AuthorizeSecurityGroupIngress":  ec2AuthorizeSecurityGroupIngress,
	}
}
