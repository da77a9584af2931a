package machines

import (
	"regexp"
	"strings"
)

// HostKeys are what a machine printed to its console at first boot
// between cloud-init's SSH HOST KEY markers, as EC2 users read them with
// get-console-output.
type HostKeys struct {
	// Fingerprints are ssh-keygen -l lines: "256 SHA256:... root@host (ED25519)".
	Fingerprints []string
	// Keys are the public keys in authorized_keys form: "ssh-ed25519 AAAA...".
	Keys []string
}

var (
	fingerprintLine = regexp.MustCompile(`\d+ SHA256:[A-Za-z0-9+/=]+ .*\(\w+\)`)
	keyLine         = regexp.MustCompile(`(ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+`)
)

// ParseHostKeys finds the last host key blocks in a console log. Lines may
// carry a prefix (syslog's "<14>Nov 30 10:21:52 cloud-init: ", a unit's
// "name[pid]: "), which is dropped.
func ParseHostKeys(console []byte) HostKeys {
	var hk HostKeys
	var in string
	var cur HostKeys
	for _, line := range strings.Split(string(console), "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.Contains(line, "-----BEGIN SSH HOST KEY FINGERPRINTS-----"):
			in, cur.Fingerprints = "fp", nil
		case strings.Contains(line, "-----END SSH HOST KEY FINGERPRINTS-----"):
			in, hk.Fingerprints = "", cur.Fingerprints
		case strings.Contains(line, "-----BEGIN SSH HOST KEY KEYS-----"):
			in, cur.Keys = "keys", nil
		case strings.Contains(line, "-----END SSH HOST KEY KEYS-----"):
			in, hk.Keys = "", cur.Keys
		case in == "fp":
			if m := fingerprintLine.FindString(line); m != "" {
				cur.Fingerprints = append(cur.Fingerprints, m)
			}
		case in == "keys":
			if m := keyLine.FindString(line); m != "" {
				cur.Keys = append(cur.Keys, m)
			}
		}
	}
	return hk
}
