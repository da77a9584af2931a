package gittest

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"path/filepath"
	"strconv"
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
	extra    []string // ref advertisement lines added by AdvertiseExtra
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
		h.mu.Lock()
		extra := h.extra
		h.mu.Unlock()
		if len(extra) > 0 && strings.HasSuffix(r.URL.Path, "/info/refs") && strings.HasPrefix(r.URL.Query().Get("service"), "git-") {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(addAdvertised(rec.Body.Bytes(), extra))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// AdvertiseExtra makes every later ref advertisement (of fetches and
// pushes) list the given refs too, names exactly as given (however
// malformed: "config", "../x", control characters, spaces), each pointing
// at hash, an object the repository has: a broken or hostile server. Fetching them gets the objects; the
// names are the server's lie.
func (h *HTTPServer) AdvertiseExtra(hash string, names ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range names {
		h.extra = append(h.extra, hash+" "+n+"\n")
	}
}

// addAdvertised inserts lines, as pkt-lines, before the flush that ends a
// smart HTTP ref advertisement (the second flush: the first follows the
// "# service=" line).
func addAdvertised(adv []byte, lines []string) []byte {
	var out []byte
	flushes := 0
	for len(adv) >= 4 {
		n, err := strconv.ParseUint(string(adv[:4]), 16, 16)
		if err != nil || (n != 0 && (n < 4 || int(n) > len(adv))) {
			break
		}
		if n == 0 {
			flushes++
			if flushes == 2 {
				for _, l := range lines {
					out = fmt.Appendf(out, "%04x%s", len(l)+4, l)
				}
			}
			out, adv = append(out, "0000"...), adv[4:]
			continue
		}
		out, adv = append(out, adv[:n]...), adv[n:]
	}
	return append(out, adv...)
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
