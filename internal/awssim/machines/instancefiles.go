package machines

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// Datasource is where the machine's cloud-init reads its instance data.
type Datasource int

const (
	// NoCloud: instance-id, hostname, keys and user data are written into
	// the machine as a seed (/var/lib/cloud/seed/nocloud) before it boots.
	NoCloud Datasource = iota
	// Ec2: cloud-init asks the instance metadata service at MetadataAddr,
	// which the caller serves with Network.Listen.
	Ec2
)

// resolvConf is every machine's resolver. The VPC's DNS server (on AWS
// the subnet's base address + 2 [vpc-dns]) is not simulated, and the
// image holds the build host's resolv.conf, whose server the namespace
// cannot reach: a lookup would wait for its timeouts, and cloud-init's
// Ec2 datasource looks names up before it reads the metadata service
// (15 s a boot). Nothing listens on the machine's own port 53, so a
// lookup fails at once.
const resolvConf = "# Written by Ferry's simulator: the VPC's DNS server is not simulated.\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n"

// file is one per-instance file written into a machine before it boots.
type file struct {
	path string // absolute, inside the machine
	data []byte
	mode os.FileMode
	// owner is a user of the image whose uid and gid the file (and the
	// directories made for it) get; empty means root.
	owner string
}

// instanceFiles are what makes a machine this instance: its name, address,
// admin's keys, and cloud-init's datasource and seed.
func instanceFiles(s Spec, gateway netip.Addr) ([]file, error) {
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n%s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n", s.Address.Addr(), s.Hostname)
	network := fmt.Sprintf("[Match]\nName=host0\n\n[Network]\nAddress=%s\nGateway=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n", s.Address, gateway)
	keys := strings.Join(s.AuthorizedKeys, "\n")
	if keys != "" {
		keys += "\n"
	}
	files := []file{
		{path: "/etc/hostname", data: []byte(s.Hostname + "\n"), mode: 0o644},
		{path: "/etc/hosts", data: []byte(hosts), mode: 0o644},
		{path: "/etc/systemd/network/10-host0.network", data: []byte(network), mode: 0o644},
		{path: "/etc/resolv.conf", data: []byte(resolvConf), mode: 0o644},
		{path: "/home/admin/.ssh/authorized_keys", data: []byte(keys), mode: 0o600, owner: "admin"},
	}
	var ds string
	switch s.Datasource {
	case NoCloud:
		// JSON is YAML, and quotes whatever the values hold.
		meta, err := json.Marshal(map[string]any{
			"instance-id":    s.InstanceID,
			"local-hostname": s.Hostname,
			"public-keys":    s.AuthorizedKeys,
		})
		if err != nil {
			return nil, err
		}
		ds = "datasource_list: [ NoCloud, None ]\n"
		files = append(files,
			file{path: "/var/lib/cloud/seed/nocloud/meta-data", data: append(meta, '\n'), mode: 0o600},
			file{path: "/var/lib/cloud/seed/nocloud/user-data", data: s.UserData, mode: 0o600})
	case Ec2:
		// One datasource listed: cloud-init's ds-identify would otherwise
		// find no EC2 in a container and disable itself. strict_id false:
		// the platform is not recognisable as AWS from inside nspawn.
		ds = fmt.Sprintf("datasource_list: [ Ec2, None ]\ndatasource:\n  Ec2:\n    metadata_urls: [ 'http://%s' ]\n    strict_id: false\n    max_wait: 30\n    timeout: 5\n", MetadataAddr)
	default:
		return nil, fmt.Errorf("unknown datasource %d", s.Datasource)
	}
	files = append(files, file{path: "/etc/cloud/cloud.cfg.d/90-ferry-datasource.cfg", data: []byte(ds), mode: 0o644})
	return files, nil
}

// writeFiles writes files into the mounted root, with owners looked up in
// the root's own /etc/passwd.
func writeFiles(root string, files []file) error {
	for _, f := range files {
		uid, gid := 0, 0
		if f.owner != "" {
			var err error
			if uid, gid, err = lookupUser(root, f.owner); err != nil {
				return err
			}
		}
		if err := mkdirOwned(root, filepath.Dir(f.path), uid, gid); err != nil {
			return err
		}
		full, err := inRoot(root, f.path)
		if err != nil {
			return err
		}
		// The file is the instance's: whatever an image made from a
		// machine has in its place (a symlink, say) goes.
		if fi, err := os.Lstat(full); err == nil && !fi.Mode().IsRegular() {
			if err := os.RemoveAll(full); err != nil {
				return err
			}
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(full, f.mode); err != nil {
			return err
		}
		if err := os.Lchown(full, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// mkdirOwned creates the missing directories of dir (inside root), owned
// by uid:gid, mode 0700 for a user's and 0755 for root's. Symlinks on the
// way are resolved inside root.
func mkdirOwned(root, dir string, uid, gid int) error {
	full, err := securejoin.SecureJoin(root, dir)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(root, full)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o755)
	if uid != 0 {
		mode = 0o700
	}
	cur := root
	for _, elem := range strings.Split(rel, string(filepath.Separator)) {
		if elem == "." {
			continue
		}
		cur = filepath.Join(cur, elem)
		fi, err := os.Lstat(cur)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s in the image is not a directory", strings.TrimPrefix(cur, root))
			}
			continue
		}
		if err := os.Mkdir(cur, mode); err != nil {
			return err
		}
		if err := os.Lchown(cur, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// lookupUser finds a user's uid and gid in root's /etc/passwd.
func lookupUser(root, name string) (uid, gid int, err error) {
	f, err := os.Open(filepath.Join(root, "etc/passwd"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 4 || fields[0] != name {
			continue
		}
		uid, err1 := strconv.Atoi(fields[2])
		gid, err2 := strconv.Atoi(fields[3])
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("user %s: bad passwd line", name)
		}
		return uid, gid, nil
	}
	return 0, 0, fmt.Errorf("user %s not in the image's /etc/passwd", name)
}

// inRoot returns where path (absolute or not, inside root) is on the host:
// its directories resolved inside root, so that an image made from a
// machine, which may hold any symlink, never leads a write or a removal
// out of it; its last element left as is (a symlink there is acted on
// itself, not followed).
func inRoot(root, path string) (string, error) {
	dir, err := securejoin.SecureJoin(root, filepath.Dir(path))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(path)), nil
}
