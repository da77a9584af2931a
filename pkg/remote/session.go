package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// openSession opens a session on conn within ConnectTimeout. sshd
// answers a session request only once PAM opened the login's session, and
// x/crypto/ssh's NewSession knows no context: closing the connection is
// what ends the wait (so does the keepalive, sooner, when the host stopped
// answering altogether).
func (r *Runner) openSession(ctx context.Context, conn *hostConn, addr string) (*ssh.Session, error) {
	octx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	stop := context.AfterFunc(octx, func() { conn.client.Close() })
	sess, err := conn.client.NewSession()
	if !stop() {
		if sess != nil {
			sess.Close()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("open session on %s: %w", addr, ctx.Err())
		}
		return nil, &SessionError{Host: addr, Err: fmt.Errorf("logged in, but no session opened within %s", r.cfg.ConnectTimeout)}
	}
	var refused *ssh.OpenChannelError
	if errors.As(err, &refused) {
		// sshd said no (MaxSessions, a ForceCommand's policy): asking
		// again changes nothing.
		return nil, &DialError{Host: addr, Err: fmt.Errorf("open session: %w", err)}
	}
	if err != nil {
		return nil, &SessionError{Host: addr, Err: fmt.Errorf("open session: %w", conn.why(err))}
	}
	return sess, nil
}

// runOne runs c in a new session of conn and waits for it, within
// CommandTimeout.
func (r *Runner) runOne(ctx context.Context, conn *hostConn, addr string, c Command, log *serverLog) error {
	log.begin(c.redactor(), "%s as %s@%s%s", c.Name, r.cfg.User, addr, c.envNames())
	log.note("$", "%s", c.Line)
	fail := func(err error) error {
		log.note("!!!", "%v", err)
		return err
	}

	sess, err := r.openSession(ctx, conn, addr)
	if err != nil {
		return fail(err)
	}
	defer sess.Close()
	line, stdin := c.remote()
	sess.Stdin = bytes.NewReader(stdin)
	if c.Input != nil {
		sess.Stdin = io.MultiReader(sess.Stdin, c.Input)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	stderr, err := sess.StderrPipe()
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	if err := sess.Start(line); err != nil {
		// Dropped silent while exec was asked: the request may have
		// reached the host, and the command run there.
		if silent := conn.silent.Load(); silent != nil {
			return fail(outcomeUnknown(addr, c.Name, silent))
		}
		return fail(&DialError{Host: addr, Err: fmt.Errorf("start command: %w", err)})
	}
	var copying sync.WaitGroup
	pgid := make(chan int, 1)
	copying.Go(func() { copyLines(stdout, "out", log, pgid) })
	copying.Go(func() { copyLines(stderr, "err", log, nil) })
	exited := make(chan error, 1)
	go func() { exited <- sess.Wait() }()

	cctx, cancel := context.WithTimeout(ctx, r.cfg.CommandTimeout)
	defer cancel()
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-cctx.Done():
		r.stop(conn.client, sess, pgid, exited, log)
		copying.Wait()
		if ctx.Err() != nil {
			return fail(fmt.Errorf("%s on %s: %w", c.Name, addr, ctx.Err()))
		}
		return fail(&TimeoutError{Host: addr, Command: c.Name, After: r.cfg.CommandTimeout, Log: log.path})
	}
	copying.Wait()
	took := time.Now().Sub(start).Round(time.Millisecond)

	var exitErr *ssh.ExitError
	switch {
	case waitErr == nil:
		log.note("===", "exit 0 after %s", took)
		return nil
	case errors.As(waitErr, &exitErr):
		log.note("===", "exit %d%s after %s", exitErr.ExitStatus(), signalSuffix(exitErr.Signal()), took)
		return &ExitError{
			Host: addr, Command: c.Name, Code: exitErr.ExitStatus(), Signal: exitErr.Signal(),
			Tail: log.lastLines(), Log: log.path,
		}
	default:
		// The connection dropped, or sshd sent no exit status: whether the
		// command finished is unknown.
		if silent := conn.silent.Load(); silent != nil {
			return fail(outcomeUnknown(addr, c.Name, silent))
		}
		return fail(&DialError{Host: addr, Err: fmt.Errorf("%s: no exit status: %w", c.Name, waitErr)})
	}
}

// stop ends a command that ran out of time: SIGTERM to its process group,
// SIGKILL after KillGrace, and the connection closed after another
// KillGrace whatever happened, so stop itself is bounded. Each signal goes
// both as an SSH "signal" request and as kill(1) on the group from a second
// session, which also works where sshd refuses the request (root logins).
func (r *Runner) stop(client *ssh.Client, sess *ssh.Session, pgid <-chan int, exited <-chan error, log *serverLog) {
	group := 0
	killGroupWith := func(sig ssh.Signal) {
		if group > 0 {
			// Ends with its session, or when the connection is closed
			// below; whether it worked shows in exited.
			go killGroup(client, group, sig)
		}
	}
	grace := time.NewTimer(r.cfg.KillGrace)
	defer grace.Stop()
	for _, sig := range []ssh.Signal{ssh.SIGTERM, ssh.SIGKILL} {
		log.note("!!!", "out of time: sending SIG%s", sig)
		_ = sess.Signal(sig) // wantReply is false: no answer to wait for
		killGroupWith(sig)
	wait:
		for {
			select {
			case <-exited:
				return
			case group = <-pgid:
				// The marker line was still on its way.
				killGroupWith(sig)
			case <-grace.C:
				grace.Reset(r.cfg.KillGrace)
				break wait
			}
		}
	}
	log.note("!!!", "no exit after SIGKILL: closing the connection")
	client.Close()
	<-exited
}

// killGroup sends sig to process group pgid from a session of its own. The
// line is POSIX's form, "kill -s SIG -- -pgid": dash (Debian's /bin/sh)
// refuses "kill -SIG -- -pgid" ("Illegal number: -"), so a login shell of
// dash killed nothing.
func killGroup(client *ssh.Client, pgid int, sig ssh.Signal) {
	s, err := client.NewSession()
	if err != nil {
		return
	}
	defer s.Close()
	_ = s.Run(fmt.Sprintf("kill -s %s -- -%d", sig, pgid))
}

func signalSuffix(sig string) string {
	if sig == "" {
		return ""
	}
	return " (signal " + sig + ")"
}

// copyLines logs r line by line. Over-long lines are logged in pieces
// rather than held whole in memory. With pgid set, the first line carrying
// pgidMarker is taken off the stream and its number sent on pgid.
func copyLines(r io.Reader, stream string, log *serverLog, pgid chan<- int) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, _, err := br.ReadLine()
		if pgid != nil {
			if rest, ok := strings.CutPrefix(string(line), pgidMarker); ok {
				if n, convErr := strconv.Atoi(rest); convErr == nil {
					pgid <- n
					pgid = nil
					continue
				}
			}
		}
		if len(line) > 0 || err == nil {
			log.output(stream, string(line))
		}
		if err != nil {
			return
		}
	}
}

// outcomeUnknown is the error of a command whose host was dropped silent
// once it had been asked to run it: it may have run, or finished.
func outcomeUnknown(addr, name string, silent *NoAnswerError) error {
	return &DialError{Host: addr, Err: fmt.Errorf("%s: %w; whether the command finished is unknown", name, silent)}
}
