package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDefaultsDocumented fails when a default changes in defaults.go but not
// in docs/configuration.md, the page operators read.
func TestDefaultsDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, want := range []string{
		"`" + DefaultStateDir + "`",
		"`" + DefaultSchemaMarker + "`",
		"`" + DefaultNotesRef + "`",
		"`" + shortDuration(DefaultPollInterval) + "`",
		"`" + DefaultLaunchKind + "`",
		"`" + DefaultSerialMode + "`",
		"`<state_dir>/" + DefaultSSHKnownHosts + "`",
		"`" + DefaultWindowTimeZone + "`",
		"`" + DefaultWindowMode + "`",
		"`" + DefaultForgeContext + "NAME`",
		"| `serial_batch_size` | int ≥ 1 | `1` |",
		"| `min_healthy` | int ≥ 0 | `1` |",
		"| `port` | int | `22` |",
		"| `poll_interval` | duration | `" + shortDuration(DefaultDeployPoll) + "` |",
		"| `instances_in_service` | `" + shortDuration(DefaultInstancesInService) + "` |",
		"| `healthy_in_balancers` | `" + shortDuration(DefaultHealthyInBalancers) + "` |",
		"| `drain` | `" + shortDuration(DefaultDrain) + "` |",
		"| `command` | `" + shortDuration(DefaultCommand) + "` |",
		"| `lock_lease` | `" + shortDuration(DefaultLockLease) + "` |",
		"| `bake` | `" + shortDuration(DefaultBake) + "` |",
		"| `keep` | int ≥ 1 | `" + strconv.Itoa(DefaultImagesKeep) + "` |",
		"| `cache` | string | `" + ImagesCachePrevious + "` |",
		"| `connect_timeout` | duration | `" + shortDuration(DefaultSSHConnectTimeout) + "` |",
		"| `keepalive_interval` | duration | `" + shortDuration(DefaultSSHKeepAlive) + "` |",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/configuration.md does not show the default %s", want)
		}
	}
}

// shortDuration writes a duration as the docs do: "15m", not "15m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
