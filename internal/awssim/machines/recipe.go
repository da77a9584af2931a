package machines

import (
	"bufio"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// customizeScript turns a debootstrapped tree into an image that boots
// like Debian's AMI; it runs inside the tree (chroot). Its text is part of
// the recipe's key, so editing it rebuilds the image.
//
//go:embed customize.sh
var customizeScript string

// Recipe is what a base image is built from. Two recipes with the same Key
// build the same image, so the key names the cached layer.
type Recipe struct {
	// Suite is the Debian release, e.g. "bookworm".
	Suite string
	// Packages are installed on top of debootstrap's minbase variant.
	Packages []string
	// Flavor names an image other than the plain base (e.g. "stack"): its
	// layer is named, and its old builds pruned, apart from the base's.
	Flavor string
	// Extra is a script run in the tree (chroot) after customize.sh, e.g.
	// to install more packages with apt, whose resolver debootstrap lacks.
	Extra string
}

// DefaultRecipe is Debian bookworm with systemd, OpenSSH, nginx, sudo and
// cloud-init: what Debian's AMIs have that Ferry's hooks use.
func DefaultRecipe() Recipe {
	return Recipe{
		Suite: "bookworm",
		Packages: []string{
			"systemd", "systemd-sysv", "dbus", "libpam-systemd",
			"openssh-server", "sudo", "ca-certificates", "iproute2", "curl", "less",
			"nginx-light", "ssl-cert",
			// debootstrap's resolver does not follow virtual packages:
			// python3-cryptography (cloud-init's) needs the cffi backend named.
			"cloud-init", "python3-cffi-backend",
		},
	}
}

// Key identifies the image the recipe builds: a hash of the suite, the
// sorted package list and the customization script. The mirror is left out:
// any Debian mirror gives the same packages.
func (r Recipe) Key() string {
	pkgs := slices.Clone(r.Packages)
	slices.Sort(pkgs)
	pkgs = slices.Compact(pkgs)
	h := sha256.New()
	fmt.Fprintf(h, "suite %s\npackages %s\ncustomize %d\n%s", r.Suite, strings.Join(pkgs, ","), len(customizeScript), customizeScript)
	if r.Flavor != "" || r.Extra != "" {
		fmt.Fprintf(h, "\nflavor %s\nextra %d\n%s", r.Flavor, len(r.Extra), r.Extra)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// LayerID is the name of the layer the recipe builds.
func (r Recipe) LayerID() string { return r.layerPrefix() + r.Key()[:16] }

// layerPrefix is what the layers of every build of the recipe's suite and
// flavor are named with: base-bookworm-, stack-bookworm-.
func (r Recipe) layerPrefix() string {
	if r.Flavor != "" {
		return r.Flavor + "-" + r.Suite + "-"
	}
	return "base-" + r.Suite + "-"
}

// AptMirror returns the first Debian archive URI in apt's configured sources
// (deb822 *.sources and one-line sources.list), so that debootstrap uses the
// mirror this machine is known to reach. It falls back to deb.debian.org.
func AptMirror(root string) string {
	const fallback = "http://deb.debian.org/debian"
	files, _ := filepath.Glob(filepath.Join(root, "etc/apt/sources.list.d/*.sources"))
	files = append(files, filepath.Join(root, "etc/apt/sources.list"))
	list, _ := filepath.Glob(filepath.Join(root, "etc/apt/sources.list.d/*.list"))
	files = append(files, list...)
	for _, f := range files {
		if uri := debianURI(f); uri != "" {
			return uri
		}
	}
	return fallback
}

func debianURI(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var uris []string
		switch {
		case strings.HasPrefix(line, "URIs:"):
			uris = strings.Fields(strings.TrimPrefix(line, "URIs:"))
		case strings.HasPrefix(line, "deb "):
			fields := strings.Fields(line)
			for _, fl := range fields[1:] {
				if !strings.HasPrefix(fl, "[") && !strings.HasSuffix(fl, "]") {
					uris = append(uris, fl)
					break
				}
			}
		}
		for _, u := range uris {
			// The main archive, not debian-security or a third party.
			if strings.HasSuffix(strings.TrimSuffix(u, "/"), "/debian") {
				return strings.TrimSuffix(u, "/")
			}
		}
	}
	return ""
}
