package awssim

import (
	"encoding/json"
	"net/http"
	"time"
)

// serveAdmin answers the simulator's own endpoints, for a simulator run as
// its own process:
//
//	GET  /_awssim/counts       request counts per action (JSON)
//	POST /_awssim/counts/reset zero them
//	GET  /_awssim/calls?since=T the latest requests received after T
//	                           (RFC 3339, nanoseconds; default all), JSON
//	GET  /_awssim/balancers    balancer listener URLs (JSON)
//	POST /_awssim/faults       set one Fault (JSON body)
//	POST /_awssim/faults/clear remove every fault
//	POST /_awssim/never-healthy {"image":"ami-…"} or {"instance":"i-…"},
//	                           with "never":false to undo
func (s *Sim) serveAdmin(w http.ResponseWriter, r *http.Request) {
	writeJSON := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.URL.Path == "/_awssim/counts" && r.Method == http.MethodGet:
		writeJSON(s.Counts())
	case r.URL.Path == "/_awssim/counts/reset" && r.Method == http.MethodPost:
		s.ResetCounts()
		writeJSON(map[string]bool{"ok": true})
	case r.URL.Path == "/_awssim/calls" && r.Method == http.MethodGet:
		var since time.Time
		if v := r.URL.Query().Get("since"); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				http.Error(w, "since: "+err.Error(), http.StatusBadRequest)
				return
			}
			since = t
		}
		writeJSON(s.Calls(since))
	case r.URL.Path == "/_awssim/balancers" && r.Method == http.MethodGet:
		s.mu.Lock()
		out := map[string]string{}
		for k, p := range s.proxies {
			out[k] = p.url
		}
		s.mu.Unlock()
		writeJSON(out)
	case r.URL.Path == "/_awssim/faults" && r.Method == http.MethodPost:
		var f Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.SetFault(f)
		writeJSON(map[string]bool{"ok": true})
	case r.URL.Path == "/_awssim/never-healthy" && r.Method == http.MethodPost:
		var req struct {
			Image    string `json:"image"`
			Instance string `json:"instance"`
			Never    *bool  `json:"never"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		never := req.Never == nil || *req.Never
		switch {
		case req.Image != "" && req.Instance == "":
			s.SetNeverHealthyImage(req.Image, never)
		case req.Instance != "" && req.Image == "":
			if !s.SetInstanceNeverHealthy(req.Instance, never) {
				http.Error(w, "no instance "+req.Instance, http.StatusNotFound)
				return
			}
		default:
			http.Error(w, `give one of "image" or "instance"`, http.StatusBadRequest)
			return
		}
		writeJSON(map[string]bool{"ok": true})
	case r.URL.Path == "/_awssim/faults/clear" && r.Method == http.MethodPost:
		s.ClearFaults()
		writeJSON(map[string]bool{"ok": true})
	default:
		http.NotFound(w, r)
	}
}
