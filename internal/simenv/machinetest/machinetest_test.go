package machinetest

import "testing"

func TestKnownHosts(t *testing.T) {
	m := Machine{ID: "i-1", IP: "10.0.0.5", HostKeys: []string{"ssh-ed25519 AAAA1", "ecdsa-sha2-nistp256 AAAA2"}}
	for _, tc := range []struct {
		name  string
		addrs []string
		want  string
	}{
		{"its private address by default", nil, "10.0.0.5 ssh-ed25519 AAAA1\n10.0.0.5 ecdsa-sha2-nistp256 AAAA2\n"},
		{"each address named", []string{"10.0.0.5", "[127.0.0.1]:2222"},
			"10.0.0.5 ssh-ed25519 AAAA1\n10.0.0.5 ecdsa-sha2-nistp256 AAAA2\n[127.0.0.1]:2222 ssh-ed25519 AAAA1\n[127.0.0.1]:2222 ecdsa-sha2-nistp256 AAAA2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.KnownHosts(tc.addrs...); got != tc.want {
				t.Errorf("KnownHosts(%q) =\n%s\nwant\n%s", tc.addrs, got, tc.want)
			}
		})
	}
}
