// Package imds is EC2's instance metadata service (IMDSv1 and IMDSv2) as
// an http.Handler, for the simulator to serve on 169.254.169.254:80
// inside the network namespace its machines live in.
//
// A request's instance is found by its source address (Instances); what
// it may read follows the instance's MetadataOptions as EC2 applies them:
//
//   - PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds
//     (1–21600) returns a session token bound to that instance, from
//     crypto/rand, kept only as a hash; a PUT carrying X-Forwarded-For is
//     refused (403), a missing or bad TTL is 400, a PUT to a versioned
//     path is 403. With Handler.ConnContext installed, the answer's IP TTL
//     is the instance's hop limit.
//   - GET and HEAD with X-aws-ec2-metadata-token: a valid token gets the
//     item, any other 401. Without one (IMDSv1): served when HttpTokens is
//     "optional", 401 when "required". HttpEndpoint "disabled": 403 for
//     everything.
//   - / lists the metadata versions; each (and latest) serves meta-data/,
//     user-data and dynamic/instance-identity/document; docs/imds.md lists
//     the items.
//   - iam/security-credentials/ROLE hands out temporary credentials that
//     Config.Credentials mints (a Keyring, which the simulator can ask
//     again by access key id), replaced before they expire.
//
// Tokens, secret keys and session tokens are never logged: Keys prints
// only its access key id.
//
// It knows nothing of the simulator's API or state (it must not import
// internal/awssim), of how instances are addressed or booted, or of
// signing requests: the simulator accepts or refuses the credentials
// handed out. Bracketed names in comments are pages of AWS's EC2 User
// Guide or API Reference (docs.aws.amazon.com/AWSEC2/latest/UserGuide/NAME.html).
package imds
