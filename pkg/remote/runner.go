package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-deploy/ferry/pkg/roles"
)

// Host is one instance to run commands on.
type Host struct {
	// Addr is an IP address or DNS name, with ":port" when it is not
	// Config.Port.
	Addr string
	// Instance is the instance ID; with Role it names the log file.
	Instance string
	Role     roles.Role
}

// Runner runs commands on hosts over SSH for one deploy. It is safe for
// concurrent use.
type Runner struct {
	cfg    Config
	keys   *hostKeys
	creds  *credentials
	logger *slog.Logger
}

// New checks cfg, reads the key file (if any) and the known_hosts file, and
// returns a Runner that logs its summaries to logger (nil: nowhere).
func New(cfg Config, logger *slog.Logger) (*Runner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	keys, err := loadHostKeys(cfg.KnownHosts, cfg.TrustOnFirstUse)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	creds, err := loadCredentials(cfg)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{cfg: cfg, keys: keys, creds: creds, logger: logger}
	return r, nil
}

// Run connects to h once and runs cmds there in order, stopping at the
// first that fails. Output goes to h's log file; each command's outcome is
// summarised in the Runner's logger. The error is one of the types of this
// package (see IsTransient), or ctx's error when ctx ended first.
func (r *Runner) Run(ctx context.Context, h Host, cmds ...Command) (err error) {
	for _, c := range cmds {
		if err := c.validate(); err != nil {
			return err
		}
	}
	path, err := r.cfg.Logs.Path(h.Role, h.Instance)
	if err != nil {
		return fmt.Errorf("remote: %w", err)
	}
	log, err := openServerLog(path, r.cfg.TailLines)
	if err != nil {
		return fmt.Errorf("remote: %w", err)
	}
	defer func() {
		if cerr := log.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()

	addr := r.hostport(h.Addr)
	lg := r.logger.With("host", addr, "instance", h.Instance, "role", h.Role, "log", path)
	conn, err := r.connect(ctx, addr, h.Instance, log, lg)
	if err != nil {
		return err
	}
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()

	// A host may take the login and then open no session: a new
	// instance's logind, busy with its boot, holds sshd's PAM session.
	// No command has started then, so Ferry connects again, for as long
	// as it waits for a booting host.
	deadline := time.Now().Add(r.cfg.BootWait)
	for i := 0; i < len(cmds); {
		c := cmds[i]
		start := time.Now()
		err := r.runOne(ctx, conn, addr, c, log)
		took := time.Now().Sub(start).Round(time.Millisecond)
		var stalled *SessionError
		if errors.As(err, &stalled) && ctx.Err() == nil && time.Now().Add(r.cfg.BootRetry).Before(deadline) {
			log.note("...", "%s: %v; connecting again", addr, stalled.Err)
			lg.Warn("no session opened, connecting again", "command", c.Name, "error", stalled.Err)
			conn.close()
			if conn, err = r.connect(ctx, addr, h.Instance, log, lg); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			lg.Error("remote command failed", "command", c.Name, "duration", took,
				"error", err, "last_lines", log.lastLines())
			return err
		}
		lg.Info("remote command done", "command", c.Name, "duration", took)
		i++
	}
	return nil
}

// hostConn is a connection to a host and the keepalive that watches it.
type hostConn struct {
	client  *ssh.Client
	stop    context.CancelFunc
	keeping sync.WaitGroup
	// silent is set, before the client is closed, when the keepalive
	// dropped the connection.
	silent atomic.Pointer[NoAnswerError]
}

// connect dials addr (see dialBooted) and keeps the connection alive.
func (r *Runner) connect(ctx context.Context, addr, instance string, log *serverLog, lg *slog.Logger) (*hostConn, error) {
	client, err := r.dialBooted(ctx, addr, instance, log, lg)
	if err != nil {
		log.note("!!!", "connect as %s: %v", r.cfg.User, err)
		lg.Error("connect failed", "error", err)
		return nil, err
	}
	kctx, stop := context.WithCancel(ctx)
	c := &hostConn{client: client, stop: stop}
	c.keeping.Go(func() {
		keepAlive(kctx, client, r.cfg.KeepAlive, func(silent time.Duration) {
			e := &NoAnswerError{Host: addr, Silent: silent}
			c.silent.Store(e)
			log.note("!!!", "%v", e)
		})
	})
	return c, nil
}

// why is what err, an error from the connection, comes down to: the
// NoAnswerError when the keepalive dropped the connection (err then only
// tells that it closed, as x/crypto/ssh's "unexpected packet in response
// to channel open: <nil>" does), else err itself.
func (c *hostConn) why(err error) error {
	if e := c.silent.Load(); e != nil {
		return e
	}
	return err
}

// close ends the keepalive (before the log closes) and the connection.
func (c *hostConn) close() {
	c.stop()
	c.client.Close()
	c.keeping.Wait()
}

func (r *Runner) hostport(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(addr, strconv.Itoa(r.cfg.Port))
}

// dialBooted dials addr, and while the host answers that it is still
// booting, dials again every BootRetry until BootWait has passed: a new
// instance is InService in its balancer as soon as nginx answers, which
// can be before systemd lets users log in.
func (r *Runner) dialBooted(ctx context.Context, addr, instance string, log *serverLog, lg *slog.Logger) (*ssh.Client, error) {
	deadline := time.Now().Add(r.cfg.BootWait)
	for {
		client, err := r.dial(ctx, addr, instance)
		var booting *BootingError
		if err == nil || !errors.As(err, &booting) || !time.Now().Add(r.cfg.BootRetry).Before(deadline) {
			return client, err
		}
		log.note("...", "%s: still booting, connecting again in %s", addr, r.cfg.BootRetry)
		lg.Info("host still booting, connecting again", "retry_in", r.cfg.BootRetry)
		t := time.NewTimer(r.cfg.BootRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("connect to %s: %w (last: %w)", addr, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// dial connects and completes the SSH handshake within ConnectTimeout.
func (r *Runner) dial(ctx context.Context, addr, instance string) (*ssh.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	fail := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("connect to %s: %w", addr, ctx.Err())
		}
		return &DialError{Host: addr, Err: err}
	}

	var d Dialer = &net.Dialer{}
	if r.cfg.Dialer != nil {
		d = r.cfg.Dialer
	}
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fail(err)
	}
	// x/crypto/ssh's handshake knows no context: closing the connection is
	// what interrupts it.
	stop := context.AfterFunc(dctx, func() { conn.Close() })

	auth, release, err := r.creds.method(dctx)
	if err != nil {
		stop()
		conn.Close()
		return nil, &AuthError{Host: addr, User: r.cfg.User, Via: r.creds.via, Err: err}
	}
	// Set by the host key callback, which x/crypto/ssh may call from its
	// key exchange goroutine.
	var (
		verdictMu      sync.Mutex
		hostKeyChecked bool
		hostKeyErr     error
		banner         string
	)
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User: r.cfg.User,
		Auth: []ssh.AuthMethod{auth},
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			err := r.keys.callback(hostname, remote, key, instance)
			verdictMu.Lock()
			defer verdictMu.Unlock()
			hostKeyChecked, hostKeyErr = true, err
			return err
		},
		HostKeyAlgorithms: r.keys.algorithms(addr),
		BannerCallback: func(message string) error {
			verdictMu.Lock()
			defer verdictMu.Unlock()
			banner += message
			return nil
		},
	})
	release()
	if !stop() {
		// Timed out or cancelled mid-handshake; conn is already closed.
		if c != nil {
			c.Close()
		}
		return nil, fail(fmt.Errorf("no SSH handshake within %s: %w", r.cfg.ConnectTimeout, dctx.Err()))
	}
	if err != nil {
		conn.Close()
		verdictMu.Lock()
		defer verdictMu.Unlock()
		switch {
		case hostKeyErr != nil:
			// Permanent, and already names the host and the file.
			return nil, hostKeyErr
		case !hostKeyChecked:
			return nil, fail(err)
		case isNologin(banner, err):
			return nil, &BootingError{Host: addr, Message: banner, Err: err}
		case isConnError(err):
			return nil, fail(err)
		default:
			// The host was verified and then refused what we offered.
			// x/crypto/ssh has no error type for that; every other way
			// a verified handshake fails is a connection error.
			return nil, &AuthError{Host: addr, User: r.cfg.User, Via: r.creds.via, Err: err}
		}
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// isNologin tells sshd's answer to a login that pam_nologin refused: the
// key was accepted, PAM's account check failed, /run/nologin's text came
// as a banner and sshd disconnected ("Access denied for user U by PAM
// account configuration"). systemd writes "System is booting up" there.
func isNologin(banner string, err error) bool {
	return strings.Contains(banner, "System is booting up") ||
		(banner != "" && strings.Contains(err.Error(), "by PAM account configuration"))
}

func isConnError(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// keepAlive sends OpenSSH keepalive requests every interval while ctx
// lasts, and closes client when one goes unanswered for three intervals: a
// terminated instance sends no FIN, and its command would otherwise be
// waited on until CommandTimeout. Any reply counts, failure included.
func keepAlive(ctx context.Context, client *ssh.Client, every time.Duration, lost func(silent time.Duration)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		replied := make(chan error, 1)
		go func() {
			_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
			replied <- err
		}()
		deadline := time.NewTimer(3 * every)
		select {
		case err := <-replied:
			deadline.Stop()
			if err != nil {
				return // the connection is gone already
			}
		case <-deadline.C:
			lost(3 * every)
			client.Close()
			return
		case <-ctx.Done():
			deadline.Stop()
			return
		}
	}
}
