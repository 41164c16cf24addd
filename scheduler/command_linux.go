//go:build linux

package scheduler

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
	"unsafe"
)

// runProcess runs argv in its own process group with output to out. When
// ctx ends it sends SIGTERM to the whole group, and SIGKILL after grace.
// When the leader exits (for whatever reason) whatever is left in its group
// is killed: a job never leaves processes behind. It returns the exit code
// (-1 if the process did not exit normally) and an error when the process
// could not be started or did not exit cleanly.
func runProcess(ctx context.Context, argv []string, dir string, env []string, out io.Writer, grace time.Duration) (int, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return -1, err
	}
	defer pr.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = pw, pw // one *os.File: no copying goroutines in os/exec
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return -1, &startError{err}
	}
	pw.Close()
	pgid := cmd.Process.Pid
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, pr)
		close(copied)
	}()

	// The leader stays a zombie until Wait reaps it, so its pid (the group
	// id) cannot be reused while we signal the group.
	exited := make(chan struct{})
	go func() {
		waitExited(pgid)
		close(exited)
	}()
	select {
	case <-exited:
	case <-ctx.Done():
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case <-exited:
		case <-t.C:
		}
		t.Stop()
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // stragglers: background children
	werr := cmd.Wait()

	// Output ends when the last writer is gone; a process that left the
	// group (setsid) could keep the pipe open, so the wait is bounded.
	t := time.NewTimer(2 * time.Second)
	select {
	case <-copied:
	case <-t.C:
		pr.Close()
		<-copied
	}
	t.Stop()

	code := cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return code, werr
	}
	if code != 0 {
		return code, werr
	}
	return 0, nil
}

// waitExited blocks until the process has exited, without reaping it
// (waitid with WNOWAIT).
func waitExited(pid int) {
	const pPID = 1
	const wNOWAIT = 0x1000000
	var info [128]byte // siginfo_t
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|wNOWAIT, 0, 0)
		if e != syscall.EINTR {
			return
		}
	}
}
