package store

import (
	"encoding/binary"
	"math"
)

// Keys are big-endian so that bbolt's byte order is the numeric order.

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// i64key maps an int64 onto bytes whose order is the signed order.
func appendI64(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(v)^(1<<63))
}

func readI64(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// appendF64 maps a float64 onto bytes whose order is the numeric order
// (-Inf < ... < -0 < +0 < ... < +Inf < NaN).
func appendF64(b []byte, v float64) []byte {
	bits := math.Float64bits(v)
	if bits&(1<<63) != 0 {
		bits = ^bits
	} else {
		bits |= 1 << 63
	}
	return binary.BigEndian.AppendUint64(b, bits)
}

func readF64(b []byte) float64 {
	bits := binary.BigEndian.Uint64(b)
	if bits&(1<<63) != 0 {
		bits &^= 1 << 63
	} else {
		bits = ^bits
	}
	return math.Float64frombits(bits)
}

// metricOrderKey is (step, timestamp, value) in byte order: the history key,
// and also the "latest value" order MLflow uses.
func metricOrderKey(step, ts int64, v float64) []byte {
	b := make([]byte, 0, 24)
	b = appendI64(b, step)
	b = appendI64(b, ts)
	return appendF64(b, v)
}
