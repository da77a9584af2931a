package gittest

import (
	"os"
	"os/exec"
	"syscall"
)

// startGroup starts cmd in its own process group, its output in a file under
// dir, so that killGroup also ends the children a server forks per
// connection.
func startGroup(cmd *exec.Cmd, dir string) (<-chan struct{}, error) {
	logf, err := os.CreateTemp(dir, "server-*.log")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	return exited, nil
}

func killGroup(cmd *exec.Cmd, exited <-chan struct{}) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

func (s *Server) execPath() string {
	s.t.Helper()
	return Git(s.t, "", "--exec-path")
}
