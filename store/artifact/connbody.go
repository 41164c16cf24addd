package artifact

import (
	"io"
	"net"
	"os"
)

// ConnBody is an upload body read straight from the client's connection:
// the bytes the HTTP server had already buffered (Prefix), then the rest
// from Conn, N bytes in all. The local backend moves the rest from the
// socket into the file with splice(2), so the bytes never pass through user
// space; other backends read it as an ordinary io.Reader.
type ConnBody struct {
	Prefix []byte
	Conn   net.Conn
	N      int64
	read   int64
}

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
	rest := b.N - b.read
	m, err := f.ReadFrom(&io.LimitedReader{R: b.Conn, N: rest})
	n += m
	b.read += m
	if err == nil && m < rest {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
