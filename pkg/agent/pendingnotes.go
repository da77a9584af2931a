package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"

	"github.com/ferry-deploy/ferry/internal/jsonfile"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/status"
)

// pendingNote is a note record that could not be pushed (the remote was
// unreachable, say), kept in the state dir until it is.
type pendingNote struct {
	Commit string `json:"commit"`
	// Record is the record as the note holds it (status.Record.Format).
	Record string `json:"record"`
}

// pendingNotesPath is where an environment's unpushed records are kept.
func (d *Deployer) pendingNotesPath() string {
	return filepath.Join(d.cfg.Project.StateDir, "notes", "pending-"+d.env.Name+".json")
}

// loadPendingNotes reads the records kept. A file that does not parse (a
// torn write, an edit by hand) is set aside, FILE.unreadable-TIME, and
// reported: left in place it would make every later record unkeepable,
// since keeping one reads the file first.
func (d *Deployer) loadPendingNotes() ([]pendingNote, error) {
	path := d.pendingNotesPath()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ps []pendingNote
	if err := jsonfile.Unmarshal(path, data, &ps); err != nil {
		aside := fmt.Sprintf("%s.unreadable-%d", path, time.Now().UnixNano())
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		d.log.Error("the unpushed note records do not parse; the file is set aside and its records are not pushed", "err", err, "file", aside)
		return nil, nil
	}
	return ps, nil
}

func (d *Deployer) savePendingNotes(ps []pendingNote) error {
	if len(ps) == 0 {
		err := os.Remove(d.pendingNotesPath())
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.pendingNotesPath()), 0o750); err != nil {
		return err
	}
	data, err := json.MarshalIndent(ps, "", "  ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(d.pendingNotesPath(), data, 0o640)
}

// keepNote records a note record that could not be pushed, for
// FlushNotes to push later.
func (d *Deployer) keepNote(c commit.ID, rec status.Record) {
	ps, err := d.loadPendingNotes()
	if err == nil {
		ps = append(ps, pendingNote{Commit: c.String(), Record: rec.Format()})
		err = d.savePendingNotes(ps)
	}
	if err != nil {
		d.log.Error("could not keep the unpushed note record for later; it is lost", "commit", c, "outcome", rec.Outcome, "err", err)
		return
	}
	d.log.Warn("note record kept, to be pushed when the remote answers", "commit", c, "outcome", rec.Outcome, "file", d.pendingNotesPath())
}

// FlushNotes pushes the note records an earlier push could not, oldest
// first, and forgets those pushed. It stops at the first that fails: the
// rest wait for the next try. Pushing a record the note already holds is
// a no-op (status.Notes.Append), so a record pushed before a crash could
// forget it is not doubled.
func (d *Deployer) FlushNotes(ctx context.Context) {
	ps, err := d.loadPendingNotes()
	if err != nil {
		d.log.Error("cannot read the unpushed note records", "err", err)
		return
	}
	if len(ps) == 0 || !d.env.Status.Notes {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	n := &status.Notes{Remote: d.mirror, Ref: d.cfg.Project.Git.NotesRef, Logger: d.log}
	for len(ps) > 0 {
		c, err := commit.Parse(ps[0].Commit)
		var recs []status.Record
		if err == nil {
			recs, err = status.ParseNote(ps[0].Record)
		}
		if err == nil && len(recs) != 1 {
			err = fmt.Errorf("%d records, want 1", len(recs))
		}
		if err != nil {
			d.log.Error("dropping an unpushed note record that does not parse", "commit", ps[0].Commit, "err", err)
			ps = ps[1:]
			continue
		}
		if err := n.Append(ctx, c, recs[0]); err != nil {
			d.log.Warn("the kept note records are still not pushed; will try again", "records", len(ps), "err", err)
			break
		}
		d.log.Info("kept note record pushed", "commit", c, "outcome", recs[0].Outcome)
		ps = ps[1:]
	}
	if err := d.savePendingNotes(ps); err != nil {
		d.log.Error("cannot write the unpushed note records", "err", err)
	}
}
