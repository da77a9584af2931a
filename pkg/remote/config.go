package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ferry-deploy/ferry/pkg/config"
)

// Config is how a Runner reaches instances and where it writes their logs.
type Config struct {
	// User is the account commands run as (FabulAWS's `fab -u <user>`).
	User string
	// Port is used for hosts given without one; default 22.
	Port int
	// KeyFile is an unencrypted private key. When empty, keys come from the
	// SSH agent listening on AgentSocket.
	KeyFile     string
	AgentSocket string
	// KnownHosts is the known_hosts file every host key is checked against.
	KnownHosts string
	// TrustOnFirstUse records the key of a host missing from KnownHosts
	// instead of refusing it. A changed key is refused regardless.
	TrustOnFirstUse bool
	// ConnectTimeout bounds the TCP connect and the SSH handshake.
	ConnectTimeout time.Duration
	// BootWait is how long a host that says it is still booting (see
	// BootingError) is dialled again, every BootRetry; defaults 2 min, 1 s.
	BootWait  time.Duration
	BootRetry time.Duration
	// CommandTimeout bounds each command; on expiry the remote process
	// group is sent SIGTERM, then SIGKILL after KillGrace.
	CommandTimeout time.Duration
	KillGrace      time.Duration
	// KeepAlive is how often a connection is checked; a host that has
	// not answered for three intervals (an instance terminated
	// mid-command, a network partition) is dropped with a NoAnswerError
	// rather than waited on until CommandTimeout.
	KeepAlive time.Duration
	// Dialer, when set, makes the TCP connection to a host in place of a
	// net.Dialer: a host reached through another network namespace or a
	// tunnel.
	Dialer Dialer
	// Logs says where per-server log files go.
	Logs Logs
	// TailLines is how many of a failed command's last output lines the
	// agent log shows; default 20.
	TailLines int
}

// Dialer connects to a host (net.Dialer is one).
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Defaults for the fields of Config that may be left zero.
const (
	DefaultPort      = 22
	DefaultKillGrace = 10 * time.Second
	DefaultKeepAlive = 15 * time.Second
	DefaultTailLines = 20
	DefaultBootWait  = 2 * time.Minute
	DefaultBootRetry = time.Second
)

// FromConfig builds a Runner's Config for one deploy of env from the
// environment's SSH settings and command timeout. agentSocket is usually
// os.Getenv("SSH_AUTH_SOCK"); it is only used when ssh.KeyFile is empty.
func FromConfig(stateDir string, env *config.Environment, deployID, agentSocket string) Config {
	return Config{
		User:            env.SSH.User,
		Port:            env.SSH.Port,
		KeyFile:         env.SSH.KeyFile,
		AgentSocket:     agentSocket,
		KnownHosts:      env.SSH.KnownHosts,
		TrustOnFirstUse: env.SSH.TrustOnFirstUse,
		ConnectTimeout:  env.SSH.ConnectTimeout.Std(),
		CommandTimeout:  env.Policy.Timeouts.Command.Std(),
		KeepAlive:       env.SSH.KeepAliveInterval.Std(),
		Logs:            Logs{Root: LogRoot(stateDir), Env: env.Name, DeployID: deployID},
	}
}

func (c Config) withDefaults() Config {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.KillGrace == 0 {
		c.KillGrace = DefaultKillGrace
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.TailLines == 0 {
		c.TailLines = DefaultTailLines
	}
	if c.BootWait == 0 {
		c.BootWait = DefaultBootWait
	}
	if c.BootRetry == 0 {
		c.BootRetry = DefaultBootRetry
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.User == "" {
		errs = append(errs, errors.New("no SSH user"))
	}
	if c.KnownHosts == "" {
		errs = append(errs, errors.New("no known_hosts file: host keys are always checked"))
	}
	if c.KeyFile == "" && c.AgentSocket == "" {
		errs = append(errs, errors.New("no key_file and no SSH agent (SSH_AUTH_SOCK is empty)"))
	}
	if c.ConnectTimeout <= 0 {
		errs = append(errs, fmt.Errorf("connect timeout must be positive (got %s)", c.ConnectTimeout))
	}
	if c.CommandTimeout <= 0 {
		errs = append(errs, fmt.Errorf("command timeout must be positive (got %s)", c.CommandTimeout))
	}
	if err := c.Logs.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
