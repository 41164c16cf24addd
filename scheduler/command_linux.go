//go:build linux

package scheduler

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
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
	tag := newInstanceTag()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, append(slices.Clip(env), tag)
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
	killEscaped(tag)                         // and those that left the group
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

// instanceTagVar is set, with a value unique to the run, in the
// environment of every command run; its descendants inherit it.
const instanceTagVar = "MLBOX_JOB_INSTANCE"

func newInstanceTag() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return instanceTagVar + "=" + hex.EncodeToString(b[:])
}

// killEscaped kills the processes that carry tag in their environment:
// the run's descendants that left its process group (setsid, a double
// fork) and so escaped the group kill. Each candidate is pinned with a
// pidfd before its environment is read, so a recycled pid is never
// signalled. A process that cleared its environment, or runs as another
// user, is not found. Passes repeat while they find something (a process
// may fork while being looked for).
func killEscaped(tag string) {
	want := []byte(tag + "\x00")
	self := os.Getpid()
	for pass := 0; pass < 5; pass++ {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		found := false
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == self {
				continue
			}
			fd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				continue // gone, or a kernel without pidfds (< 5.3)
			}
			env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
			if err == nil && (bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...))) {
				if unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) == nil {
					found = true
				}
			}
			unix.Close(fd)
		}
		if !found {
			return
		}
	}
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
