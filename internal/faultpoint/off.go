//go:build !ferryfault

package faultpoint

import "context"

// Enabled reports whether this build has the fault hook.
const Enabled = false

// Step returns ctx unchanged: without the hook no step is tracked.
func Step(ctx context.Context, _ int) context.Context { return ctx }

// Phases returns ctx unchanged: without the hook no phase is tracked.
func Phases(ctx context.Context) context.Context { return ctx }

// Enter does nothing without the hook.
func Enter(context.Context, string) {}

// Reached does nothing without the hook.
func Reached(context.Context, Where) {}

// Called does nothing without the hook.
func Called(context.Context, string) {}
