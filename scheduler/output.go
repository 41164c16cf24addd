package scheduler

import (
	"fmt"
	"sync"
)

// capture keeps a job's output within a byte budget: the first half and
// the last half of what was written, with a marker for what was dropped in
// between (the start says what ran, the end usually says why it failed).
// It is safe for concurrent writers.
type capture struct {
	mu      sync.Mutex
	headCap int
	tailCap int
	head    []byte
	tail    []byte // the last tailCap bytes after head filled up (may hold up to 2×tailCap before trimming)
	total   int64
}

func newCapture(max int64) *capture {
	if max < 2 {
		max = 2
	}
	h := int(max / 2)
	return &capture{headCap: h, tailCap: int(max) - h}
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	c.total += int64(n)
	if room := c.headCap - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	if len(p) >= c.tailCap {
		c.tail = append(c.tail[:0], p[len(p)-c.tailCap:]...)
		return n, nil
	}
	c.tail = append(c.tail, p...)
	if len(c.tail) > 2*c.tailCap {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-c.tailCap:]...)
	}
	return n, nil
}

// Bytes returns the kept output and whether some was dropped.
func (c *capture) Bytes() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tail := c.tail
	if len(tail) > c.tailCap {
		tail = tail[len(tail)-c.tailCap:]
	}
	kept := int64(len(c.head) + len(tail))
	out := make([]byte, 0, kept+80)
	out = append(out, c.head...)
	truncated := kept < c.total
	if truncated {
		out = fmt.Appendf(out, "\n[mlbox: %d bytes of output omitted]\n", c.total-kept)
	}
	return append(out, tail...), truncated
}

// Total is the number of bytes written.
func (c *capture) Total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}
