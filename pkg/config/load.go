package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/BurntSushi/toml"
)

// Load reads, decodes and validates the config file at path. The error, if
// any, is an Errors listing every problem found.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a config document; name is the file name
// errors carry and the base of relative paths inside it.
func Parse(name string, data []byte) (*Config, error) {
	errs := &errorList{file: name}

	var generic map[string]any
	if _, err := toml.Decode(string(data), &generic); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			// A syntax error hides everything after it: report it alone.
			errs.list = append(errs.list, &Error{File: name, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message})
			return nil, errs.err()
		}
		errs.list = append(errs.list, &Error{File: name, Msg: err.Error()})
		return nil, errs.err()
	}

	pos := indexPositions(string(data))
	cfg := defaultConfig()
	d := &decoder{pos: pos, errs: errs}
	d.decode(nil, generic, reflect.ValueOf(cfg).Elem())
	cfg.File = name
	cfg.pos = pos
	cfg.finish()
	cfg.resolvePaths(filepath.Dir(name))

	validate(cfg, pos, errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// resolvePaths makes the file paths in the config absolute against dir, the
// config file's directory, so that the agent's working directory does not
// change what they mean.
func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Project.StateDir)
	if s := c.Project.Git.SSH; s != nil {
		abs(&s.KeyFile)
		abs(&s.KnownHosts)
	}
	if h := c.Project.Git.HTTPS; h != nil {
		abs(&h.TokenFile)
	}
	if w := c.Project.Git.Webhook; w != nil {
		abs(&w.SecretFile)
	}
	abs(&c.Agent.UI.TokenFile)
	abs(&c.Agent.UI.TLSCertFile)
	abs(&c.Agent.UI.TLSKeyFile)
	for _, env := range c.Environments {
		abs(&env.SSH.KeyFile)
		abs(&env.SSH.KnownHosts)
		abs(&env.Launch.UserDataFile)
		abs(&env.TrustedKeys.OpenPGP)
		abs(&env.TrustedKeys.SSHAllowedSigners)
		for i := range env.Status.Forges {
			abs(&env.Status.Forges[i].TokenFile)
		}
		if env.Secrets != nil {
			abs(&env.Secrets.File)
		}
		if env.Create != nil {
			abs(&env.Create.Recipes)
			abs(&env.Create.FerryBinary)
		}
	}
	for i := range c.Notify {
		abs(&c.Notify[i].URLFile)
		abs(&c.Notify[i].SecretFile)
	}
}

func joinPath(dir, name string) string { return filepath.Join(dir, name) }
