package machines

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNetns runs fn on an OS thread switched into ns, and switches the
// thread back before releasing it. Sockets created by fn belong to ns for
// their whole life, whichever thread later reads them, so this is all a
// dialer or listener needs.
func inNetns(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	// A fresh goroutine, so that the caller's thread is never the one
	// switched, even if the caller had locked its own.
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked: the runtime ends it with this
			// goroutine instead of handing it, still in ns, to others.
			errc <- fmt.Errorf("leave network namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// newNamedNetns creates the network namespace /run/netns/name without
// moving the calling thread into it (netns.NewNamed does move the thread it
// runs on, so it runs on a thread of its own that is switched back).
func newNamedNetns(name string) (netns.NsHandle, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			res <- result{netns.None(), err}
			return
		}
		defer orig.Close()
		h, err := netns.NewNamed(name)
		if serr := netns.Set(orig); serr != nil {
			if err == nil {
				h.Close()
			}
			res <- result{netns.None(), fmt.Errorf("leave network namespace %s: %w", name, serr)}
			return
		}
		runtime.UnlockOSThread()
		res <- result{h, err}
	}()
	r := <-res
	if r.err != nil {
		return netns.None(), fmt.Errorf("create network namespace %s: %w", name, r.err)
	}
	return r.h, nil
}
