package forge_test

import (
	"context"
	"log/slog"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/status/forge"
)

// The agent wires one Reporter and Queue per forge entry; the executor
// only ever calls Set, which returns at once.
func Example() {
	ctx := context.Background()
	entry := config.Forge{
		Provider:   config.ForgeGitHub,
		Repository: "ferry-deploy/website",
		TokenEnv:   "FERRY_GITHUB_TOKEN",
		Context:    "ferry/production",
		TargetURL:  "https://ferry.example.com/deploys/{deploy}",
	}
	counters := new(forge.Counters) // read by the agent's metrics
	r, err := forge.New(entry, forge.Options{Logger: slog.Default(), Counters: counters, UserAgent: "ferry/1.0"})
	if err != nil {
		slog.Error("forge status disabled", "err", err) // e.g. the token is missing
		return
	}
	q := forge.NewQueue(r, forge.QueueOptions{Logger: slog.Default(), Counters: counters})
	go q.Run(ctx)

	target := commit.MustParse("6dcb09b5b57875f334f61aebed695e2e4193db5e") // from the watcher
	q.Set(ctx, forge.Status{Commit: target, State: forge.StatePending, Description: "Deploying (serial) to production", Ref: "v1.4.0", DeployID: "production-42"})
	// ... the deploy ...
	q.Set(ctx, forge.Status{Commit: target, State: forge.StateFailure, Description: "Rolled back: web-3 never turned healthy", Ref: "v1.4.0", DeployID: "production-42"})
}
