package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary documents to the parser: it must never panic,
// and every error it returns must be located in the file it was given.
func FuzzParse(f *testing.F) {
	examples, _ := filepath.Glob(filepath.Join("..", "..", "examples", "environments", "*.toml"))
	for _, path := range examples {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(minimalProject + minimalEnv))
	f.Add([]byte("[[a]]\n[a.b]\nc = '''\n'''\nd = [\n{ e = 1 },\n]\n"))
	f.Add([]byte("[environments.x]\nwindows = [{cron = \"* * * * *\"}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.toml", data)
		if err == nil {
			if cfg == nil || len(cfg.Environments) == 0 {
				t.Fatalf("valid config without environments: %+v", cfg)
			}
			return
		}
		es, ok := AsErrors(err)
		if !ok || len(es) == 0 {
			t.Fatalf("error is not a non-empty Errors: %v", err)
		}
		for _, e := range es {
			if e.File != "fuzz.toml" || e.Line < 0 || e.Msg == "" {
				t.Fatalf("malformed error %#v", e)
			}
		}
	})
}
