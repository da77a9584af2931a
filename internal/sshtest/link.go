package sshtest

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Link is a TCP path to a host that a test can cut as a network partition
// does: the host neither answers nor resets. A client connects to Addr and
// Link forwards each connection to the target, byte for byte, until Cut.
// From then on nothing passes in either direction and no socket is closed:
// what each side sends stays unread (at most one chunk per direction is
// held, as if in flight), so a client waiting for an answer waits for ever,
// and a new connection is accepted but sees no banner. Heal lets
// everything through again, what was held first, as TCP retransmits once
// a partition ends; a connection its client closed meanwhile then ends.
type Link struct {
	l net.Listener

	mu       sync.Mutex
	changed  *sync.Cond // signalled when cut, inflight or closed change
	cut      bool
	inflight int // writes under way; Cut waits for them
	closed   bool
	conns    []net.Conn
}

// NewLink listens on a free loopback port and forwards to target
// (host:port) until the test ends.
func NewLink(t testing.TB, target string) *Link {
	t.Helper()
	return NewLinkOn(t, "127.0.0.1:0", target)
}

// NewLinkOn is NewLink listening on listen (host:port; "0.0.0.0:0" reaches
// it at every loopback address, as the fast simulator's instances are).
func NewLinkOn(t testing.TB, listen, target string) *Link {
	t.Helper()
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("sshtest: link: %v", err)
	}
	k := &Link{l: l}
	k.changed = sync.NewCond(&k.mu)
	t.Cleanup(k.close)
	go k.accept(target)
	return k
}

// Addr is host:port to connect to instead of the target.
func (k *Link) Addr() string { return k.l.Addr().String() }

// Port is Addr's port, for a known_hosts line.
func (k *Link) Port() int { return k.l.Addr().(*net.TCPAddr).Port }

// KnownHostsLine trusts s's host key at Addr, as KnownHostsLine does at s's
// own address.
func (k *Link) KnownHostsLine(s *Server) string {
	f := strings.Fields(s.HostPublicKey())
	return "[127.0.0.1]:" + strconv.Itoa(k.Port()) + " " + f[0] + " " + f[1] + "\n"
}

// Cut stops all forwarding, in both directions and on every connection,
// new ones included. Once it returns, no byte passes until Heal.
func (k *Link) Cut() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cut = true
	for k.inflight > 0 {
		k.changed.Wait()
	}
}

// Heal forwards again: the bytes held since Cut, then whatever follows.
func (k *Link) Heal() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cut = false
	k.changed.Broadcast()
}

func (k *Link) accept(target string) {
	for {
		c, err := k.l.Accept()
		if err != nil {
			return
		}
		// The target is dialled at once, cut or not: what the host
		// sends waits in the link.
		up, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		k.mu.Lock()
		if k.closed {
			k.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		k.conns = append(k.conns, c, up)
		k.mu.Unlock()
		go k.pipe(up, c)
		go k.pipe(c, up)
	}
}

// pipe copies src to dst while the link is not cut. When src ends (its
// side closed), dst is half-closed so that the other side learns it, once
// the link is not cut: a FIN does not cross a partition either.
func (k *Link) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !k.pass(func() error { _, err := dst.Write(buf[:n]); return err }) {
			return
		}
		if err != nil {
			k.pass(func() error {
				if tc, ok := dst.(*net.TCPConn); ok {
					return tc.CloseWrite()
				}
				return dst.Close()
			})
			return
		}
	}
}

// pass runs send, a write to one side, once the link is not cut; false
// when it cannot (the link closed, or the write failed).
func (k *Link) pass(send func() error) bool {
	k.mu.Lock()
	for k.cut && !k.closed {
		k.changed.Wait()
	}
	if k.closed {
		k.mu.Unlock()
		return false
	}
	k.inflight++
	k.mu.Unlock()
	err := send()
	k.mu.Lock()
	k.inflight--
	k.changed.Broadcast()
	k.mu.Unlock()
	return err == nil
}

func (k *Link) close() {
	k.l.Close()
	k.mu.Lock()
	k.closed = true
	conns := k.conns
	k.conns = nil
	k.changed.Broadcast()
	k.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
