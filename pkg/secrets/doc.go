// Package secrets reads an environment's secrets from its sources: a
// dotenv file on the bastion (KEY=value lines, readable by Ferry's user
// only) and/or a path in SSM Parameter Store, as [environments.NAME.secrets]
// names them.
//
// A secret's value never leaves this package in an error or a log: parse
// errors name the file and line, SSM errors the parameter. Callers that
// write anything derived from a Set (logs, notes, statuses) use Names, and
// Values only to redact.
package secrets
