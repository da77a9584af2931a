package awssim

import (
	"flag"
	"io"
	"testing"
	"time"
)

// The flags of `ferry sim` land in Options.
func TestFlags_RegisterFlags(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.RegisterFlags(fs)
	if err := fs.Parse([]string{"--listen", "127.0.0.1:4566", "--state", "/tmp/x.json", "--second", "100ms", "--app", "none"}); err != nil {
		t.Fatal(err)
	}
	if o.Listen != "127.0.0.1:4566" || o.StateFile != "/tmp/x.json" || o.Second != 100*time.Millisecond || o.App != nil {
		t.Errorf("options %+v", o)
	}
	if o.BootDelay != 20*time.Second {
		t.Errorf("default boot delay %v", o.BootDelay)
	}
	if err := fs.Parse([]string{"--app", "rocket"}); err == nil {
		t.Errorf("unknown app accepted")
	}
}
