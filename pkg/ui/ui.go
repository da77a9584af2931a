package ui

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/commit"
)

//go:embed assets
var assets embed.FS

// Source is what the page reads: the agent's own state.
type Source interface {
	Views() []agent.EnvView
	Changed() <-chan struct{}
	Commit(env string, c commit.ID) (agent.CommitInfo, error)
	History(ctx context.Context, env string, limit int) ([]agent.PastDeploy, error)
	Logs(env string) ([]agent.DeployLogs, error)
	Log(env, deployID, file string) ([]byte, error)
	// ActionsEnabled, Authorized and Act serve the actions (pause,
	// resume, retry, approve, reject): offered only when enabled, done
	// only with the token.
	ActionsEnabled() bool
	Authorized(token string) bool
	Act(agent.Action) error
}

// Options configure the page.
type Options struct {
	Logger *slog.Logger
	// Refresh is how often the page reloads itself with JavaScript off;
	// default 5 s.
	Refresh time.Duration
	// MinInterval spaces the events of one stream: changes closer than it
	// fold into one event. Default 200 ms.
	MinInterval time.Duration
	// HistoryLimit is how many past deploys a card shows; default 10.
	HistoryLimit int
}

// Server serves the dashboard.
type Server struct {
	src  Source
	opts Options
	log  *slog.Logger
	tmpl *template.Template
	mux  *http.ServeMux

	mu      sync.Mutex
	commits map[commit.ID]agent.CommitInfo
	history map[string]historyEntry
}

type historyEntry struct {
	key  string
	rows []agent.PastDeploy
	err  error
}

// New returns the dashboard's handler.
func New(src Source, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Second
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = 200 * time.Millisecond
	}
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = 10
	}
	s := &Server{
		src: src, opts: opts, log: opts.Logger,
		commits: map[commit.ID]agent.CommitInfo{}, history: map[string]historyEntry{},
	}
	s.tmpl = template.Must(template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html"))
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.page)
	s.mux.HandleFunc("GET /events", s.events)
	s.mux.HandleFunc("GET /logs/{env}/{deploy}/{file}", s.logFile)
	s.mux.HandleFunc("GET /actions/{env}", s.actionsPage)
	s.mux.HandleFunc("POST /actions/{env}/{action}", s.act)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Nothing but the agent itself: no outside asset, no frame around the
	// page (its buttons act), no form posting elsewhere.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	s.render(w, s.cards(r.Context()), false)
}

// actionsPage is one card with its actions' form and no refresh: where
// the page without JavaScript, which refreshes itself and would wipe a
// token being typed, links to.
func (s *Server) actionsPage(w http.ResponseWriter, r *http.Request) {
	if !s.src.ActionsEnabled() {
		s.errorPage(w, http.StatusNotFound, "actions are off: set [agent.ui] token_file")
		return
	}
	env := r.PathValue("env")
	for _, c := range s.cards(r.Context()) {
		if c.Env == env {
			s.render(w, []card{c}, true)
			return
		}
	}
	s.errorPage(w, http.StatusNotFound, fmt.Sprintf("no environment %q", env))
}

func (s *Server) render(w http.ResponseWriter, cards []card, single bool) {
	data := struct {
		Refresh int
		Single  bool
		Cards   []card
		Now     time.Time
	}{Refresh: int(s.opts.Refresh.Seconds()), Single: single, Cards: cards, Now: time.Now()}
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, "page.html", data); err != nil {
		s.log.Error("dashboard: render", "err", err)
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// events streams each card whose HTML changed, as the agent's state
// changes: one event per changed card, changes closer than MinInterval
// folded into one.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	ctx := r.Context()
	sent := map[string]string{}
	for {
		changed := s.src.Changed()
		for _, c := range s.cards(ctx) {
			html, err := s.renderCard(c)
			if err != nil {
				s.log.Error("dashboard: render", "err", err)
				return
			}
			if sent[c.ID] == html {
				continue
			}
			sent[c.ID] = html
			var ev strings.Builder
			ev.WriteString("event: card\n")
			for line := range strings.SplitSeq(html, "\n") {
				ev.WriteString("data: " + line + "\n")
			}
			ev.WriteString("\n")
			if _, err := w.Write([]byte(ev.String())); err != nil {
				return
			}
		}
		flusher.Flush()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.MinInterval):
		}
	}
}

