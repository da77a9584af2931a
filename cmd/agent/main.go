// Command ferry is Ferry's agent and command-line tool: a pull-based GitOps
// deploy agent that watches a git repository and rolls new commits out to
// EC2 Auto Scaling groups behind load balancers.
//
// The package only parses flags, wires packages together and maps outcomes
// to exit codes; everything else lives under pkg/.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
