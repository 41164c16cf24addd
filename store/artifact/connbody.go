package artifact

import (
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// ConnBody is an upload body read straight from the client's connection:
// the bytes the HTTP server had already buffered (Prefix), then the rest
// from Conn, N bytes in all. The local backend moves the rest from the
// socket into the file with splice(2), so the bytes never pass through user
// space; other backends read it as an ordinary io.Reader.
//
// Idle, when positive, is an idle timeout: the body goes on at any speed
// while bytes keep arriving, and fails with os.ErrDeadlineExceeded once
// none has arrived for Idle (cut off between Idle and 1.25·Idle after the
// last byte when spliced). ConnBody owns Conn's read deadline while it
// reads.
type ConnBody struct {
	Prefix []byte
	Conn   net.Conn
	N      int64
	Idle   time.Duration
	read   int64
}

// idleQuarters is how many read-deadline windows of Idle/4 in a row must
// pass without a byte before a spliced body gives up.
const idleQuarters = 4

// Read implements io.Reader: the prefix, then the connection, up to N bytes.
func (b *ConnBody) Read(p []byte) (int, error) {
	if b.read >= b.N {
		return 0, io.EOF
	}
	if rest := b.N - b.read; int64(len(p)) > rest {
		p = p[:rest]
	}
	var n int
	var err error
	if b.read < int64(len(b.Prefix)) {
		n = copy(p, b.Prefix[b.read:])
	} else {
		if b.Idle > 0 {
			_ = b.Conn.SetReadDeadline(time.Now().Add(b.Idle))
		}
		n, err = b.Conn.Read(p)
	}
	b.read += int64(n)
	if err == io.EOF && b.read < b.N {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// writeTo writes the whole body to f: the prefix with write(2), the rest
// with (*os.File).ReadFrom, which splices from a TCP connection on Linux.
//
// The splice loop runs in the kernel and reports no progress until it
// returns, so the idle timeout is kept in windows: each ReadFrom runs under
// a read deadline Idle/4 away, and returns at that deadline with what it
// moved. A window that moved bytes starts the count again; idleQuarters
// empty windows in a row end the upload. Every window begins with a
// non-blocking splice, so bytes that arrived while this goroutine waited
// for a CPU are found before a window counts as empty: a loaded machine
// delays the upload, it does not cut it off.
func (b *ConnBody) writeTo(f *os.File) (int64, error) {
	var n int64
	if b.read < int64(len(b.Prefix)) {
		m, err := f.Write(b.Prefix[b.read:min(int64(len(b.Prefix)), b.N)])
		n += int64(m)
		b.read += int64(m)
		if err != nil {
			return n, err
		}
	}
	empty := 0
	for b.read < b.N {
		if b.Idle > 0 {
			_ = b.Conn.SetReadDeadline(time.Now().Add(max(b.Idle/idleQuarters, time.Millisecond)))
		}
		m, err := f.ReadFrom(&io.LimitedReader{R: b.Conn, N: b.N - b.read})
		n += m
		b.read += m
		switch {
		case err == nil:
			if b.read < b.N {
				return n, io.ErrUnexpectedEOF // the client closed early
			}
		case b.Idle > 0 && errors.Is(err, os.ErrDeadlineExceeded):
			if m > 0 {
				empty = 0
			} else if empty++; empty >= idleQuarters {
				return n, err
			}
		default:
			return n, err
		}
	}
	return n, nil
}
