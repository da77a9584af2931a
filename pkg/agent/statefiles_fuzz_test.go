package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/secrets"
	"github.com/ferry-deploy/ferry/pkg/status"
)

var controlKinds = []string{"paused", "blocked", "awaiting", "approval"}

// FuzzControlFiles feeds arbitrary files to the readers of the control
// files (<state dir>/control/{paused,blocked,awaiting,approval}-<env>.json,
// written by ferry pause, retry, approve and reject and by the agent, read
// back before each deploy and after a restart): they must never panic, an
// error must name the file, what they accept holds the commit it is about,
// and it is written and read back the same.
func FuzzControlFiles(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzControlFiles (a file of each kind), and these.
	for i := range controlKinds {
		f.Add(uint8(i), []byte(""))
		f.Add(uint8(i), []byte("{}"))
	}
	f.Add(uint8(2), []byte(`{"commit":"0123456789abcdef0123456789abcdef01234567","method":"full"}`))
	f.Add(uint8(3), []byte(`{"commit":"0123456","approved":true}`))
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		c := Control{Dir: t.TempDir()}
		k := controlKinds[int(kind)%len(controlKinds)]
		path := c.path(k, "staging")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var v any
		var err error
		switch k {
		case "paused":
			v, err = c.PausedState("staging")
		case "blocked":
			v, err = c.BlockedState("staging")
		case "awaiting":
			v, err = c.AwaitingState("staging")
		case "approval":
			v, err = c.DecisionState("staging")
		}
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		var again any
		switch s := v.(type) {
		case *Paused:
			if s == nil {
				t.Fatal("a pause file read as no pause")
			}
			err = c.Pause("staging", *s)
			again, _ = c.PausedState("staging")
		case *Blocked:
			if s == nil || s.Commit.IsZero() {
				t.Fatalf("accepted a blocked commit without its commit: %+v", s)
			}
			err = c.Block("staging", *s)
			again, _ = c.BlockedState("staging")
		case *Awaiting:
			if s == nil || s.Commit.IsZero() || s.Method == "" || s.Since.IsZero() {
				t.Fatalf("accepted a deploy awaiting approval without its commit, method or time: %+v", s)
			}
			err = c.write(path, *s)
			again, _ = c.AwaitingState("staging")
		case *Decision:
			if s == nil || s.Commit.IsZero() {
				t.Fatalf("accepted a decision without its commit: %+v", s)
			}
			err = c.write(path, *s)
			again, _ = c.DecisionState("staging")
		}
		if err != nil {
			t.Fatalf("an accepted %s file does not write: %v", k, err)
		}
		first, _ := json.Marshal(v)
		second, _ := json.Marshal(again)
		if string(first) != string(second) {
			t.Fatalf("the %s file changed through write and read:\n%s\n%s", k, first, second)
		}
	})
}

// FuzzSecretsRecord feeds arbitrary files to the reader of a secrets
// push's record (<state dir>/secrets/<env>.json, shown by ferry status and
// ferry secrets status): it must never panic, an error must name the file,
// and a record it accepts is the environment's own and holds only names
// of secrets and their versions.
func FuzzSecretsRecord(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzSecretsRecord, and these.
	f.Add([]byte(""))
	f.Add([]byte(`{"environment":"production","run_id":"r","pushed_at":"2026-11-30T12:00:00Z"}`))
	f.Add([]byte(`{"environment":"staging","run_id":"r","pushed_at":"2026-11-30T12:00:00Z","written":["DB PASSWORD=x"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := SecretsRecordPath(dir, "staging")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		rec, ok, err := LastSecretsPush(dir, "staging")
		if err != nil {
			if ok || !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file (ok=%v): %v", ok, err)
			}
			return
		}
		if !ok || rec.Environment != "staging" || rec.RunID == "" || rec.PushedAt.IsZero() {
			t.Fatalf("accepted another environment's record, or one without a run: ok=%v %+v", ok, rec)
		}
		for _, n := range rec.Written {
			if !secrets.ValidName(n) {
				t.Fatalf("accepted written name %q", n)
			}
		}
		for n, v := range rec.Versions {
			if !secrets.ValidName(n) || v < 1 {
				t.Fatalf("accepted version %d of %q", v, n)
			}
		}
	})
}

// FuzzPendingNotes feeds arbitrary files to the reader of the note records
// a push could not deliver (<state dir>/notes/pending-<env>.json, kept
// across restarts until the remote answers): it must never panic, a file
// that does not parse is set aside as it was, each record kept is either
// one FlushNotes can push
// (a full commit id and a note record that reads back as one) or one it
// drops, and the list is saved and read back the same.
func FuzzPendingNotes(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzPendingNotes, and these.
	f.Add([]byte(""))
	f.Add([]byte(`[{"commit":"0123456","record":"x"}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := &Deployer{cfg: &config.Config{Project: config.Project{StateDir: t.TempDir()}}, env: &config.Environment{Name: "staging"},
			log: slog.New(slog.DiscardHandler)}
		path := d.pendingNotesPath()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ps, err := d.loadPendingNotes()
		if err != nil {
			t.Fatalf("a file that reads: %v", err)
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			// Unreadable: set aside as it was, nothing kept.
			aside, _ := filepath.Glob(path + ".unreadable-*")
			if len(aside) != 1 || len(ps) != 0 {
				t.Fatalf("set aside as %v, with %d records kept", aside, len(ps))
			}
			if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, data) {
				t.Fatalf("the file set aside is not the file as it was")
			}
			return
		}
		for _, p := range ps {
			// What FlushNotes does with each: push it, or drop it.
			if _, err := commit.Parse(p.Commit); err != nil {
				continue
			}
			if recs, err := status.ParseNote(p.Record); err == nil && len(recs) == 1 && (recs[0].Env == "" || recs[0].Outcome == "") {
				t.Fatalf("a kept record FlushNotes would push has no env or outcome: %+v", recs[0])
			}
		}
		if err := d.savePendingNotes(ps); err != nil {
			t.Fatalf("accepted records do not save: %v", err)
		}
		again, err := d.loadPendingNotes()
		if err != nil {
			t.Fatalf("saved records do not load: %v", err)
		}
		if len(ps) == 0 {
			ps = nil // saved as no file
		}
		if !slices.Equal(ps, again) {
			t.Fatalf("the records changed through save and load:\n%+v\n%+v", ps, again)
		}
	})
}

