package imds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The headers of IMDSv2 [instance-metadata-v2-how-it-works].
const (
	tokenHeader    = "X-Aws-Ec2-Metadata-Token"
	ttlHeader      = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	tokenPath      = "/latest/api/token"
	maxTokenTTL    = 21600 // six hours
	defaultLife    = 6 * time.Hour
	defaultRefresh = 15 * time.Minute
)

// Config configures a Handler. Only Instances is required.
type Config struct {
	// Instances finds the instance a request comes from by its source
	// address.
	Instances Instances
	// Credentials mints instance profile credentials; nil: a Keyring of
	// the handler's own (then nothing else can accept them).
	Credentials Credentials
	// Now is the clock tokens and credentials expire by (default
	// time.Now).
	Now func() time.Time
	// Logger gets one debug line a request (never a token or a key) and
	// warnings; nil discards them.
	Logger *slog.Logger
	// CredentialLifetime is how long minted credentials last (default 6h,
	// what EC2's last about).
	CredentialLifetime time.Duration
	// CredentialRefresh: credentials with less than this left are replaced
	// (default 15 min; AWS makes new ones available "at least five minutes
	// before the expiration of the old" [instance-metadata-security-credentials]).
	CredentialRefresh time.Duration
}

// Handler is the instance metadata service, an http.Handler to serve on
// 169.254.169.254:80. Set its ConnContext as the http.Server's to get
// the PUT response hop limit.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	tokens *tokens

	mu    sync.Mutex
	creds map[credKey]issued
}

type credKey struct{ instanceID, role, delivery string }

// issued are credentials handed out and when they were minted.
type issued struct {
	keys    Keys
	updated time.Time
}

// New returns a metadata service for cfg.Instances.
func New(cfg Config) (*Handler, error) {
	if cfg.Instances == nil {
		return nil, errors.New("imds: Config.Instances is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Credentials == nil {
		cfg.Credentials = NewKeyring(cfg.Now)
	}
	if cfg.CredentialLifetime <= 0 {
		cfg.CredentialLifetime = defaultLife
	}
	if cfg.CredentialRefresh <= 0 {
		cfg.CredentialRefresh = defaultRefresh
	}
	if cfg.CredentialRefresh >= cfg.CredentialLifetime {
		return nil, fmt.Errorf("imds: CredentialRefresh %s must be shorter than CredentialLifetime %s", cfg.CredentialRefresh, cfg.CredentialLifetime)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, log: log, tokens: newTokens(), creds: map[credKey]issued{}}, nil
}

// ServeHTTP answers one metadata request as EC2's metadata service does.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "EC2ws")
	status, in := h.serve(w, r)
	h.log.Debug("imds", "method", r.Method, "path", r.URL.Path, "instance", in.ID, "status", status)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (int, Instance) {
	src, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return fail(w, http.StatusForbidden), Instance{}
	}
	in, ok := h.cfg.Instances.ByAddress(src.Addr().Unmap())
	if !ok {
		h.log.Warn("imds: request from an address no instance has", "addr", src.Addr())
		return fail(w, http.StatusForbidden), Instance{}
	}
	if in.Options.endpointOff() {
		// HttpEndpoint disabled: "403 - Forbidden ... the IMDS is turned
		// off" [instancedata-data-retrieval].
		return fail(w, http.StatusForbidden), in
	}
	path := r.URL.Path
	if r.Method == http.MethodPut {
		return h.putToken(w, r, in), in
	}
	if path == tokenPath {
		w.Header().Set("Allow", http.MethodPut)
		return fail(w, http.StatusMethodNotAllowed), in
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, PUT")
		return fail(w, http.StatusMethodNotAllowed), in
	}
	delivery := "1.0"
	if toks := r.Header.Values(tokenHeader); len(toks) > 0 {
		// A token, when sent, must be valid even where IMDSv1 is allowed.
		if len(toks) != 1 || !h.tokens.valid(toks[0], in.ID, h.cfg.Now()) {
			return fail(w, http.StatusUnauthorized), in
		}
		delivery = "2.0"
	} else if in.Options.tokensRequired() {
		return fail(w, http.StatusUnauthorized), in
	}
	return h.get(w, request{ctx: r.Context(), delivery: delivery}, in, path), in
}

