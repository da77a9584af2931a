package testutil

import (
	"log/slog"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim"
)

// StartSim runs an AWS simulator until the test ends, fast enough for
// tests: unless opts says otherwise, its control loop ticks every 5 ms, an
// AWS second lasts 4 ms, instances boot in 20 ms and shut down in 10 ms.
func StartSim(t testing.TB, opts awssim.Options) *awssim.Server {
	t.Helper()
	fast := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	fast(&opts.Tick, 5*time.Millisecond)
	fast(&opts.Second, 4*time.Millisecond)
	fast(&opts.BootDelay, 20*time.Millisecond)
	fast(&opts.ShutdownDelay, 10*time.Millisecond)
	srv, err := awssim.Start(opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}
