//go:build !ferryfault

package cloud

import "github.com/aws/smithy-go/middleware"

// faultAPIOptions is empty in the shipped build (see fault_on.go).
func faultAPIOptions() []func(*middleware.Stack) error { return nil }
