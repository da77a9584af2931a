package machines

import (
	"bytes"
	"log/slog"
	"net"
	"os"
)

// listenNotify opens the sd_notify socket nspawn reports to: with
// --notify-ready=yes it sends READY=1 once the machine's systemd has.
// It is a path socket, so it reaches nspawn in any network namespace.
func listenNotify(path string) (*net.UnixConn, error) {
	_ = os.Remove(path) // a leftover from an earlier machine of this name
	return net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
}

// waitReady closes ready at the first READY=1, and returns when conn is
// closed.
func waitReady(conn *net.UnixConn, ready chan<- struct{}, log *slog.Logger) {
	buf := make([]byte, 4096)
	closed := false
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		for _, line := range bytes.Split(buf[:n], []byte("\n")) {
			if string(line) == "READY=1" && !closed {
				close(ready)
				closed = true
				log.Info("machine running")
			}
		}
	}
}