// FuzzAct sends arbitrary actions (the dashboard's form posts them as a
// person typed or a page sent them: environment, action, commit, reason)
// to the agent, whose staging environment awaits approval of one commit:
// Act must never panic, must refuse an environment or action it does not
// know, must record an approval or rejection only of the commit awaiting
// (named in full or by 7 digits or more) and then in full, and must write
// no file but the environment's control files.
func FuzzAct(f *testing.F) {
	awaited := commit.MustParse("0123456789abcdef0123456789abcdef01234567")
	f.Add("staging", ActionApprove, awaited.String(), "ok", "0123456789abcdef-token")
	f.Add("staging", ActionReject, " 0123456 ", "no", "")
	f.Add("staging", ActionApprove, "012345", "", "0123456789abcdef-token ")
	f.Add("staging", ActionApprove, "0123456789abcdef0123456789abcdef01234568", "", "")
	f.Add("staging", ActionPause, "", "on fire", "")
	f.Add("staging", ActionResume, "", "", "")
	f.Add("staging", ActionRetry, "", "", "")
	f.Add("../staging", ActionPause, "", "", "")
	f.Add("production", ActionApprove, awaited.String(), "", "")
	f.Add("staging", "deploy", "", "", "")
	const token = "0123456789abcdef-token"
	awaitingJSON, err := json.Marshal(Awaiting{Commit: awaited, Method: plan.Full, Summary: "full deploy of web", Since: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, env, name, sha, reason, offered string) {
		dir := t.TempDir()
		a := &Agent{
			opts:    Options{Config: &config.Config{Environments: map[string]*config.Environment{"staging": {Name: "staging"}}}},
			control: Control{Dir: filepath.Join(dir, "control")},
			uiToken: []byte(token),
		}
		if a.Authorized(offered) != (offered == token) {
			t.Fatalf("Authorized(%q) = %v", offered, a.Authorized(offered))
		}
		// As Control.write would write it, without its fsync: thousands
		// of runs.
		if err := os.MkdirAll(a.control.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(a.control.path("awaiting", "staging"), awaitingJSON, 0o600); err != nil {
			t.Fatal(err)
		}
		err := a.Act(Action{Env: env, Name: name, Commit: sha, Reason: reason, By: "dashboard (127.0.0.1:1)"})

		known := []string{ActionPause, ActionResume, ActionRetry, ActionApprove, ActionReject}
		if env != "staging" || !slices.Contains(known, name) {
			if err == nil {
				t.Fatalf("Act accepted %q on environment %q", name, env)
			}
		}
		want := strings.ToLower(strings.TrimSpace(sha))
		answers := name == ActionApprove || name == ActionReject
		matches := len(want) >= 7 && strings.HasPrefix(awaited.String(), want)
		if env == "staging" && answers && (err == nil) != matches {
			t.Fatalf("%s of %q: %v", name, sha, err)
		}
		if err != nil && errors.Is(err, ErrNotAwaiting) && !strings.Contains(err.Error(), "staging") {
			t.Fatalf("error does not name the environment: %v", err)
		}
		dec, derr := a.control.DecisionState("staging")
		switch {
		case derr != nil:
			t.Fatalf("the decision written does not read: %v", derr)
		case dec != nil && (err != nil || !answers || dec.Commit != awaited || dec.Approved != (name == ActionApprove)):
			t.Fatalf("decision %+v recorded for %s of %q (err %v)", dec, name, sha, err)
		case dec == nil && err == nil && answers:
			t.Fatalf("%s of %q accepted but not recorded", name, sha)
		}
		// Only the environment's own control files, under the control dir.
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(a.control.Dir, p)
			if !slices.Contains([]string{"awaiting-staging.json", "approval-staging.json", "paused-staging.json"}, rel) {
				t.Fatalf("Act wrote %s", p)
			}
			return nil
		})
	})
}

// TestUnreadablePendingNotesAreSetAside: a kept-notes file that does not
// parse no longer loses every later record: it is set aside and the next
// record is kept.
func TestUnreadablePendingNotesAreSetAside(t *testing.T) {
	d := &Deployer{cfg: &config.Config{Project: config.Project{StateDir: t.TempDir()}}, env: &config.Environment{Name: "staging"},
		log: slog.New(slog.DiscardHandler)}
	path := d.pendingNotesPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`[{"commit":"0123`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := commit.MustParse("0123456789abcdef0123456789abcdef01234567")
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	d.keepNote(c, status.Record{Env: "staging", Method: "full", Outcome: status.Succeeded, Started: at, Ended: at.Add(time.Minute)})
	ps, err := d.loadPendingNotes()
	if err != nil || len(ps) != 1 || ps[0].Commit != c.String() {
		t.Fatalf("kept after an unreadable file: %+v, %v", ps, err)
	}
	if aside, _ := filepath.Glob(path + ".unreadable-*"); len(aside) != 1 {
		t.Errorf("the unreadable file set aside as %v", aside)
	}
}
