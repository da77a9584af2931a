package testutil

import "github.com/ferry-deploy/ferry/internal/testlog"

// Buffer collects output that a process or the code under test writes
// while the test reads it: a bytes.Buffer safe for concurrent use.
type Buffer = testlog.Buffer
