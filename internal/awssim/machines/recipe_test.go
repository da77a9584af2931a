package machines_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

func TestRecipeKey(t *testing.T) {
	base := machines.Recipe{Suite: "bookworm", Packages: []string{"systemd", "nginx-light"}}
	tests := []struct {
		name string
		r    machines.Recipe
		same bool
	}{
		{"same recipe", machines.Recipe{Suite: "bookworm", Packages: []string{"systemd", "nginx-light"}}, true},
		{"packages in another order", machines.Recipe{Suite: "bookworm", Packages: []string{"nginx-light", "systemd"}}, true},
		{"a package twice", machines.Recipe{Suite: "bookworm", Packages: []string{"nginx-light", "systemd", "systemd"}}, true},
		{"another suite", machines.Recipe{Suite: "trixie", Packages: []string{"systemd", "nginx-light"}}, false},
		{"another package", machines.Recipe{Suite: "bookworm", Packages: []string{"systemd", "nginx-full"}}, false},
		{"a package more", machines.Recipe{Suite: "bookworm", Packages: []string{"systemd", "nginx-light", "curl"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Key() == base.Key(); got != tt.same {
				t.Errorf("Key() equal = %v, want %v", got, tt.same)
			}
			if got := tt.r.LayerID() == base.LayerID(); got != tt.same {
				t.Errorf("LayerID() equal = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestAptMirror(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"deb822 sources, security first", map[string]string{
			"etc/apt/sources.list.d/a-security.sources": "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n",
			"etc/apt/sources.list.d/debian.sources":     "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n",
		}, "http://mirror.example/debian"},
		{"one-line sources.list with options", map[string]string{
			"etc/apt/sources.list": "# deb http://old.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://ftp.example/debian bookworm main\n",
		}, "http://ftp.example/debian"},
		{"nothing configured", map[string]string{}, "http://deb.debian.org/debian"},
		{"only third-party sources", map[string]string{
			"etc/apt/sources.list.d/node.list": "deb https://deb.nodesource.com/node_20.x nodistro main\n",
		}, "http://deb.debian.org/debian"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := machines.AptMirror(root); got != tt.want {
				t.Errorf("AptMirror = %q, want %q", got, tt.want)
			}
		})
	}
}