// putToken is PUT /latest/api/token [instance-metadata-v2-how-it-works].
func (h *Handler) putToken(w http.ResponseWriter, r *http.Request, in Instance) int {
	if r.URL.Path != tokenPath {
		if strings.HasSuffix(r.URL.Path, "/api/token") {
			// A token is only ever asked for under latest: a versioned
			// path is refused with 403 [instancedata-data-retrieval].
			return fail(w, http.StatusForbidden)
		}
		w.Header().Set("Allow", "GET, HEAD")
		return fail(w, http.StatusMethodNotAllowed)
	}
	if len(r.Header.Values("X-Forwarded-For")) > 0 {
		// IMDSv2 does not hand a token to a request that went through a
		// proxy [instance-metadata-v2-how-it-works].
		return fail(w, http.StatusForbidden)
	}
	ttls := r.Header.Values(ttlHeader)
	if len(ttls) != 1 {
		return fail(w, http.StatusBadRequest)
	}
	ttl, err := strconv.Atoi(strings.TrimSpace(ttls[0]))
	if err != nil || ttl < 1 || ttl > maxTokenTTL {
		return fail(w, http.StatusBadRequest)
	}
	tok, err := h.tokens.issue(in.ID, h.cfg.Now(), time.Duration(ttl)*time.Second)
	if err != nil {
		h.log.Error("imds: minting a token", "err", err)
		return fail(w, http.StatusInternalServerError)
	}
	if err := setHopLimit(r.Context(), in.Options.hopLimit()); err != nil {
		h.log.Warn("imds: setting the PUT response hop limit", "err", err)
	}
	w.Header().Set(ttlHeader, strconv.Itoa(ttl))
	return text(w, []byte(tok))
}

// get serves a GET or HEAD of path.
func (h *Handler) get(w http.ResponseWriter, req request, in Instance, path string) int {
	if path == "/" {
		return text(w, []byte(lines(versions)))
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if !knownVersion(segs[0]) || slicesContainEmpty(segs) {
		return fail(w, http.StatusNotFound)
	}
	n, ok := h.tree(req, in).find(segs[0], segs[1:])
	if !ok {
		return fail(w, http.StatusNotFound)
	}
	if n.dir {
		return text(w, n.list(segs[0]))
	}
	body := n.data
	if n.gen != nil {
		var err error
		if body, err = n.gen(); err != nil {
			h.log.Error("imds: serving "+path, "instance", in.ID, "err", err)
			return fail(w, http.StatusInternalServerError)
		}
	}
	return text(w, body)
}

// slicesContainEmpty catches "//" inside a path.
func slicesContainEmpty(segs []string) bool {
	for _, s := range segs {
		if s == "" {
			return true
		}
	}
	return false
}

// credentials returns the instance's current credentials for its role,
// minting new ones when there are none or they are within
// CredentialRefresh of their expiry.
func (h *Handler) credentials(req request, in Instance) (issued, error) {
	now := h.cfg.Now()
	key := credKey{in.ID, in.Profile.Role, req.delivery}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.creds[key]; ok && now.Before(c.keys.Expiration.Add(-h.cfg.CredentialRefresh)) {
		return c, nil
	}
	for k, c := range h.creds {
		if !now.Before(c.keys.Expiration) {
			delete(h.creds, k)
		}
	}
	keys, err := h.cfg.Credentials.Issue(req.ctx, CredentialRequest{
		InstanceID: in.ID,
		ProfileARN: in.Profile.ARN,
		Role:       in.Profile.Role,
		Delivery:   req.delivery,
		Expires:    now.Add(h.cfg.CredentialLifetime),
	})
	if err != nil {
		return issued{}, fmt.Errorf("minting credentials of %s for %s: %w", in.Profile.Role, in.ID, err)
	}
	c := issued{keys: keys, updated: now}
	h.creds[key] = c
	h.log.Info("imds: credentials minted", "instance", in.ID, "role", in.Profile.Role, "keys", keys)
	return c, nil
}

// text writes an item as EC2 does: text/plain, whatever it holds.
func text(w http.ResponseWriter, body []byte) int {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) // the client went away: nothing to do
	return http.StatusOK
}

// fail writes an error the way EC2's metadata service does: a small
// XHTML page titled with the status.
func fail(w http.ResponseWriter, status int) int {
	title := fmt.Sprintf("%d - %s", status, http.StatusText(status))
	body := `<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
	"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>` + title + `</title>
 </head>
 <body>
  <h1>` + title + `</h1>
 </body>
</html>
`
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
	return status
}

type connKey struct{}

// ConnContext is for http.Server.ConnContext: it lets the handler set the
// IP TTL of its answer to a token PUT to the instance's hop limit, as EC2
// does, so that a token does not reach farther than HttpPutResponseHopLimit
// hops [instance-metadata-v2-how-it-works]. Without it the limit is not
// applied.
func (h *Handler) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}
