package lock

import (
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// FuzzParseLease feeds arbitrary lock commit messages (anyone who can push
// to the remote can write one under refs/ferry/locks/) to the lease reader:
// it must never panic, an error names the lock and the commit, and a lease
// Ferry writes reads back the same.
func FuzzParseLease(f *testing.F) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	f.Add(leaseMessage(&Lease{Env: "staging", Holder: "bastion-1/pid 4242", Acquired: t0, Expires: t0.Add(10 * time.Minute)}), "bastion-1/pid 4242", t0.UnixNano(), int64(600e9))
	f.Add("ferry lock: staging\n\nholder: x\nexpires: tomorrow\n", "x", int64(0), int64(1))
	f.Add("ferry lock: staging\n\nholder: \nacquired: 2026-11-30T12:00:00Z\n", "a: b\r", int64(-1), int64(-1))
	f.Add("", "", int64(0), int64(0))
	h := plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")
	f.Fuzz(func(t *testing.T, message, holder string, acquired, ttl int64) {
		lease, err := parseLease("staging", h, message)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "lock staging commit "+h.String()+": ") {
				t.Fatalf("error does not name the lock and the commit: %v", err)
			}
		} else if lease.Env != "staging" || lease.commit != h {
			t.Fatalf("a lease of %q at %s", lease.Env, lease.commit)
		}

		// What Acquire and Renew write reads back the same.
		if holder == "" || strings.Contains(holder, "\n") {
			return // Acquire refuses such a holder
		}
		a := time.Unix(0, acquired).UTC()
		written := &Lease{Env: "staging", Holder: holder, Acquired: a, Expires: a.Add(time.Duration(ttl))}
		if written.Expires.Year() > 9999 || written.Expires.Year() < 1 || a.Year() < 1 {
			return
		}
		got, err := parseLease("staging", h, leaseMessage(written))
		if err != nil {
			t.Fatalf("Ferry's own lease does not read back: %v\n%s", err, leaseMessage(written))
		}
		if got.Holder != holder || !got.Acquired.Equal(written.Acquired) || !got.Expires.Equal(written.Expires) {
			t.Fatalf("the lease changed through its message:\n%+v\n%+v", written, got)
		}
	})
}
