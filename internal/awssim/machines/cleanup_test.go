package machines_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

const helperEnv = "FERRY_MACHINES_TEST_HELPER_STATE"

// TestHelperHost is not a test: TestStaleHostIsCleanedUp runs the test
// binary as a process that boots a machine, says so, and waits to be
// killed.
func TestHelperHost(t *testing.T) {
	state := os.Getenv(helperEnv)
	if state == "" {
		t.Skip("helper process only")
	}
	_, base := baseImage(t)
	h, err := machines.Open(context.Background(), machines.Options{StateDir: state, Logger: testLogger(t), TransientSnapshots: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.Boot(context.Background(), machines.Spec{Name: "i-0stale", Image: base.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WaitRunning(context.Background()); err != nil {
		t.Fatal(err)
	}
	// An image of the machine, as a simulator without a state file makes.
	if _, err := m.Snapshot(context.Background(), h.Network().Name()+"-ami-0stale"); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("READY " + h.Network().Name() + " " + strconv.Itoa(m.PID()) + "\n")
	select {} // until SIGKILL
}

func TestStaleHostIsCleanedUp(t *testing.T) {
	store, base := baseImage(t)
	state := t.TempDir()
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperHost$", "-test.v")
	helper.Env = append(os.Environ(), helperEnv+"="+state)
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	helper.Stderr = t.Output()
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var name string
	var pid int
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "READY" {
			name = f[1]
			pid, _ = strconv.Atoi(f[2])
			break
		}
	}
	if name == "" {
		_ = helper.Process.Kill()
		t.Fatalf("helper never booted its machine: %v", helper.Wait())
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait() // killed: its error is the kill

	// The next Host on the same state directory cleans up.
	h, err := machines.Open(t.Context(), machines.Options{StateDir: state, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if _, err := os.Stat(filepath.Join("/run/netns", name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s left: %v", name, err)
	}
	if _, err := os.Stat(filepath.Join(state, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory of %s left: %v", name, err)
	}
	if _, err := os.Stat(filepath.Join("/run/ferry", name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run directory of %s left: %v", name, err)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), filepath.Join(state, name)) {
		t.Errorf("a mount of %s is left", name)
	}
	// The killed Host's transient image is gone from the store; the base
	// image stays.
	if l, err := store.Layer(name + "-ami-0stale"); !errors.Is(err, machines.ErrNoLayer) {
		t.Errorf("the killed Host's snapshot layer is left: %+v, %v", l, err)
	}
	if _, err := store.Layer(base.ID); err != nil {
		t.Errorf("the base image's layer: %v", err)
	}
	// nspawn is gone, or going: killed by the cleanup, it is reaped by
	// init, so wait for that rather than for a time.
	for syscall.Kill(pid, 0) == nil {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); strings.Contains(string(b), ") Z ") {
			break // a zombie waiting for init: dead
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("nspawn (pid %d) still running", pid)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
