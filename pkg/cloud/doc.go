// Package cloud is Ferry's only door to AWS: thin wrappers over the
// aws-sdk-go-v2 clients for Auto Scaling, EC2, Classic ELB, ELBv2 and SSM
// Parameter Store (the environments' secrets).
//
// It handles what every caller would otherwise repeat: credentials from the
// SDK's default chain (environment, shared config, IMDSv2 on the bastion),
// an optional endpoint override (the simulator), retries of throttled
// and failed calls (patient for calls that change something, none for a
// poll's: Poll), pagination, and typed errors. It reads a group's whole state in
// a few calls (Group) and knows nothing of deploy policy: which instances to
// replace, and when, is pkg/plan's and pkg/execute's business.
package cloud
