package watch

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestListingsShareAndStayFresh: callers that ask while a listing runs
// share the next one; none is given a listing that began before it asked.
func TestListingsShareAndStayFresh(t *testing.T) {
	// In a bubble, synctest.Wait tells when every caller is waiting.
	synctest.Test(t, testListingsShareAndStayFresh)
}

func testListingsShareAndStayFresh(t *testing.T) {
	l := newListings()
	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	list := func(context.Context) (map[plumbing.ReferenceName]RemoteRef, error) {
		n := calls.Add(1)
		started <- struct{}{}
		<-release
		return map[plumbing.ReferenceName]RemoteRef{"refs/heads/main": {Hash: plumbing.NewHash(string(rune('0' + n)))}}, nil
	}

	first := make(chan plumbing.Hash, 1)
	go func() {
		refs, err := l.get(t.Context(), list)
		if err != nil {
			t.Error(err)
		}
		first <- refs["refs/heads/main"].Hash
	}()
	<-started // the first listing runs; everyone below asked after it began

	const waiters = 50
	var wg sync.WaitGroup
	got := make(chan plumbing.Hash, waiters)
	for range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refs, err := l.get(t.Context(), list)
			if err != nil {
				t.Error(err)
			}
			got <- refs["refs/heads/main"].Hash
		}()
	}
	synctest.Wait() // all fifty wait for the running listing
	close(release)
	wg.Wait()
	close(got)

	if h := <-first; h != plumbing.NewHash("1") {
		t.Errorf("first caller got %s, want the first listing", h)
	}
	for h := range got {
		if h != plumbing.NewHash("2") {
			t.Fatalf("a caller that asked during the first listing got %s, want the second (fresh) listing", h)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d listings for %d callers, want 2", n, waiters+1)
	}
}

// TestListingsShareFailuresButNotCancellations: a failed listing is the
// answer for everyone who waited on it; a caller that gave up does not
// hand its cancellation to the others.
func TestListingsShareFailuresButNotCancellations(t *testing.T) {
	l := newListings()
	boom := errors.New("connection reset by peer")
	if _, err := l.get(t.Context(), func(context.Context) (map[plumbing.ReferenceName]RemoteRef, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	// A new caller lists again: the failure is older than its question.
	var calls atomic.Int32
	ok := func(context.Context) (map[plumbing.ReferenceName]RemoteRef, error) {
		calls.Add(1)
		return map[plumbing.ReferenceName]RemoteRef{}, nil
	}
	if _, err := l.get(t.Context(), ok); err != nil || calls.Load() != 1 {
		t.Fatalf("after a failure: err = %v, listings = %d", err, calls.Load())
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.get(t.Context(), func(context.Context) (map[plumbing.ReferenceName]RemoteRef, error) { return nil, ctx.Err() }); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if l.last != nil {
		t.Errorf("a cancelled listing was kept for others: %+v", l.last)
	}
}

// TestManyListersAgainstStockDaemon: fifty environments reading the remote
// at once, as their locks do when a shared branch moves, all get an answer
// from a git daemon with its default settings, in a handful of
// connections.
func TestManyListersAgainstStockDaemon(t *testing.T) {
	f := newFixture(t)
	head := f.work.Commit("one", map[string]string{"a.txt": "1"})
	f.work.Push("main")
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refs, err := f.mirror.ListRemote(t.Context())
			if err == nil && refs["refs/heads/main"].Hash != plumbing.NewHash(head) {
				err = errors.New("main is not the pushed commit")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.mirror.listings.starts; n > 3 {
		t.Errorf("%d listings for 50 callers at once, want at most a few", n)
	}
}

// TestListRemoteRetriesAReset: a server that resets a connection (as a
// busy git daemon does beyond its limit) costs a short jittered pause, not
// a failed poll or lock read.
func TestListRemoteRetriesAReset(t *testing.T) {
	f := newFixture(t)
	head := f.work.Commit("one", nil)
	f.work.Push("main")
	proxy := resettingProxy(t, f.daemon.Addr(), 1)
	m := f.openMirror(t, "git://"+proxy.addr+"/app.git", Auth{})
	refs, err := m.ListRemote(t.Context())
	if err != nil {
		t.Fatalf("ListRemote through a reset: %v", err)
	}
	if refs["refs/heads/main"].Hash != plumbing.NewHash(head) {
		t.Errorf("main = %s, want %s", refs["refs/heads/main"].Hash, head)
	}
	if n := proxy.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (one reset, one retry)", n)
	}

	// A server that resets every connection is reported after the retries.
	always := resettingProxy(t, f.daemon.Addr(), 1000)
	m = f.openMirror(t, "git://"+always.addr+"/app.git", Auth{})
	if _, err := m.ListRemote(t.Context()); err == nil {
		t.Fatal("ListRemote succeeded through a server that resets every connection")
	}
	if n := always.conns.Load(); n != 1+listRetries {
		t.Errorf("%d connections, want %d", n, 1+listRetries)
	}
}

type proxy struct {
	addr  string
	conns atomic.Int32
}

// resettingProxy forwards TCP to target, but resets the first n
// connections at once.
func resettingProxy(t *testing.T, target string, n int32) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &proxy{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.conns.Add(1) <= n {
				c.(*net.TCPConn).SetLinger(0) // close with RST
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return p
}
