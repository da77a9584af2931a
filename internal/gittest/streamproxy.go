package gittest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// StreamServer serves the server's root over git's own protocol
// (git://), as git daemon does, but runs git upload-pack or receive-pack
// itself for each connection so that it can add lines of its own to their
// ref advertisement: a broken or hostile server over the stream protocol
// that SSH carries too (go-git reads both the same way).
type StreamServer struct {
	srv *Server
	ln  net.Listener

	mu    sync.Mutex
	extra []string // ref advertisement lines added by AdvertiseExtra
}

// StartStream starts a StreamServer on a free loopback port for the rest
// of the test.
func (s *Server) StartStream() *StreamServer {
	s.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatalf("listen: %v", err)
	}
	h := &StreamServer{srv: s, ln: ln}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	s.t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { h.serve(ctx, c) })
		}
	})
	return h
}

// URL is the git:// URL of the named repository.
func (h *StreamServer) URL(name string) string {
	return fmt.Sprintf("git://%s/%s", h.ln.Addr(), name)
}

// AdvertiseExtra makes every later ref advertisement (of fetches and
// pushes) list the given refs too, names exactly as given (however
// malformed), each pointing at hash.
func (h *StreamServer) AdvertiseExtra(hash string, names ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range names {
		h.extra = append(h.extra, hash+" "+n+"\n")
	}
}

// serve answers one connection: its first pkt-line names the service and
// the repository ("git-upload-pack /app.git\0host=...\0").
func (h *StreamServer) serve(ctx context.Context, c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	req, err := readPkt(r)
	if err != nil {
		return
	}
	service, rest, _ := strings.Cut(string(req), " ")
	path, _, _ := strings.Cut(rest, "\x00")
	if service != "git-upload-pack" && service != "git-receive-pack" || strings.Contains(path, "..") {
		return
	}
	args := []string{strings.TrimPrefix(service, "git-")}
	if service == "git-upload-pack" {
		args = append(args, "--strict") // the path as given, as git daemon asks
	}
	cmd := exec.CommandContext(ctx, "git", append(args, filepath.Join(h.srv.root, filepath.FromSlash(strings.TrimPrefix(path, "/"))))...)
	cmd.Env = GitEnv()
	cmd.Stdin = r
	out, err := cmd.StdoutPipe()
	if err != nil {
		return
	}
	if err := cmd.Start(); err != nil {
		return
	}
	h.mu.Lock()
	extra := h.extra
	h.mu.Unlock()
	// The advertisement ends at the first flush; the extra lines go just
	// before it, then the rest of the conversation passes as it is.
	or := bufio.NewReader(out)
	for {
		line, err := readPkt(or)
		if err != nil {
			break
		}
		if line == nil {
			for _, l := range extra {
				fmt.Fprintf(c, "%04x%s", len(l)+4, l)
			}
			_, _ = io.WriteString(c, "0000")
			_, _ = io.Copy(c, or)
			break
		}
		fmt.Fprintf(c, "%04x%s", len(line)+4, line)
	}
	// Its output ended: the service is done. Closing the connection ends
	// the copy of the client's input, which Wait waits for.
	c.Close()
	_ = cmd.Wait()
}

// readPkt reads one pkt-line's payload; nil for a flush.
func readPkt(r *bufio.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n, err := strconv.ParseUint(string(head[:]), 16, 16)
	if err != nil || (n > 0 && n < 4) {
		return nil, errors.New("not a pkt-line")
	}
	if n == 0 {
		return nil, nil
	}
	b := make([]byte, n-4)
	_, err = io.ReadFull(r, b)
	return b, err
}
