package awssim

import (
	"context"
	"fmt"
	"net/http"
)

// DemoApp is an InstanceApp for demos and `ferry sim`: /healthcheck.html
// answers 200 "OK", every other path names the instance, its image and what
// it was launched from.
func DemoApp(_ context.Context, inst Instance) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthcheck.html", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "OK")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		from := inst.LaunchConfig
		if from == "" {
			from = inst.LaunchTemplate
		}
		fmt.Fprintf(w, "%s %s %s %s\n", inst.ID, inst.ImageID, inst.PrivateIP, from)
	})
	return mux, nil
}
