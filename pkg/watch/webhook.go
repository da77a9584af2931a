package watch

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// HookProject is one project whose remote may ping the receiver.
type HookProject struct {
	Name string
	// Secret is the HMAC key (GitHub, Gitea, generic) or the token GitLab
	// sends verbatim. Required.
	Secret []byte
	// Trigger asks for an immediate poll, e.g. (*Watcher).Trigger. It must
	// not block.
	Trigger func()
}

// HookOptions configure the webhook receiver.
type HookOptions struct {
	Projects []HookProject
	// MaxBody caps the request body; default 1 MiB. Larger requests get
	// 413 and trigger nothing.
	MaxBody int64
	Logger  *slog.Logger
}

// Signature headers the receiver understands.
const (
	headerHub     = "X-Hub-Signature-256" // GitHub, Gitea: "sha256=<hex HMAC>"
	headerGitea   = "X-Gitea-Signature"   // Gitea: "<hex HMAC>"
	headerGitLab  = "X-Gitlab-Token"      // GitLab: the secret itself
	headerGeneric = "X-Ferry-Signature"   // anything else: "sha256=<hex HMAC>"
)

// NewHookHandler returns the handler for POST /hooks/git?project=<name> (the
// name may be left out when there is one project). A request whose
// signature checks out triggers a poll of that project and gets 202; a bad
// or missing signature gets 401 and triggers nothing. The payload is never
// trusted for what changed: the poll reads the remote's refs itself.
func NewHookHandler(opts HookOptions) (http.Handler, error) {
	if len(opts.Projects) == 0 {
		return nil, fmt.Errorf("webhook: no projects: %w", ErrPermanent)
	}
	byName := map[string]HookProject{}
	for _, p := range opts.Projects {
		if len(p.Secret) == 0 || p.Trigger == nil || p.Name == "" {
			return nil, fmt.Errorf("webhook project %q needs a name, a secret and a trigger: %w", p.Name, ErrPermanent)
		}
		byName[p.Name] = p
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &hookHandler{opts: opts, projects: byName}, nil
}

type hookHandler struct {
	opts     HookOptions
	projects map[string]HookProject
}

func (h *hookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := r.URL.Query().Get("project")
	if name == "" && len(h.projects) == 1 {
		for n := range h.projects {
			name = n
		}
	}
	p, ok := h.projects[name]
	if !ok {
		http.Error(w, "unknown project; name it with ?project=", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	source, ok := verify(r.Header, body, p.Secret)
	log := h.opts.Logger.With("project", name, "source", source, "remote_addr", r.RemoteAddr)
	if !ok {
		log.Warn("webhook refused: missing or bad signature")
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	log.Info("webhook accepted; polling now")
	p.Trigger()
	w.WriteHeader(http.StatusAccepted)
}

// verify checks whichever signature the request carries and names its
// source. A request with several is judged by the first recognised.
func verify(hdr http.Header, body, secret []byte) (string, bool) {
	switch {
	case hdr.Get(headerHub) != "":
		return "github/gitea", hmacOK(strings.TrimPrefix(hdr.Get(headerHub), "sha256="), hdr.Get(headerHub), body, secret)
	case hdr.Get(headerGitea) != "":
		return "gitea", hmacOK(hdr.Get(headerGitea), "sha256="+hdr.Get(headerGitea), body, secret)
	case hdr.Get(headerGitLab) != "":
		return "gitlab", subtle.ConstantTimeCompare([]byte(hdr.Get(headerGitLab)), secret) == 1
	case hdr.Get(headerGeneric) != "":
		return "generic", hmacOK(strings.TrimPrefix(hdr.Get(headerGeneric), "sha256="), hdr.Get(headerGeneric), body, secret)
	}
	return "none", false
}

// hmacOK compares a hex HMAC-SHA256 of body; full must have had the
// "sha256=" prefix.
func hmacOK(hexSig, full string, body, secret []byte) bool {
	if !strings.HasPrefix(full, "sha256=") {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// SignBody is the "sha256=<hex>" signature of body, for senders of the
// generic form (and tests).
func SignBody(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
