package gittest

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"path/filepath"
	"strings"
	"sync"
)

// HTTPServer is git http-backend behind net/http/cgi on 127.0.0.1. When a
// token is set, every request must carry it as the HTTP basic-auth password,
// as forges accept personal access tokens.
type HTTPServer struct {
	srv   *Server
	token string
	ln    net.Listener
	hs    *http.Server

	mu       sync.Mutex
	requests map[string]int
}

// StartHTTP serves the server's root over smart HTTP. An empty token means
// no authentication.
func (s *Server) StartHTTP(token string) *HTTPServer {
	s.t.Helper()
	execPath := Git(s.t, "", "--exec-path")
	h := &HTTPServer{srv: s, token: token, requests: map[string]int{}}
	backend := &cgi.Handler{
		Path: filepath.Join(execPath, "git-http-backend"),
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatalf("http listen: %v", err)
	}
	h.ln = ln
	h.hs = &http.Server{Handler: h.wrap(backend)}
	go func() { _ = h.hs.Serve(ln) }()
	s.t.Cleanup(func() { _ = h.hs.Close() })
	return h
}

func (h *HTTPServer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.token != "" {
			_, pw, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(h.token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="gittest"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		h.count(r)
		next.ServeHTTP(w, r)
	})
}

// count records the git service a request was for: "ls-upload-pack" for the
// ref advertisement of a fetch, "upload-pack" for a fetch's negotiation and
// pack, and the same for receive-pack.
func (h *HTTPServer) count(r *http.Request) {
	var key string
	switch {
	case strings.HasSuffix(r.URL.Path, "/info/refs"):
		key = "ls-" + strings.TrimPrefix(r.URL.Query().Get("service"), "git-")
	case strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
		key = "upload-pack"
	case strings.HasSuffix(r.URL.Path, "/git-receive-pack"):
		key = "receive-pack"
	default:
		key = "other"
	}
	h.mu.Lock()
	h.requests[key]++
	h.mu.Unlock()
}

// Requests reports how many requests of a kind (see count) were served.
func (h *HTTPServer) Requests(kind string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests[kind]
}

// URL is the http:// URL of the named repository, without credentials.
func (h *HTTPServer) URL(name string) string {
	return fmt.Sprintf("http://%s/%s", h.ln.Addr(), name)
}

// URLWithToken is URL with the token embedded, for the git CLI.
func (h *HTTPServer) URLWithToken(name string) string {
	if h.token == "" {
		return h.URL(name)
	}
	return fmt.Sprintf("http://x-token:%s@%s/%s", h.token, h.ln.Addr(), name)
}
