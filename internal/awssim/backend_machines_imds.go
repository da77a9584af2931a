package awssim

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim/imds"
	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

// metadataServer is EC2's instance metadata service
// (internal/awssim/imds) on 169.254.169.254:80 inside the machines'
// namespace, where every machine reaches it on its bridge
// [instancedata-data-retrieval].
type metadataServer struct {
	srv  *http.Server
	done chan struct{}
}

// serveMetadata starts the metadata service for the simulator's
// instances, handing out role credentials from its keyring.
func serveMetadata(ctx context.Context, s *Sim, n *machines.Network) (*metadataServer, error) {
	h, err := imds.New(imds.Config{
		Instances: metadataInstances{s}, Credentials: s.keys, Now: s.now,
		Logger: s.log.With("component", "imds"),
	})
	if err != nil {
		return nil, err
	}
	l, err := n.Listen(ctx, "tcp", net.JoinHostPort(machines.MetadataAddr.String(), "80"))
	if err != nil {
		return nil, fmt.Errorf("listen on the metadata address: %w", err)
	}
	m := &metadataServer{
		srv:  &http.Server{Handler: h, ConnContext: h.ConnContext, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("awssim: metadata service stopped", "err", err)
		}
	}()
	return m, nil
}

func (m *metadataServer) close() error {
	err := m.srv.Close()
	<-m.done
	return err
}

// metadataInstances finds an instance by its private address for the
// metadata service.
type metadataInstances struct{ s *Sim }

var _ imds.Instances = metadataInstances{}

// ByAddress returns a copy of the pending or running instance at ip: a
// machine's cloud-init reads its metadata while the instance is still
// pending.
func (mi metadataInstances) ByAddress(ip netip.Addr) (imds.Instance, bool) {
	s := mi.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inst := range s.st.Instances {
		if inst.PrivateIP == ip.String() && (inst.State == statePending || inst.State == stateRunning) {
			return s.metadataInstanceLocked(inst), true
		}
	}
	return imds.Instance{}, false
}

// metadataInstanceLocked is what the metadata service serves of inst.
func (s *Sim) metadataInstanceLocked(inst *instance) imds.Instance {
	ip, _ := netip.ParseAddr(inst.PrivateIP)
	subnet := s.opts.subnetOf(inst.AZ)
	in := imds.Instance{
		ID: inst.ID, ImageID: inst.ImageID, InstanceType: inst.InstanceType, Architecture: "x86_64",
		ReservationID: inst.ReservationID, LaunchIndex: inst.LaunchIndex, AccountID: s.opts.AccountID, Region: s.opts.Region,
		AvailabilityZone: inst.AZ, PrivateIP: ip, LaunchTime: inst.LaunchTime,
		Network: imds.Interface{
			InterfaceID: "eni-" + strings.TrimPrefix(inst.ID, "i-"),
			SubnetID:    subnetID(subnet), SubnetCIDR: subnet.String(),
			VpcID: defaultVPCID, VpcCIDR: defaultVPCCIDR.String(),
		},
		UserData: decodeUserData(inst.UserData),
		// A copy: the service reads it after the lock is released,
		// while CreateTags may change the instance's.
		Tags: maps.Clone(inst.Tags),
		Options: imds.MetadataOptions{
			HttpTokens: inst.Metadata.HttpTokens, HttpEndpoint: inst.Metadata.HttpEndpoint,
			HttpPutResponseHopLimit: inst.Metadata.HopLimit, InstanceMetadataTags: inst.Metadata.Tags,
		},
	}
	for _, id := range inst.SecurityGroups {
		name := id
		if g := s.st.SecurityGroups[id]; g != nil {
			name = g.Name
		}
		in.SecurityGroups = append(in.SecurityGroups, imds.SecurityGroup{ID: id, Name: name})
	}
	if kp := s.st.KeyPairs[inst.KeyName]; kp != nil {
		in.KeyName, in.PublicKey = kp.Name, kp.PublicKey
	}
	if prof, ok := profileOf(s.opts.AccountID, inst.Profile); ok {
		in.Profile = &imds.Profile{ARN: prof.ARN, ID: prof.ID(), Role: prof.Name}
	}
	return in
}

// subnetID names a default subnet after its third octet.
func subnetID(p netip.Prefix) string {
	return fmt.Sprintf("subnet-0a%015x", p.Addr().As4()[2])
}

// decodeUserData returns user data as the instance sees it: base64-decoded
// (as sent, if it is not base64), nil when there is none.
func decodeUserData(ud string) []byte {
	if ud == "" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(ud)
	if err != nil {
		return []byte(ud)
	}
	return b
}

// InstanceCredentials returns the unexpired credentials the metadata
// service handed an instance under this access key id (ASIA…), for the
// API to accept: a request signed with them is checked by comparing its
// session token with the grant's and its signature with the grant's
// secret [instance-metadata-security-credentials].
func (s *Sim) InstanceCredentials(accessKeyID string) (imds.Grant, bool) {
	return s.keys.Lookup(accessKeyID)
}

// datasourceFor says where a machine's cloud-init reads its instance data,
// and the user data a NoCloud seed carries.
//
// With IMDSv1 allowed, cloud-init's Ec2 datasource reads the metadata
// service, as on EC2. cloud-init 22.4 sends a token only on a platform it
// recognises as AWS, which nspawn hides (docs/imds.md), so with
// HttpTokens=required it would get 401s and run no user data, while on
// EC2 it asks for a token and does: the machine is given a NoCloud seed
// instead, so that it boots as it would on EC2. With HttpEndpoint=disabled,
// cloud-init on EC2 finds no metadata and runs no user data: the seed then
// carries none (the key pair still reaches admin, as the machines package
// writes it).
func datasourceFor(o metadataOptions, userData []byte) (machines.Datasource, []byte) {
	o = o.withDefaults()
	switch {
	case o.HttpEndpoint == "disabled":
		return machines.NoCloud, nil
	case o.HttpTokens == "required":
		return machines.NoCloud, userData
	default:
		return machines.Ec2, userData
	}
}
