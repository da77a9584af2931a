package awssim

import (
	"fmt"
	"strconv"
	"strings"
)

func readLTData(p params, base ltData, tags map[string]string) (ltData, map[string]string, *APIError) {
	d := base
	meta, apiErr := readMetadataOptions(p, "MetadataOptions", base.Metadata, true)
	if apiErr != nil {
		return d, nil, apiErr
	}
	d.Metadata = meta
	if v := readProfile(p, "IamInstanceProfile"); v != "" {
		d.Profile = v
	}
	if v := p.str("ImageId"); v != "" {
		d.ImageID = v
	}
	if v := p.str("InstanceType"); v != "" {
		d.InstanceType = v
	}
	if sg := p.strs("SecurityGroupId"); len(sg) > 0 {
		d.SecurityGroups = sg
	}
	if v := p.str("UserData"); v != "" {
		d.UserData = v
	}
	if v := p.str("KeyName"); v != "" {
		d.KeyName = v
	}
	out := map[string]string{}
	for k, v := range tags {
		out[k] = v
	}
	if len(p.indices("TagSpecification")) > 0 {
		out = tagSpecs(p, "TagSpecification", "instance")
	}
	return d, out, nil
}

// findLaunchTemplateLocked finds a template by id or name.
func (s *Sim) findLaunchTemplateLocked(id, name string) (*launchTemplate, *APIError) {
	if id != "" {
		if apiErr := templateIDs.check(id); apiErr != nil {
			return nil, apiErr
		}
		if lt := s.st.LaunchTemplates[id]; lt != nil {
			return lt, nil
		}
		return nil, errf("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", id)
	}
	if name == "" {
		return nil, errf("MissingParameter", "The request must include either the launch template ID or the launch template name.")
	}
	for _, lt := range s.st.LaunchTemplates {
		if lt.Name == name {
			return lt, nil
		}
	}
	return nil, errf("InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name %s, does not exist.", name)
}

// version resolves a number, $Latest or $Default ("" is $Default)
// [API_LaunchTemplateSpecification].
func (lt *launchTemplate) version(v string) (*ltVersion, *APIError) {
	n := 0
	switch v {
	case "", "$Default":
		n = lt.DefaultVersion
	case "$Latest":
		n = len(lt.Versions)
	default:
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			return nil, errf("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for launch template %s", v, lt.ID)
		}
	}
	if n < 1 || n > len(lt.Versions) || lt.Versions[n-1] == nil {
		return nil, errf("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for launch template %s", v, lt.ID)
	}
	return lt.Versions[n-1], nil
}

func (s *Sim) resolveLaunchTemplateLocked(id, name, version string) (*launchTemplate, *ltVersion, *APIError) {
	lt, apiErr := s.findLaunchTemplateLocked(id, name)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	v, apiErr := s.visibleVersionLocked(lt, version)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	return lt, v, nil
}

// visibleVersionLocked is lt.version, but a version created within the
// eventual-consistency window (SetEventualConsistency) is not found yet,
// as AWS may not show a new version to reads and launches for a moment.
func (s *Sim) visibleVersionLocked(lt *launchTemplate, version string) (*ltVersion, *APIError) {
	v, apiErr := lt.version(version)
	if apiErr != nil {
		return nil, apiErr
	}
	if s.now().Before(v.VisibleAt) {
		return nil, errf("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for launch template %s", version, lt.ID)
	}
	return v, nil
}

func (s *Sim) launchTemplateNode(lt *launchTemplate) *node {
	return el("",
		leaf("launchTemplateId", lt.ID), leaf("launchTemplateName", lt.Name),
		leaf("createTime", lt.Created), leaf("createdBy", "arn:aws:iam::"+s.opts.AccountID+":root"),
		leaf("defaultVersionNumber", lt.DefaultVersion), leaf("latestVersionNumber", len(lt.Versions)),
		ec2TagSet(lt.Tags))
}

