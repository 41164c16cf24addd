package serve

import (
	"math/bits"
	"sync"
	"time"
)

// window keeps request counts, failures and a latency histogram over a
// sliding time window, for the automatic rollback. It is a ring of
// windowBuckets buckets, each span/windowBuckets wide; a bucket is reset
// when time comes back round to it. add takes a short lock and allocates
// nothing.
type window struct {
	mu      sync.Mutex
	span    time.Duration
	width   int64 // bucket width in ns
	buckets [windowBuckets]windowBucket
}

const (
	windowBuckets = 12
	// Latency classes: 4 per power of two of microseconds, up to 2^39 µs.
	latClasses = 160
)

type windowBucket struct {
	epoch  int64 // time / width when the bucket was last reset
	n      uint32
	failed uint32
	lat    [latClasses]uint32
}

func newWindow(span time.Duration) *window {
	w := &window{}
	w.reset(span)
	return w
}

// reset empties the window and sets its span.
func (w *window) reset(span time.Duration) {
	if span < time.Second {
		span = time.Second
	}
	w.mu.Lock()
	w.span = span
	w.width = int64(span) / windowBuckets
	w.buckets = [windowBuckets]windowBucket{}
	w.mu.Unlock()
}

// latClass maps a latency to its histogram class.
func latClass(d time.Duration) int {
	us := uint64(d/time.Microsecond) + 1
	e := bits.Len64(us) - 1 // us in [2^e, 2^(e+1))
	sub := 0
	if e >= 2 {
		sub = int(us>>(e-2)) & 3
	} else if e == 1 {
		sub = int(us&1) * 2
	}
	c := e*4 + sub
	if c >= latClasses {
		c = latClasses - 1
	}
	return c
}

// latUpper is the upper bound of a latency class.
func latUpper(c int) time.Duration {
	e, sub := c/4, c%4
	var us uint64
	if e >= 2 {
		us = (uint64(4+sub+1) << (e - 2))
	} else {
		us = uint64(1)<<e + uint64(sub/2+1)
	}
	return time.Duration(us-1) * time.Microsecond
}

// add records one request that reached the model.
func (w *window) add(now time.Time, lat time.Duration, failed bool) {
	c := latClass(lat)
	w.mu.Lock()
	ep := now.UnixNano() / w.width
	b := &w.buckets[ep%windowBuckets]
	if b.epoch != ep {
		*b = windowBucket{epoch: ep}
	}
	b.n++
	if failed {
		b.failed++
	}
	b.lat[c]++
	w.mu.Unlock()
}

// windowStats summarise a window.
type windowStats struct {
	Requests int64         `json:"requests"`
	Failures int64         `json:"failures"`
	P99      time.Duration `json:"-"`
}

// ErrorRate is Failures/Requests (0 when there were none).
func (s windowStats) ErrorRate() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Failures) / float64(s.Requests)
}

// stats sums the buckets that are still inside the window at now.
func (w *window) stats(now time.Time) windowStats {
	var s windowStats
	var lat [latClasses]int64
	w.mu.Lock()
	cur := now.UnixNano() / w.width
	for i := range w.buckets {
		b := &w.buckets[i]
		if b.n == 0 || b.epoch <= cur-windowBuckets || b.epoch > cur {
			continue
		}
		s.Requests += int64(b.n)
		s.Failures += int64(b.failed)
		for c, n := range b.lat {
			lat[c] += int64(n)
		}
	}
	w.mu.Unlock()
	if s.Requests > 0 {
		// The 99th percentile: the class holding request ceil(0.99 n).
		rank := (s.Requests*99 + 99) / 100
		var seen int64
		for c, n := range lat {
			seen += n
			if seen >= rank {
				s.P99 = latUpper(c)
				break
			}
		}
	}
	return s
}
