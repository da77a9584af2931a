// Package config reads and validates a Ferry project file: one TOML document
// with a [project] table (the git repository and how to reach it) and one
// [environments.NAME] table per environment (what triggers it, where it runs
// on AWS, and the policy of its deploys).
//
// Decoding is strict: an unknown key, a value of the wrong type, a missing
// required value or an inconsistent setting is an error that names the file,
// line and key, and every error in the file is reported at once, not only
// the first. Defaults live in defaults.go and nowhere else; docs/configuration.md
// lists them for operators.
//
// Secrets never appear in the file itself: tokens are read from a file or an
// environment variable named in the config, and a key such as "token" or
// "password" is refused with that advice.
package config
