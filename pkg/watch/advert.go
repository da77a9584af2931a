package watch

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// go-git v5 refuses a whole ref advertisement when one line after the
// first is not "<hash> <name>": a name with white space stops every
// listing, fetch and push, though git skips such a ref (fetch-pack.c
// filter_refs; go-git v6 does the same since go-git/go-git#2391). Over
// smart HTTP, Ferry reads the advertisement before go-git does (advertFilter)
// and drops those lines, logged once each; over the stream protocol (ssh,
// git://, file://) go-git reads the stream itself, and Ferry turns its
// refusal into a permanent error naming the ref (badAdvertisement).

// transportFor returns the go-git transport of the mirror's remote: for
// http(s), one whose ref advertisements pass through an advertFilter.
func (m *Mirror) transportFor() (transport.Transport, error) {
	switch m.ep.Protocol {
	case "http", "https":
		return m.http, nil
	}
	return client.NewClient(m.ep)
}

func newHTTPTransport(bad func(name, why string)) transport.Transport {
	return githttp.NewClient(&http.Client{Transport: &advertFilter{next: http.DefaultTransport, bad: bad}})
}

// advertFilter is an http.RoundTripper that drops, from a ref
// advertisement (GET .../info/refs, of fetches and pushes), the ref lines
// go-git would refuse the whole advertisement for, telling bad of each.
type advertFilter struct {
	next http.RoundTripper
	bad  func(name, why string)
}

func (f *advertFilter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := f.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, "/info/refs") || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	resp.Body = &advertReader{src: bufio.NewReader(resp.Body), closer: resp.Body, bad: f.bad}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp, nil
}

// advertReader passes a smart HTTP ref advertisement through, pkt-line by
// pkt-line, without the ref lines after the first that are not "<40 hex
// digits> <name without white space>" (with "^{}" for a peeled tag).
// Anything it cannot frame as pkt-lines it passes on as it is, for go-git
// to judge.
type advertReader struct {
	src    *bufio.Reader
	closer io.Closer
	bad    func(name, why string)
	out    []byte // read, to be handed on
	refs   int    // ref lines seen
	done   bool   // past the advertisement, or unframeable: pass the rest
	err    error
}

func (r *advertReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		switch {
		case r.err != nil:
			return 0, r.err
		case r.done:
			return r.src.Read(p)
		}
		r.next()
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

func (r *advertReader) Close() error { return r.closer.Close() }

// next moves one pkt-line to out, or drops it.
func (r *advertReader) next() {
	head, err := r.src.Peek(4)
	if err != nil {
		r.out = append(r.out, head...)
		_, _ = r.src.Discard(len(head))
		r.err = err
		return
	}
	n, err := strconv.ParseUint(string(head), 16, 16)
	if err != nil || (n > 0 && n < 4) {
		r.done = true
		return
	}
	if n == 0 { // a flush: after the "# service=" line, or the end
		r.out = append(r.out, head...)
		_, _ = r.src.Discard(4)
		r.done = r.refs > 0
		return
	}
	pkt := make([]byte, n)
	if k, err := io.ReadFull(r.src, pkt); err != nil {
		r.out = append(r.out, pkt[:k]...)
		r.err = err
		return
	}
	line := bytes.TrimSuffix(pkt[4:], []byte("\n"))
	switch {
	case r.refs == 0 && bytes.HasPrefix(line, []byte("#")), bytes.HasPrefix(line, []byte("shallow ")):
	default:
		r.refs++
		if r.refs > 1 {
			if name, why := badRefLine(line); why != "" {
				r.bad(name, why)
				return
			}
		}
	}
	r.out = append(r.out, pkt...)
}

// badRefLine says why an advertised ref line (after the first) is not one
// go-git reads, and the name it gives; why is "" for a good line.
func badRefLine(line []byte) (name, why string) {
	hash, rest, ok := bytes.Cut(line, []byte(" "))
	name = string(bytes.TrimSuffix(rest, []byte("^{}")))
	switch {
	case !ok:
		return string(line), "not a ref line (no space)"
	case len(hash) != 40 || !isHex(hash):
		return name, "not a ref line (no object id)"
	case bytes.ContainsAny(rest, " \t\r\n"):
		return name, "white space in the name"
	}
	return name, ""
}

func isHex(b []byte) bool {
	_, err := hex.Decode(make([]byte, len(b)/2), b)
	return err == nil && len(b)%2 == 0
}

// badAdvertisement turns go-git's refusal of a ref advertisement for a
// malformed ref line into an error naming the ref, and permanent: asking
// again gets the same listing until someone fixes the server.
func badAdvertisement(err error) error {
	var ue *packp.ErrUnexpectedData
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "malformed ref data") {
		return err
	}
	name, _ := badRefLine(ue.Data)
	return fmt.Errorf("the remote advertises a ref named %q, a line go-git cannot read (git skips such a ref; Ferry does over http(s) only): rename or delete the ref on the server: %w", name, ErrPermanent)
}

// badRefs logs each ref the remote advertises that Ferry ignores, once
// per name for the life of the mirror (a poll lists the remote every few
// seconds); past maxBadRefs names it stops naming them.
type badRefs struct {
	mu     sync.Mutex
	warned map[string]bool
}

const maxBadRefs = 256

func (b *badRefs) first(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.warned == nil {
		b.warned = map[string]bool{}
	}
	if b.warned[name] || len(b.warned) > maxBadRefs {
		return false
	}
	b.warned[name] = true
	return true
}
