//go:build !unix

package imds

import "context"

// setHopLimit does nothing where there are no Unix sockets.
func setHopLimit(context.Context, int) error { return nil }
