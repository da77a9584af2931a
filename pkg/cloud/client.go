package cloud

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go/logging"
)

// Options locate an account and region and tune retries.
type Options struct {
	Region string
	// RegionFromIMDS, with Region empty, asks the instance metadata
	// service for the region (a program running on an instance, such as
	// `ferry secrets fetch`).
	RegionFromIMDS bool
	// Endpoint, when set, replaces every service's endpoint (the
	// simulator). Empty leaves the SDK's: AWS_ENDPOINT_URL,
	// AWS_ENDPOINT_URL_<SERVICE>, a profile's endpoint_url, else AWS's.
	Endpoint string
	// Profile selects a shared-config profile; empty uses the default chain.
	Profile string
	// Credentials overrides the default chain (tests, the demo).
	Credentials aws.CredentialsProvider
	// MaxAttempts bounds each call's attempts, throttling included.
	// Zero means DefaultMaxAttempts.
	MaxAttempts int
	// MaxBackoff caps the wait between two attempts. Zero means
	// DefaultMaxBackoff.
	MaxBackoff time.Duration
	// HTTPClient overrides the SDK's HTTP client.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Retry defaults: AWS advises exponential backoff on throttling; fourteen
// attempts from 10 ms (see newRetryer), doubling to at most 20 s each,
// ride out half a minute to a minute of "Rate exceeded" without stalling a
// deploy for minutes on a call that will never succeed.
const (
	DefaultMaxAttempts = 14
	DefaultMaxBackoff  = 20 * time.Second
)

// Client reaches one account and region.
type Client struct {
	asg   *autoscaling.Client
	ec2   *ec2.Client
	elb   *elb.Client
	elbv2 *elbv2.Client
	ssm   *ssm.Client
	log   *slog.Logger
}

// New loads the AWS configuration and builds the service clients.
func New(ctx context.Context, opts Options) (*Client, error) {
	if opts.Region == "" && !opts.RegionFromIMDS {
		return nil, fmt.Errorf("cloud: a region is required")
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	region := awsconfig.WithRegion(opts.Region)
	if opts.Region == "" {
		region = awsconfig.WithEC2IMDSRegion()
	}
	loadOpts := []func(*awsconfig.LoadOptions) error{
		region,
		// The SDK's own warnings go to Ferry's log, not to stderr.
		awsconfig.WithLogger(logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
			level := slog.LevelDebug
			if c == logging.Warn {
				level = slog.LevelWarn
			}
			log.Log(context.Background(), level, "aws-sdk-go-v2: "+fmt.Sprintf(format, v...))
		})),
		awsconfig.WithRetryer(func() aws.Retryer { return newRetryer(opts.MaxAttempts, opts.MaxBackoff) }),
	}
	if opts.Profile != "" {
		loadOpts = append(loadOpts, awsconfig.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Credentials != nil {
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(opts.Credentials))
	}
	if opts.HTTPClient != nil {
		loadOpts = append(loadOpts, awsconfig.WithHTTPClient(opts.HTTPClient))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("cloud: load AWS configuration: %w", err)
	}
	// After loading: the loader configures its own client (a CA bundle,
	// say) only when it can reach its transport options.
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = ownBody{next: cfg.HTTPClient}
	cfg.APIOptions = append(cfg.APIOptions, faultAPIOptions()...)
	// Endpoint, when given, wins; otherwise the SDK's own sources stand:
	// AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE> and the shared config's
	// endpoint_url, read by LoadDefaultConfig and NewFromConfig. Setting
	// BaseEndpoint to nil would discard them.
	endpoint := func(base **string) {
		if opts.Endpoint != "" {
			*base = aws.String(opts.Endpoint)
		}
	}
	return &Client{
		asg:   autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { endpoint(&o.BaseEndpoint) }),
		ec2:   ec2.NewFromConfig(cfg, func(o *ec2.Options) { endpoint(&o.BaseEndpoint) }),
		elb:   elb.NewFromConfig(cfg, func(o *elb.Options) { endpoint(&o.BaseEndpoint) }),
		elbv2: elbv2.NewFromConfig(cfg, func(o *elbv2.Options) { endpoint(&o.BaseEndpoint) }),
		ssm:   ssm.NewFromConfig(cfg, func(o *ssm.Options) { endpoint(&o.BaseEndpoint) }),
		log:   log,
	}, nil
}
