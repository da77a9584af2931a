package config

import (
	"errors"
	"io/fs"
	"os"
)

// CheckFiles checks every file the config names, as the commands that use
// them will read them, so that a missing key or token stops Ferry before it
// writes anything (a state dir, a mirror) rather than after. A file that
// holds a secret (a private key, a token, a webhook secret, a secrets file)
// must be readable by its owner only, as OpenSSH requires of private keys:
// a group- or world-accessible one is refused, since anyone else on the
// machine may already have read it. Problems are Errors located at the key
// that names the file. CheckFiles reads the files' metadata and opens them,
// but writes nothing.
//
// It is separate from Parse, which reads only the document: a config read
// away from the machine it runs on (ferry validate --skip-files) names
// files that exist only there.
func (c *Config) CheckFiles() error {
	errs := &errorList{file: c.File}
	v := &validator{pos: c.pos, errs: errs, envs: c.Environments}
	g := keyPath{"project", "git"}
	if s := c.Project.Git.SSH; s != nil {
		v.file(g.key("ssh").key("key_file"), s.KeyFile, secretFile)
		v.file(g.key("ssh").key("known_hosts"), s.KnownHosts, optionalFile)
	}
	if h := c.Project.Git.HTTPS; h != nil {
		v.file(g.key("https").key("token_file"), h.TokenFile, secretFile)
	}
	if w := c.Project.Git.Webhook; w != nil {
		v.file(g.key("webhook").key("secret_file"), w.SecretFile, secretFile)
	}
	v.file(keyPath{"agent", "ui", "token_file"}, c.Agent.UI.TokenFile, secretFile)
	v.file(keyPath{"agent", "ui", "tls_cert_file"}, c.Agent.UI.TLSCertFile, plainFile)
	v.file(keyPath{"agent", "ui", "tls_key_file"}, c.Agent.UI.TLSKeyFile, secretFile)
	for _, name := range sortedKeys(c.Environments) {
		e := c.Environments[name]
		at := keyPath{"environments", name}
		v.file(at.key("ssh").key("key_file"), e.SSH.KeyFile, secretFile)
		// It may not exist yet: trust on first use creates it, and a
		// command that reaches no instance (plan, status) needs none. One
		// that does refuses every host of a missing file (pkg/remote).
		v.file(at.key("ssh").key("known_hosts"), e.SSH.KnownHosts, optionalFile)
		v.file(at.key("launch").key("user_data_file"), e.Launch.UserDataFile, plainFile)
		v.file(at.key("trusted_keys").key("openpgp"), e.TrustedKeys.OpenPGP, plainFile)
		v.file(at.key("trusted_keys").key("ssh_allowed_signers"), e.TrustedKeys.SSHAllowedSigners, plainFile)
		for i, f := range e.Status.Forges {
			v.file(at.key("status").key("forge").index(i).key("token_file"), f.TokenFile, secretFile)
		}
		if e.Secrets != nil {
			v.file(at.key("secrets").key("file"), e.Secrets.File, secretFile)
		}
		if e.Create != nil {
			v.file(at.key("create").key("recipes"), e.Create.Recipes, directory)
			// Installed by each bake's builder into the web and worker
			// servers' image: missing, it would fail the bake's provision
			// phase, its builder already launched.
			v.file(at.key("create").key("ferry_binary"), e.Create.FerryBinary, plainFile)
		}
	}
	for i, n := range c.Notify {
		at := keyPath{"notify"}.index(i)
		v.file(at.key("url_file"), n.URLFile, secretFile)
		v.file(at.key("secret_file"), n.SecretFile, secretFile)
	}
	return errs.err()
}

// fileKind is what CheckFiles requires of a named file.
type fileKind int

const (
	plainFile    fileKind = iota // a readable regular file
	secretFile                   // plainFile, accessible to its owner only
	optionalFile                 // plainFile when it exists
	directory                    // a readable directory
)

func (v *validator) file(at keyPath, path string, kind fileKind) {
	if path == "" {
		return
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && kind == optionalFile:
		return
	case errors.Is(err, fs.ErrNotExist):
		v.fail(at, "%s does not exist", path)
		return
	case err != nil:
		v.fail(at, "%v", err)
		return
	case kind == directory && !fi.IsDir():
		v.fail(at, "%s is not a directory", path)
		return
	case kind != directory && !fi.Mode().IsRegular():
		v.fail(at, "%s is not a regular file", path)
		return
	case kind == secretFile && fi.Size() == 0:
		v.fail(at, "%s is empty", path)
		return
	case kind == secretFile && fi.Mode().Perm()&0o077 != 0:
		// As ssh refuses a private key others can read: the secret may
		// already be known to every account on the machine.
		v.fail(at, "%s holds a secret but its permissions %04o let others on this machine read or change it; make it readable by its owner only (chmod 600 %s)",
			path, fi.Mode().Perm(), path)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		v.fail(at, "cannot be read: %v", err)
		return
	}
	_ = f.Close()
}
