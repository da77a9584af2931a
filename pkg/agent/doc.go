// Package agent wires Ferry's stages together for one project: for each
// environment, the target from pkg/watch is planned (pkg/plan) under the
// environment's lock (pkg/lock), carried out (pkg/execute, with hooks over
// pkg/remote) and recorded (pkg/status).
//
// It is the one orchestrator: `ferry run` runs an Agent; `ferry plan`,
// `deploy`, `prepare`, `status` and `history` each call one method of a
// Project. Both build a deploy from the same parts (the watch rule, the
// plan's input, the deploy windows, the forge queues, the Deployer), so
// that the commands and the agent cannot disagree about what is deployed,
// what is wanted, or whether a deploy may start. The command line only
// parses flags and prints; it knows nothing of git or AWS.
package agent
