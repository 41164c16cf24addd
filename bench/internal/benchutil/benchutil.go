// Package benchutil holds small helpers the benchmark drivers under
// bench/ share.
package benchutil

import (
	"net"
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
