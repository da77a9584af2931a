package traffic_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/internal/traffic"
)

// Each kind of answer is counted as what a user met: the app, the upgrade
// page, or a failure (another status, a 503 that is not the page, a
// refused connection).
func TestCounts(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		switch n.Add(1) % 4 {
		case 0:
			_, _ = w.Write([]byte("shop"))
		case 1:
			http.Error(w, "Upgrade in progress. We'll be back in a minute.", http.StatusServiceUnavailable)
		case 2:
			http.Error(w, "Service Unavailable: Back-end server is at capacity", http.StatusServiceUnavailable)
		case 3:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	stop := traffic.Start(srv.URL, time.Millisecond)
	testutil.Eventually(t, 30*time.Second, "40 requests", func() (bool, string) {
		return n.Load() >= 40, ""
	})
	c := stop()
	total := c[traffic.OK] + c[traffic.UpgradePage] + c[traffic.Failed]
	if c[traffic.OK] < 9 || c[traffic.UpgradePage] < 9 || c[traffic.Failed] < 18 || total != int(n.Load()) {
		t.Errorf("counts %v after %d requests: want about a quarter ok, a quarter the page, half failed, all counted", c, n.Load())
	}

}

// A refused connection is a failure. The requests run in a synctest
// bubble: 30 ms of its clock are 30 requests, however slow the machine.
func TestRefusedConnectionFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	synctest.Test(t, func(t *testing.T) {
		stop := traffic.Start("http://"+addr+"/", time.Millisecond)
		time.Sleep(30 * time.Millisecond)
		if c := stop(); c[traffic.Failed] == 0 || c[traffic.OK] != 0 {
			t.Errorf("a refused connection: counts %v, want only failures", c)
		}
	})
}
