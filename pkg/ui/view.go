package ui

import (
	"context"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/execute"
)

// card is one environment as the page shows it.
type card struct {
	ID       string
	Env      string
	State    string
	Detail   string
	Deployed *agent.CommitInfo
	Wanted   *agent.CommitInfo
	Deploy   *deployView
	History  []agent.PastDeploy
	Logs     []agent.DeployLogs
	Errors   []string
	// Drift lists the [launch] settings the launch sources lack: no push
	// deploys them, ferry redeploy does.
	Drift []string
	// Actions are the actions the state allows, when actions are on.
	Actions []string
	// Awaiting is the commit awaiting approval, which an approve or
	// reject answers.
	Awaiting string
}

type deployView struct {
	ID          string
	Method      string
	Commit      string
	Outcome     string
	RollingBack bool
	Elapsed     string
	Steps       []stepView
	Wait        *waitView
	Timeline    *timeline
}

type stepView struct {
	N     int
	Label string
	State string // done, current, failed, todo
	Took  string
}

type waitView struct {
	For      string
	Progress string
	Elapsed  string
	Limit    string
	Started  int64 // Unix ms, for the script's ticking clock
	LimitMS  int64
	Percent  int
}

// timeline is the steps done, and the one running or the one the deploy
// stopped at, as an SVG bar chart: one row per step, its label above its
// bar, the bar placed by when the step started and sized by how long it
// took. Labels above bars keep the text legible on a phone's width.
type timeline struct {
	Width, Height int
	Rows          []timelineRow
}

type timelineRow struct {
	Y, BarY int // the row's text, its bar
	X, W    float64
	Label   string
	Took    string
	Class   string // done, current, failed
}

func (s *Server) cards(ctx context.Context) []card {
	var out []card
	for _, v := range s.src.Views() {
		c := card{ID: "env-" + v.Env, Env: v.Env, State: v.Shown(), Detail: v.Detail, Drift: v.Drift}
		c.Deployed = s.commitInfo(v.Env, v.Deployed)
		c.Wanted = s.commitInfo(v.Env, v.Target)
		if v.Deploy != nil {
			c.Deploy = newDeployView(*v.Deploy, time.Now())
		}
		var err error
		if c.History, err = s.pastDeploys(ctx, v); err != nil {
			c.Errors = append(c.Errors, "history: "+err.Error())
		}
		if c.Logs, err = s.src.Logs(v.Env); err != nil {
			c.Errors = append(c.Errors, "logs: "+err.Error())
		}
		if s.src.ActionsEnabled() {
			c.Actions = actions(v.State)
			if v.State == agent.StateAwaitingApproval {
				c.Awaiting = v.Target.String()
			}
		}
		if len(c.Logs) > 5 {
			c.Logs = c.Logs[:5]
		}
		out = append(out, c)
	}
	return out
}

func newDeployView(p execute.Progress, now time.Time) *deployView {
	d := &deployView{
		ID: p.DeployID, Method: string(p.Method), Commit: p.Commit.Short(), Outcome: string(p.Outcome),
		RollingBack: p.RollingBack,
	}
	end := now
	if !p.Ended.IsZero() {
		end = p.Ended
	}
	d.Elapsed = human(end.Sub(p.Started))
	took := map[int]time.Duration{}
	for _, st := range p.Done {
		took[st.Step] = st.Ended.Sub(st.Started)
	}
	for i, label := range p.Steps {
		sv := stepView{N: i + 1, Label: label, State: "todo"}
		if t, ok := took[i]; ok {
			sv.State, sv.Took = "done", human(t)
		} else if i == p.Current && p.Outcome == "" {
			sv.State, sv.Took = "current", human(now.Sub(p.StepStarted))
		} else if i == p.Current && p.Outcome != execute.Succeeded {
			sv.State = "failed" // the step the deploy stopped at
		}
		d.Steps = append(d.Steps, sv)
	}
	if w := p.Wait; w != nil && p.Outcome == "" {
		wv := &waitView{
			For: w.For, Progress: w.Progress, Elapsed: human(now.Sub(w.Started)), Limit: human(w.Limit),
			Started: w.Started.UnixMilli(), LimitMS: w.Limit.Milliseconds(),
		}
		if w.Limit > 0 {
			wv.Percent = min(100, int(100*now.Sub(w.Started)/w.Limit))
		}
		d.Wait = wv
	}
	d.Timeline = newTimeline(p, now)
	return d
}

func newTimeline(p execute.Progress, now time.Time) *timeline {
	type span struct {
		n          int
		name, cls  string
		start, end time.Time
	}
	var spans []span
	for _, st := range p.Done {
		spans = append(spans, span{st.Step, st.Name, "done", st.Started, st.Ended})
	}
	end := now
	if p.Outcome != "" {
		end = p.Ended
	}
	if p.Current >= 0 && p.Current < len(p.Steps) && !p.StepStarted.IsZero() && p.Outcome != execute.Succeeded {
		cls := "current"
		if p.Outcome != "" {
			cls = "failed"
		}
		spans = append(spans, span{p.Current, p.Steps[p.Current], cls, p.StepStarted, end})
	}
	if len(spans) == 0 {
		return nil
	}
	if last := spans[len(spans)-1].end; end.Before(last) {
		end = last // an ended deploy without its end time
	}
	total := end.Sub(p.Started)
	if total <= 0 {
		total = time.Millisecond
	}
	const width, row = 400, 28
	t := &timeline{Width: width, Height: row * len(spans)}
	for i, sp := range spans {
		x := width * float64(sp.start.Sub(p.Started)) / float64(total)
		w := max(2, width*float64(sp.end.Sub(sp.start))/float64(total))
		t.Rows = append(t.Rows, timelineRow{
			Y: i * row, BarY: i*row + 16, X: min(x, width-2), W: min(w, width-min(x, width-2)),
			Label: fmt.Sprintf("%d. %s", sp.n+1, sp.name), Took: human(sp.end.Sub(sp.start)), Class: sp.cls,
		})
	}
	return t
}

// human is a duration as people read it on a dashboard: "0.4 s", "40 s",
// "10 m", "2 m 5 s", "1 h 3 m"; tenths of a second under ten seconds, where
// short steps would otherwise all read "0 s".
func human(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1f s", max(d, 0).Seconds())
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
		if s == 0 {
			return fmt.Sprintf("%d m", m)
		}
		return fmt.Sprintf("%d m %d s", m, s)
	default:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d m", h, m)
	}
}

var funcs = template.FuncMap{
	"human": human,
	// stateClass names a state's CSS class: its first word.
	"stateClass": func(s string) string { first, _, _ := strings.Cut(s, " "); return first },
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	// since is how long from a to b; nothing for a record of one instant
	// (an approval).
	"since": func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() || !b.After(a) {
			return ""
		}
		return human(b.Sub(a))
	},
}

// actions are what an environment in state may be asked to do.
func actions(state string) []string {
	switch state {
	case "paused":
		return []string{agent.ActionResume}
	case "blocked":
		return []string{agent.ActionRetry, agent.ActionPause}
	case agent.StateAwaitingApproval:
		return []string{agent.ActionApprove, agent.ActionReject, agent.ActionPause}
	default:
		return []string{agent.ActionPause}
	}
}
