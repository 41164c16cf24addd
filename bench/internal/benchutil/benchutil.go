// Package benchutil holds small helpers the benchmark drivers under
// bench/ share.
package benchutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// FreePort returns a free 127.0.0.1:port address.
func FreePort() string {
	p, err := Port()
	if err != nil {
		panic(err)
	}
	return "127.0.0.1:" + strconv.Itoa(p)
}

// Port returns a free TCP port on 127.0.0.1.
func Port() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Median is the median of some durations (the upper one of an even count).
func Median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// MiBps is n bytes in d as MiB/s.
func MiBps(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

// WorkDir returns dir, or a new temporary directory (named from prefix)
// when dir is "", with the function that removes what it made.
func WorkDir(dir, prefix string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// Tail is the last n bytes of s.
func Tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// PythonJSON runs a benchmark's Python script (cmd) and decodes the JSON
// object it prints into out; a failure carries the end of its stderr.
func PythonJSON(cmd *exec.Cmd, out any) error {
	script := filepath.Base(cmd.Args[1])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", script, err, Tail(stderr.String(), 2000))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s printed %q: %v", script, Tail(string(b), 300), err)
	}
	return nil
}
