// Package awssim is a wire-compatible simulator of the AWS APIs Ferry
// uses — EC2, Auto Scaling, Elastic Load Balancing (Classic), ELBv2 and SSM
// Parameter Store — with a real Auto Scaling control loop, so that Ferry's tests, benchmarks
// and demo run against something that behaves like AWS without an AWS
// account.
//
// It is reached through the real aws-sdk-go-v2 clients over HTTP: point
// their BaseEndpoint (or AWS_ENDPOINT_URL) at Server.URL, with any static
// credentials and region us-east-1. Requests are routed by their Version
// (EC2 2016-11-15 in ec2Query; Auto Scaling 2011-01-01, ELB 2012-06-01 and
// ELBv2 2015-12-01 in awsQuery) and answered in each protocol's XML, or by
// their X-Amz-Target (SSM, AmazonSSM.* in awsJson 1.1), with AWS's error
// codes and HTTP statuses, so the SDK's typed errors and retry
// classification work unchanged.
//
// # In a test
//
//	srv, err := awssim.Start(awssim.Options{
//		Tick: 5 * time.Millisecond, Second: 10 * time.Millisecond,
//		BootDelay: 50 * time.Millisecond,
//		App: func(ctx context.Context, inst awssim.Instance) (http.Handler, error) { ... },
//	}, logger)
//	defer srv.Close()
//	cfg := srv.AWSConfig() // BaseEndpoint, region, static credentials
//
// Every delay is configurable (Options.BootDelay, ImageBuildTime,
// ShutdownDelay) and every API duration in seconds — health-check Interval
// and Timeout, HealthCheckGracePeriod, deregistration delay — lasts
// Options.Second, so a test runs in seconds while the demo looks like AWS.
//
// # As its own process
//
// `ferry sim --listen ADDR [--state FILE]` calls Run with Options.Listen and
// Options.StateFile. With a state file the account (instances, images,
// templates, groups, balancers) is written atomically while it runs and read
// back at start, so the simulated account outlives both the agent and the
// simulator. GET /_awssim/counts, GET /_awssim/calls, GET
// /_awssim/balancers and POST /_awssim/faults serve the counters, the
// latest requests with their times, the balancer URLs and fault injection
// to other processes.
//
// # Real instances on loopback
//
// Each instance gets its own address in 127.0.0.0/8 (from 127.1.0.1 up).
// With Options.App set, a running instance serves the app's handler on that
// address (on a free port, whatever port the balancer's health check names),
// started when the instance enters running and stopped when it terminates.
// Balancer health checks are then real HTTP GETs of the configured path;
// each Classic ELB and each target group also gets a real HTTP listener
// (LoadBalancerURL, TargetGroupURL) that forwards each request, without
// retrying, to one InService/healthy registered instance.
//
// # Instances that are Debian machines
//
// With Options.Machines (`ferry sim --machines`) the simulator's backend
// (backend.go) makes every instance a Debian machine instead: booted with
// systemd-nspawn from its image's filesystem layers (internal/awssim/machines)
// at its PrivateIpAddress in the default VPC (one /20 per zone) on a
// network namespace of Ferry's own, with its key pair in admin's
// authorized_keys, its user data run by cloud-init and its console in
// GetConsoleOutput. CreateImage snapshots the machine into a layer;
// balancers check and forward to its real ports through the namespace
// (MachineNetwork). Close powers every machine off and removes what it
// made but the images.
//
// # Faults
//
// SetFault makes an action, a whole service or every call throttle
// (RequestLimitExceeded / Throttling, at a random rate or beyond a token
// bucket), fail with a 5xx or any AWS error code, or answer late; SetCapacityErrors fails launches with
// InsufficientInstanceCapacity; SetEventualConsistency hides new instances
// from DescribeInstances and DescribeInstanceHealth, and new launch
// template versions from reads and launches, for a while;
// SetNeverHealthyImage and SetInstanceNeverHealthy make instances fail every
// health check. Counts reports the requests per action.
//
// The package imports no other Ferry package; production code must not
// import it.
package awssim
