package awssim

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// AWSConfig returns an aws.Config for the simulator: its endpoint, its
// region and static credentials (which it does not check). Clients made
// from it keep the SDK's default retryer; tests that want fewer or faster
// retries set Retryer or RetryMaxAttempts.
func (srv *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       srv.opts.Region,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDAWSSIMULATOR", "awssim-accepts-any-secret", ""),
	}
}
