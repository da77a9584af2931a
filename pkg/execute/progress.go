package execute

import (
	"slices"
	"time"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// Progress is where a running deploy is: the step it runs, the steps it
// has done and how long each took, and the wait it is in. The executor
// keeps it as it goes and hands a copy to Executor.Observe at each change,
// so that whoever shows a deploy (the agent's page) reads it rather than
// recomputing it from logs.
type Progress struct {
	DeployID string      `json:"deploy_id"`
	Env      string      `json:"env"`
	Commit   commit.ID   `json:"commit"`
	Method   plan.Method `json:"method"`
	Started  time.Time   `json:"started"`
	// Steps names each step of the plan ("wait-healthy web").
	Steps []string `json:"steps"`
	// Current is the index of the step running; len(Steps) once every
	// step is done.
	Current     int       `json:"current"`
	StepStarted time.Time `json:"step_started"`
	// Done holds the steps finished, in order, with their times.
	Done []StepTime `json:"done,omitempty"`
	// Wait is the wait the current step is in, if any.
	Wait *Wait `json:"wait,omitempty"`
	// RollingBack is set once the deploy rolls back.
	RollingBack bool `json:"rolling_back,omitempty"`
	// Outcome and Ended are set when the deploy has ended.
	Outcome Outcome   `json:"outcome,omitempty"`
	Ended   time.Time `json:"ended,omitzero"`
}

// StepTime is one finished step.
type StepTime struct {
	Step    int       `json:"step"`
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
}

// Wait is a wait's progress: "healthy 2/4" since Started, of Limit.
type Wait struct {
	For      string        `json:"for"`
	Progress string        `json:"progress"`
	Started  time.Time     `json:"started"`
	Limit    time.Duration `json:"limit"`
}

// clone returns a copy that shares nothing with p.
func (p *Progress) clone() Progress {
	c := *p
	c.Steps = slices.Clone(p.Steps)
	c.Done = slices.Clone(p.Done)
	if p.Wait != nil {
		w := *p.Wait
		c.Wait = &w
	}
	return c
}

// StepLabel is how a step is named to people: its name and its group.
func StepLabel(s plan.Step) string {
	if s.Group == "" {
		return string(s.Name)
	}
	return string(s.Name) + " " + s.Group
}

// observe starts a deploy's progress (once) and hands a copy of it, as
// change leaves it, to Observe.
func (e *Executor) observe(j *Journal, change func(p *Progress)) {
	if e.Observe == nil {
		return
	}
	if e.progress == nil {
		p := &Progress{
			DeployID: j.DeployID, Env: j.Plan.Environment, Commit: j.Plan.Target.Commit,
			Method: j.Plan.Method, Started: j.Started, Current: j.Next, StepStarted: e.now(),
		}
		for _, s := range j.Plan.Steps {
			p.Steps = append(p.Steps, StepLabel(s))
		}
		e.progress = p
	}
	change(e.progress)
	e.Observe(e.progress.clone())
}

func (e *Executor) stepStarted(j *Journal) {
	e.observe(j, func(p *Progress) { p.Current, p.StepStarted, p.Wait = j.Next, e.now(), nil })
}

func (e *Executor) stepDone(j *Journal, i int) {
	e.observe(j, func(p *Progress) {
		now := e.now()
		p.Done = append(p.Done, StepTime{Step: i, Name: p.Steps[i], Started: p.StepStarted, Ended: now})
		// The next step is the current one from now: no moment shows
		// none.
		p.Current, p.StepStarted, p.Wait = i+1, now, nil
	})
}

// waiting reports a wait's progress when it changes.
func (e *Executor) waiting(w Wait) {
	if e.running == nil || e.progress != nil && e.progress.Wait != nil && *e.progress.Wait == w {
		return
	}
	e.observe(e.running, func(p *Progress) { p.Wait = &w })
}

func (e *Executor) rollingBack(j *Journal) {
	e.observe(j, func(p *Progress) { p.RollingBack, p.Wait = true, nil })
}

func (e *Executor) ended(j *Journal, o Outcome) {
	e.observe(j, func(p *Progress) { p.Outcome, p.Ended, p.Wait = o, e.now(), nil })
}
