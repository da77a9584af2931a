package awssim

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
)

// DemoApp is an InstanceApp for demos and `ferry sim`: /healthcheck.html
// answers 200 "OK", every other path names the instance, its image and what
// it was launched from.
func DemoApp(ctx context.Context, inst Instance) (http.Handler, error) {
	return DemoAppWithRoot("")(ctx, inst)
}

// UpgradePage is the file, in an instance's directory under the app root,
// whose presence puts the "upgrade in progress" page up.
const UpgradePage = "upgrade.html"

// DemoAppWithRoot is DemoApp with a disk of its own for each instance:
// root/<private ip>/. While root/<ip>/upgrade.html exists, the instance
// answers every path but /healthcheck.html with that file and status 503,
// as the seed's nginx does during a full deploy, and the health check stays
// 200 so balancers keep the instance. A hook run over SSH on "the
// instance" (an sshd on its address) can then put the page up with
// `touch root/$ip/upgrade.html`. An empty root is DemoApp.
func DemoAppWithRoot(root string) InstanceApp {
	return func(_ context.Context, inst Instance) (http.Handler, error) {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthcheck.html", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintln(w, "OK")
		})
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			if root != "" {
				if page, err := os.ReadFile(filepath.Join(root, inst.PrivateIP, UpgradePage)); err == nil {
					w.Header().Set("Content-Type", "text/html; charset=utf-8")
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = w.Write(page)
					return
				}
			}
			from := inst.LaunchConfig
			if from == "" {
				from = inst.LaunchTemplate
			}
			fmt.Fprintf(w, "%s %s %s %s\n", inst.ID, inst.ImageID, inst.PrivateIP, from)
		})
		return mux, nil
	}
}
