package benchproc

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main is a benchmark command's main: the command line parsed by parse
// (exit 64 when it is wrong), then run until it returns or SIGINT/SIGTERM
// cancels its context (exit 1 on error). Messages are prefixed with name.
func Main[O any](name string, parse func(args []string) (O, error), run func(context.Context, O) error) {
	o, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(64)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
