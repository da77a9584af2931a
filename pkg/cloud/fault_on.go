//go:build ferryfault

package cloud

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/ferry-deploy/ferry/internal/faultpoint"
)

// faultAPIOptions tells internal/faultpoint when a call returned, retries
// included, in test builds (tag ferryfault) only.
func faultAPIOptions() []func(*middleware.Stack) error {
	return []func(*middleware.Stack) error{func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("ferryfault",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				if err == nil {
					faultpoint.Called(ctx, awsmiddleware.GetOperationName(ctx))
				}
				return out, md, err
			}), middleware.Before)
	}}
}
