package watch

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// Auth says how to authenticate to the remote. For SSH URLs, SSHKeyFile and
// KnownHostsFile are both required: host keys are always verified. For HTTPS
// URLs, a token is read from TokenFile or the environment variable TokenEnv
// on every connection, so a rotated token is picked up without a restart.
type Auth struct {
	SSHKeyFile           string
	SSHKeyPassphraseFile string
	KnownHostsFile       string

	TokenFile string
	TokenEnv  string
	// TokenUser is the basic-auth user name sent with the token; forges
	// ignore it but git needs one. Default "git".
	TokenUser string
}

// method builds the go-git auth method for the endpoint and returns the
// secret it carries (so errors can be scrubbed of it).
func (a Auth) method(ep *transport.Endpoint) (transport.AuthMethod, string, error) {
	switch ep.Protocol {
	case "ssh":
		if a.SSHKeyFile == "" {
			return nil, "", fmt.Errorf("ssh remote needs an SSH key file: %w", ErrPermanent)
		}
		if a.KnownHostsFile == "" {
			return nil, "", fmt.Errorf("ssh remote needs a known_hosts file (host keys are never ignored): %w", ErrPermanent)
		}
		pass := ""
		if a.SSHKeyPassphraseFile != "" {
			b, err := os.ReadFile(a.SSHKeyPassphraseFile)
			if err != nil {
				return nil, "", fmt.Errorf("read SSH key passphrase: %w: %w", err, ErrPermanent)
			}
			pass = strings.TrimSpace(string(b))
		}
		user := ep.User
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, pass)
		if err != nil {
			return nil, pass, fmt.Errorf("load SSH key %s: %w: %w", a.SSHKeyFile, err, ErrPermanent)
		}
		cb, err := gitssh.NewKnownHostsCallback(a.KnownHostsFile)
		if err != nil {
			return nil, pass, fmt.Errorf("load known_hosts %s: %w: %w", a.KnownHostsFile, err, ErrPermanent)
		}
		keys.HostKeyCallback = cb
		return keys, pass, nil
	case "http", "https":
		if a.TokenFile == "" && a.TokenEnv == "" {
			return nil, "", nil
		}
		token, err := a.token()
		if err != nil {
			return nil, "", err
		}
		if ep.Protocol == "http" && !isLoopback(ep.Host) {
			return nil, token, fmt.Errorf("refusing to send a token over plain http to %s: %w", ep.Host, ErrPermanent)
		}
		user := a.TokenUser
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: token}, token, nil
	}
	return nil, "", nil
}

func (a Auth) token() (string, error) {
	var tok string
	if a.TokenFile != "" {
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return "", fmt.Errorf("read token file %s: %w: %w", a.TokenFile, err, ErrPermanent)
		}
		tok = strings.TrimSpace(string(b))
	} else {
		tok = strings.TrimSpace(os.Getenv(a.TokenEnv))
	}
	if tok == "" {
		return "", fmt.Errorf("token (file %q, env %q) is empty: %w", a.TokenFile, a.TokenEnv, ErrPermanent)
	}
	return tok, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// endpoint parses a remote URL, refusing credentials embedded in it: they
// belong in Auth, where they stay out of logs and state.
func endpoint(raw string) (*transport.Endpoint, error) {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return nil, fmt.Errorf("remote URL %s embeds a password; use a token file or env var: %w", RedactURL(raw), ErrPermanent)
		}
	}
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return nil, fmt.Errorf("remote URL %s: %w: %w", RedactURL(raw), err, ErrPermanent)
	}
	return ep, nil
}