func (s *Sim) ltVersionNode(lt *launchTemplate, v *ltVersion) *node {
	var sgs []*node
	for _, g := range v.Data.SecurityGroups {
		sgs = append(sgs, leaf("item", g))
	}
	data := el("launchTemplateData",
		opt("imageId", v.Data.ImageID), opt("instanceType", v.Data.InstanceType),
		opt("keyName", v.Data.KeyName), opt("userData", v.Data.UserData),
		items("securityGroupIdSet", sgs), templateMetadataNode(v.Data.Metadata))
	if prof, ok := profileOf(s.opts.AccountID, v.Data.Profile); ok {
		// As given: an ARN or a name [API_LaunchTemplateIamInstanceProfileSpecification].
		if strings.HasPrefix(v.Data.Profile, "arn:") {
			data.kids = append(data.kids, el("iamInstanceProfile", leaf("arn", prof.ARN)))
		} else {
			data.kids = append(data.kids, el("iamInstanceProfile", leaf("name", prof.Name)))
		}
	}
	if len(v.InstTags) > 0 {
		data.kids = append(data.kids, items("tagSpecificationSet", []*node{el("", leaf("resourceType", "instance"), ec2TagSet(v.InstTags))}))
	}
	return el("",
		leaf("launchTemplateId", lt.ID), leaf("launchTemplateName", lt.Name),
		leaf("versionNumber", v.Number), opt("versionDescription", v.Description),
		leaf("createTime", v.Created), leaf("createdBy", "arn:aws:iam::"+s.opts.AccountID+":root"),
		leaf("defaultVersion", v.Number == lt.DefaultVersion), data)
}

// CreateLaunchTemplate [API_CreateLaunchTemplate]: version 1, the default.
func ec2CreateLaunchTemplate(s *Sim, p params) ([]*node, *APIError) {
	name := p.str("LaunchTemplateName")
	if name == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter LaunchTemplateName")
	}
	for _, lt := range s.st.LaunchTemplates {
		if lt.Name == name {
			return nil, errf("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")
		}
	}
	data, tags, apiErr := readLTData(p.sub("LaunchTemplateData"), ltData{}, nil)
	if apiErr != nil {
		return nil, apiErr
	}
	now := s.now()
	lt := &launchTemplate{
		ID: s.newIDLocked("lt"), Name: name, Created: now, DefaultVersion: 1,
		Tags: tagSpecs(p, "TagSpecification", "launch-template"),
	}
	lt.Versions = []*ltVersion{{Number: 1, Description: p.str("VersionDescription"), Created: now, Data: data, InstTags: tags}}
	s.st.LaunchTemplates[lt.ID] = lt
	return []*node{rename(s.launchTemplateNode(lt), "launchTemplate")}, nil
}

func rename(n *node, name string) *node {
	n.name = name
	return n
}

// CreateLaunchTemplateVersion [API_CreateLaunchTemplateVersion]: a new
// latest version, optionally based on SourceVersion; the default version
// does not change.
func ec2CreateLaunchTemplateVersion(s *Sim, p params) ([]*node, *APIError) {
	lt, apiErr := s.findLaunchTemplateLocked(p.str("LaunchTemplateId"), p.str("LaunchTemplateName"))
	if apiErr != nil {
		return nil, apiErr
	}
	base := ltData{}
	var baseTags map[string]string
	if sv := p.str("SourceVersion"); sv != "" {
		src, apiErr := lt.version(sv)
		if apiErr != nil {
			return nil, apiErr
		}
		base, baseTags = src.Data, src.InstTags
		base.SecurityGroups = append([]string(nil), base.SecurityGroups...)
	}
	data, tags, apiErr := readLTData(p.sub("LaunchTemplateData"), base, baseTags)
	if apiErr != nil {
		return nil, apiErr
	}
	v := &ltVersion{Number: len(lt.Versions) + 1, Description: p.str("VersionDescription"), Created: s.now(), Data: data, InstTags: tags}
	if s.consistency > 0 {
		v.VisibleAt = v.Created.Add(s.consistency)
	}
	lt.Versions = append(lt.Versions, v)
	return []*node{rename(s.ltVersionNode(lt, v), "launchTemplateVersion")}, nil
}

