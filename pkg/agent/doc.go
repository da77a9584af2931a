// Package agent wires Ferry's stages together for one project: for each
// environment, the target from pkg/watch is planned (pkg/plan) under the
// environment's lock (pkg/lock), carried out (pkg/execute, with hooks over
// pkg/remote) and recorded (pkg/status). `ferry deploy` runs one deploy
// through it; `ferry run` runs it as a long-lived agent.
package agent
