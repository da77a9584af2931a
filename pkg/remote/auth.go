package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// credentials offers either one key read from a file at New or whatever
// keys the SSH agent holds at each connection.
type credentials struct {
	via    string // for errors: the key file, or "SSH agent at <socket>"
	signer ssh.Signer
	socket string
}

func loadCredentials(cfg Config) (*credentials, error) {
	if cfg.KeyFile == "" {
		return &credentials{via: "SSH agent at " + cfg.AgentSocket, socket: cfg.AgentSocket}, nil
	}
	pem, err := os.ReadFile(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("ssh key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		// An agent prompts for a passphrase; a daemon cannot.
		return nil, fmt.Errorf("ssh key %s is protected by a passphrase: load it into ssh-agent and leave key_file empty", cfg.KeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh key %s: %w", cfg.KeyFile, err)
	}
	return &credentials{via: cfg.KeyFile, signer: signer}, nil
}

// method returns the auth method for one connection and a function that
// releases what it holds (the agent connection) once the handshake is over.
func (c *credentials) method(ctx context.Context) (ssh.AuthMethod, func(), error) {
	if c.signer != nil {
		return ssh.PublicKeys(c.signer), func() {}, nil
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh agent: %w", err)
	}
	return ssh.PublicKeysCallback(agent.NewClient(conn).Signers), func() { conn.Close() }, nil
}
