//go:build !linux

package scheduler

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"time"
)

// runProcess runs argv with output to out and kills it when ctx ends. Only
// the Linux build kills the whole process group; elsewhere children of the
// command may outlive it.
func runProcess(ctx context.Context, argv []string, dir string, env []string, out io.Writer, grace time.Duration) (int, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = grace
	werr := cmd.Run()
	if cmd.ProcessState == nil {
		return -1, &startError{werr}
	}
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