func (s *Server) renderCard(c card) (string, error) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, "card", c); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func (s *Server) logFile(w http.ResponseWriter, r *http.Request) {
	env, id, file := r.PathValue("env"), r.PathValue("deploy"), r.PathValue("file")
	body, err := s.src.Log(env, id, file)
	if err != nil {
		http.Error(w, fmt.Sprintf("no such log: %s/%s/%s", env, id, file), http.StatusNotFound)
		return
	}
	data := struct{ Env, DeployID, File, Body string }{env, id, file, string(body)}
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, "log.html", data); err != nil {
		s.log.Error("dashboard: render", "err", err)
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// commitInfo describes c, once per commit: a commit never changes.
func (s *Server) commitInfo(env string, c commit.ID) *agent.CommitInfo {
	if c.IsZero() {
		return nil
	}
	s.mu.Lock()
	info, ok := s.commits[c]
	s.mu.Unlock()
	if ok {
		return &info
	}
	info, err := s.src.Commit(env, c)
	if err != nil {
		s.log.Debug("dashboard: commit", "commit", c, "err", err)
		info.Subject = "(not in the mirror yet)"
		return &info
	}
	s.mu.Lock()
	s.commits[c] = info
	s.mu.Unlock()
	return &info
}

// pastDeploys reads env's history from the notes again only when the
// environment's state moved (a deploy ended, a new target): reading the
// notes fetches them from the remote.
func (s *Server) pastDeploys(ctx context.Context, v agent.EnvView) ([]agent.PastDeploy, error) {
	key := fmt.Sprintf("%s|%s|%s|%s", v.State, v.Target, v.Deployed, v.Detail)
	if v.Deploy != nil {
		key += "|" + string(v.Deploy.Outcome) + v.Deploy.DeployID
	}
	s.mu.Lock()
	e, ok := s.history[v.Env]
	s.mu.Unlock()
	if ok && e.key == key {
		return e.rows, e.err
	}
	rows, err := s.src.History(ctx, v.Env, s.opts.HistoryLimit)
	if ctx.Err() != nil {
		return rows, err
	}
	s.mu.Lock()
	s.history[v.Env] = historyEntry{key: key, rows: rows, err: err}
	s.mu.Unlock()
	return rows, err
}

// act carries out an action posted from a card's form: only when actions
// are on, only with the token (the form's token field, or an
// Authorization: Bearer header), and then back to the page. An approve or
// reject carries the commit the card showed awaiting (the form's commit
// field) and may carry a reason.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	if !s.src.ActionsEnabled() {
		s.errorPage(w, http.StatusNotFound, "actions are off: set [agent.ui] token_file")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	token := r.PostFormValue("token")
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = bearer
	}
	if !s.src.Authorized(token) {
		s.log.Warn("dashboard: action refused: wrong or missing token", "env", r.PathValue("env"), "action", r.PathValue("action"), "remote", r.RemoteAddr)
		s.errorPage(w, http.StatusForbidden, "wrong or missing token")
		return
	}
	act := agent.Action{
		Env: r.PathValue("env"), Name: r.PathValue("action"),
		Commit: r.PostFormValue("commit"), Reason: strings.TrimSpace(r.PostFormValue("reason")),
		By: "dashboard (" + r.RemoteAddr + ")",
	}
	if err := s.src.Act(act); err != nil {
		s.log.Warn("dashboard: action failed", "env", act.Env, "action", act.Name, "remote", r.RemoteAddr, "err", err)
		s.errorPage(w, http.StatusBadRequest, fmt.Sprintf("%s %s: %v", act.Name, act.Env, err))
		return
	}
	s.log.Info("dashboard: action", "env", act.Env, "action", act.Name, "commit", act.Commit, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// errorPage says what went wrong, with the way back to the dashboard.
func (s *Server) errorPage(w http.ResponseWriter, code int, msg string) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, "error.html", msg); err != nil {
		s.log.Error("dashboard: render", "err", err)
		http.Error(w, msg, code)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
