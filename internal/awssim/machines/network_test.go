package machines_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

func hostLinks(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	slices.Sort(names)
	return names
}

func TestMachinesShareOnlyTheirNamespace(t *testing.T) {
	baseImage(t)
	before := hostLinks(t)
	h := openHost(t)
	_, base := baseImage(t)
	key := newKeyPair(t)

	// Names as long as EC2's instance ids and alike but for their last
	// character: their veths must still get distinct names.
	names := []string{"i-0123456789abcdef0", "i-0123456789abcdef1"}
	ms := make([]*machines.Machine, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			ms[i], errs[i] = boot(t, h, machines.Spec{Name: name, Image: base.ID, AuthorizedKeys: []string{key.authorized}})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	t.Run("no link or route into it from the host namespace", func(t *testing.T) {
		if after := hostLinks(t); !slices.Equal(before, after) {
			t.Errorf("host links changed from %v to %v", before, after)
		}
	})

	t.Run("machines reach each other on their private addresses", func(t *testing.T) {
		out := sshRun(t, h, ms[0], key, fmt.Sprintf("curl -s -m 10 http://%s/healthcheck.html", ms[1].Address()))
		if out != "ok\n" {
			t.Errorf("curl from %s to %s = %q", ms[0].Address(), ms[1].Address(), out)
		}
	})

	t.Run("a listener in the namespace serves the metadata address", func(t *testing.T) {
		l, err := h.Network().Listen(t.Context(), "tcp", net.JoinHostPort(machines.MetadataAddr.String(), "80"))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s asked %s", strings.Split(r.RemoteAddr, ":")[0], r.URL.Path)
		})}
		go srv.Serve(l)
		defer srv.Close()
		for _, m := range ms {
			out := sshRun(t, h, m, key, "curl -s -m 10 http://169.254.169.254/latest/meta-data/instance-id")
			if want := m.Address().String() + " asked /latest/meta-data/instance-id"; out != want {
				t.Errorf("from %s: %q, want %q", m.Name(), out, want)
			}
		}
	})
}
