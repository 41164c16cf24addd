package pyobj

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Limits bound what a reader may build. Zero fields take the defaults.
type Limits struct {
	// MaxBytes caps the total bytes of all strings, bytes and array data
	// built, and for skops files the decompressed size of the members read.
	// Default 1 GiB. A pickle reader never builds more than about twice its
	// input, whatever this says, because array data shares the bytes it
	// came in.
	MaxBytes int64
	// MaxValues caps the total number of values created (default 10
	// million). It defeats memo and DUP bombs.
	MaxValues int
	// MaxDepth caps the nesting depth of the result, of pickle MARKs, of
	// skops nodes and of JSON (default 200).
	MaxDepth int
	// MaxMemo caps the number of pickle memo entries (default 1 million).
	MaxMemo int
}

// Default limits, used for zero fields of Limits.
const (
	DefaultMaxBytes  = 1 << 30
	DefaultMaxValues = 10_000_000
	DefaultMaxDepth  = 200
	DefaultMaxMemo   = 1_000_000
)

// ErrLimit is wrapped by the errors that report a file going over Limits.
var ErrLimit = errors.New("limit exceeded")

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxValues <= 0 {
		l.MaxValues = DefaultMaxValues
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxMemo <= 0 {
		l.MaxMemo = DefaultMaxMemo
	}
	return l
}

// budget counts what a reader has built against its limits.
type budget struct {
	lim    Limits
	bytes  int64
	values int
}

func newBudget(lim Limits) *budget { return &budget{lim: lim.withDefaults()} }

// addBytes charges n bytes of strings, bytes or array data.
func (b *budget) addBytes(n int64) error {
	if n < 0 || n > b.lim.MaxBytes-b.bytes {
		return fmt.Errorf("more than %d bytes of data (MaxBytes): %w", b.lim.MaxBytes, ErrLimit)
	}
	b.bytes += n
	return nil
}

// addValues charges n created values.
func (b *budget) addValues(n int) error {
	if n < 0 || n > b.lim.MaxValues-b.values {
		return fmt.Errorf("more than %d values (MaxValues): %w", b.lim.MaxValues, ErrLimit)
	}
	b.values += n
	return nil
}

func (b *budget) depthError() error {
	return fmt.Errorf("nested deeper than %d (MaxDepth): %w", b.lim.MaxDepth, ErrLimit)
}

// recovered counts panics turned into errors by the exported readers. The
// readers are written not to panic; the tests check that this stays 0.
var recovered atomic.Int64

// recoverTo turns a panic into an error as a last line of defence.
func recoverTo(err *error, what string) {
	if r := recover(); r != nil {
		recovered.Add(1)
		*err = fmt.Errorf("%s: internal error: %v", what, r)
	}
}