// DescribeLaunchTemplates [API_DescribeLaunchTemplates]: MaxResults 1–200.
func ec2DescribeLaunchTemplates(s *Sim, p params) ([]*node, *APIError) {
	ids, names := p.strs("LaunchTemplateId"), p.strs("LaunchTemplateName")
	if apiErr := templateIDs.check(ids...); apiErr != nil {
		return nil, apiErr
	}
	var keep []*launchTemplate
	for _, id := range ids {
		lt, apiErr := s.findLaunchTemplateLocked(id, "")
		if apiErr != nil {
			return nil, apiErr
		}
		keep = append(keep, lt)
	}
	for _, n := range names {
		lt, apiErr := s.findLaunchTemplateLocked("", n)
		if apiErr != nil {
			return nil, apiErr
		}
		keep = append(keep, lt)
	}
	if len(ids) == 0 && len(names) == 0 {
		for _, id := range sortedKeys(s.st.LaunchTemplates) {
			keep = append(keep, s.st.LaunchTemplates[id])
		}
	}
	filters := ec2Filters(p)
	var out []*launchTemplate
	for _, lt := range keep {
		if matchFilters(filters, func(name string) []string {
			switch name {
			case "launch-template-name":
				return []string{lt.Name}
			case "tag-key":
				return sortedKeys(lt.Tags)
			}
			if k, ok := strings.CutPrefix(name, "tag:"); ok {
				if v, ok := lt.Tags[k]; ok {
					return []string{v}
				}
			}
			return nil
		}) {
			out = append(out, lt)
		}
	}
	page, next, apiErr := paginateEC2Within(p, len(out), 1000, 1, 200)
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, lt := range out[page.from:page.to] {
		its = append(its, s.launchTemplateNode(lt))
	}
	return []*node{items("launchTemplates", its), opt("nextToken", next)}, nil
}

// DescribeLaunchTemplateVersions [API_DescribeLaunchTemplateVersions]: by
// version (numbers, $Latest, $Default) or MinVersion/MaxVersion;
// MaxResults 1–200.
func ec2DescribeLaunchTemplateVersions(s *Sim, p params) ([]*node, *APIError) {
	var lts []*launchTemplate
	if p.str("LaunchTemplateId") != "" || p.str("LaunchTemplateName") != "" {
		lt, apiErr := s.findLaunchTemplateLocked(p.str("LaunchTemplateId"), p.str("LaunchTemplateName"))
		if apiErr != nil {
			return nil, apiErr
		}
		lts = []*launchTemplate{lt}
	} else {
		for _, id := range sortedKeys(s.st.LaunchTemplates) {
			lts = append(lts, s.st.LaunchTemplates[id])
		}
	}
	want := p.strs("LaunchTemplateVersion")
	minV, apiErr := p.intOr("MinVersion", 0)
	if apiErr != nil {
		return nil, apiErr
	}
	maxV, apiErr := p.intOr("MaxVersion", 0)
	if apiErr != nil {
		return nil, apiErr
	}
	type pair struct {
		lt *launchTemplate
		v  *ltVersion
	}
	var out []pair
	for _, lt := range lts {
		if len(want) > 0 {
			for _, w := range want {
				v, apiErr := s.visibleVersionLocked(lt, w)
				if apiErr != nil {
					return nil, apiErr
				}
				out = append(out, pair{lt, v})
			}
			continue
		}
		for _, v := range lt.Versions {
			if minV > 0 && v.Number < minV || maxV > 0 && v.Number > maxV || s.now().Before(v.VisibleAt) {
				continue
			}
			out = append(out, pair{lt, v})
		}
	}
	page, next, apiErr := paginateEC2Within(p, len(out), 1000, 1, 200)
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, pv := range out[page.from:page.to] {
		its = append(its, s.ltVersionNode(pv.lt, pv.v))
	}
	return []*node{items("launchTemplateVersionSet", its), opt("nextToken", next)}, nil
}

// ModifyLaunchTemplate [API_ModifyLaunchTemplate]: sets the default version.
func ec2ModifyLaunchTemplate(s *Sim, p params) ([]*node, *APIError) {
	lt, apiErr := s.findLaunchTemplateLocked(p.str("LaunchTemplateId"), p.str("LaunchTemplateName"))
	if apiErr != nil {
		return nil, apiErr
	}
	if dv := p.str("SetDefaultVersion"); dv != "" {
		v, apiErr := lt.version(dv)
		if apiErr != nil {
			return nil, apiErr
		}
		lt.DefaultVersion = v.Number
	}
	return []*node{rename(s.launchTemplateNode(lt), "launchTemplate")}, nil
}

func ltLabel(r *ltRef) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%s:%s", r.ID, r.Version)
}
