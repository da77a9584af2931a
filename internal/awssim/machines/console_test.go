package machines_test

import (
	"slices"
	"testing"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

func TestParseHostKeys(t *testing.T) {
	tests := []struct {
		name    string
		console string
		want    machines.HostKeys
	}{
		{"cloud-init's keys_to_console", `cloud-init[123]: Cloud-init v. 22.4.2 running 'modules:final'
<14>Nov 30 10:21:52 cloud-init: #############################################################
<14>Nov 30 10:21:52 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----
<14>Nov 30 10:21:52 cloud-init: 256 SHA256:JHzSYkxVycqnrW9jSZjg/A/zY04CsD+rCJGID86M4p8 root@m2 (ECDSA)
<14>Nov 30 10:21:52 cloud-init: 256 SHA256:rUgN/ZUdTOTF5OgdQAMi3JsQ/LmBFKz2/IwbaeJiIw8 root@m2 (ED25519)
<14>Nov 30 10:21:52 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----
<14>Nov 30 10:21:52 cloud-init: #############################################################
-----BEGIN SSH HOST KEY KEYS-----
ecdsa-sha2-nistp256 AAAAE2VjZHNh root@m2
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPoc root@m2
-----END SSH HOST KEY KEYS-----
`, machines.HostKeys{
			Fingerprints: []string{
				"256 SHA256:JHzSYkxVycqnrW9jSZjg/A/zY04CsD+rCJGID86M4p8 root@m2 (ECDSA)",
				"256 SHA256:rUgN/ZUdTOTF5OgdQAMi3JsQ/LmBFKz2/IwbaeJiIw8 root@m2 (ED25519)",
			},
			Keys: []string{"ecdsa-sha2-nistp256 AAAAE2VjZHNh", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPoc"},
		}},
		{"a unit's output with CRLF", "ferry-host-keys[36]: ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\r\n" +
			"ferry-host-keys[36]: ec2: 256 SHA256:lPdn4Zdt root@m1 (ED25519)\r\n" +
			"ferry-host-keys[36]: ec2: -----END SSH HOST KEY FINGERPRINTS-----\r\n" +
			"ferry-host-keys[36]: ec2: -----BEGIN SSH HOST KEY KEYS-----\r\n" +
			"ferry-host-keys[36]: ec2: ssh-ed25519 AAAAC3Nz\r\n" +
			"ferry-host-keys[36]: ec2: -----END SSH HOST KEY KEYS-----\r\n",
			machines.HostKeys{Fingerprints: []string{"256 SHA256:lPdn4Zdt root@m1 (ED25519)"}, Keys: []string{"ssh-ed25519 AAAAC3Nz"}}},
		{"no keys yet", "systemd 252 running in system mode\n", machines.HostKeys{}},
		{"an unfinished block is not taken", "-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAA\n", machines.HostKeys{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := machines.ParseHostKeys([]byte(tt.console))
			if !slices.Equal(got.Fingerprints, tt.want.Fingerprints) || !slices.Equal(got.Keys, tt.want.Keys) {
				t.Errorf("ParseHostKeys =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
