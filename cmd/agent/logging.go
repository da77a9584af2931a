package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// logOptions are the global flags that shape Ferry's log.
type logOptions struct {
	level  string
	format string
}

func (o *logOptions) bind(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&o.level, "log-level", "info", "log level: debug, info, warn or error")
	cmd.PersistentFlags().StringVar(&o.format, "log-format", "auto", "log format: text, json, or auto (JSON under systemd, text otherwise)")
}

// logger builds the slog logger the flags describe, writing to w (stderr:
// stdout is for the command's own output, such as a plan).
func (o *logOptions) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.level)); err != nil {
		return nil, usageError{"ferry", fmt.Errorf("--log-level %q: use debug, info, warn or error", o.level)}
	}
	opts := &slog.HandlerOptions{Level: level}
	format := strings.ToLower(o.format)
	if format == "auto" {
		// systemd sets JOURNAL_STREAM for a service whose output goes to
		// the journal: structured logs there, readable ones on a terminal.
		format = "text"
		if os.Getenv("JOURNAL_STREAM") != "" {
			format = "json"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{"ferry", fmt.Errorf("--log-format %q: use text, json or auto", o.format)}
}
