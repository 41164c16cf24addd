//go:build unix

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// rawConn is a minimal HTTP/1.1 keep-alive client for one connection: it
// writes a prebuilt request and parses just enough of the answer (status,
// Content-Length or chunked body). On a machine where the driver and the
// server share two cores, net/http's client costs about as much CPU as the
// server it measures; this costs a fraction, so more of the machine goes
// to the server. --net-http switches back to net/http for comparison.
type rawConn struct {
	addr      string
	req       []byte
	closeEach bool
	c         net.Conn
	br        *bufio.Reader
}

func newRawConn(t *target) (*rawConn, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("raw client: only http:// URLs (%s)", t.URL)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":80"
	}
	var req bytes.Buffer
	conn := ""
	if t.newConn {
		conn = "Connection: close\r\n"
	}
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mlbox-bench\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n", u.RequestURI(), u.Host, conn, len(t.body))
	req.Write(t.body)
	return &rawConn{addr: host, req: req.Bytes(), closeEach: t.newConn}, nil
}

func (r *rawConn) close() {
	if r.c != nil {
		r.c.Close()
		r.c = nil
	}
}

// do sends the request and reads the answer; with keep, the body goes
// into buf, else it is discarded.
func (r *rawConn) do(buf *bytes.Buffer, keep bool) (int, error) {
	for attempt := 0; ; attempt++ {
		fresh := false
		if r.c == nil {
			c, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
			if err != nil {
				return 0, err
			}
			r.c, fresh = c, true
			if r.br == nil {
				r.br = bufio.NewReaderSize(c, 16<<10)
			} else {
				r.br.Reset(c)
			}
		}
		status, err := r.roundTrip(buf, keep)
		if err == nil {
			return status, nil
		}
		r.close()
		// A kept-alive connection the server closed: retry once, fresh.
		if fresh || attempt > 0 {
			return 0, err
		}
	}
}

func (r *rawConn) roundTrip(buf *bytes.Buffer, keep bool) (int, error) {
	r.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := r.c.Write(r.req); err != nil {
		return 0, err
	}
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closeAfter := -1, false, false
	for {
		h, err := r.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			closeAfter = bytes.EqualFold(v, []byte("close"))
		}
	}
	buf.Reset()
	switch {
	case chunked:
		for {
			l, err := r.br.ReadSlice('\n')
			if err != nil {
				return 0, err
			}
			l = bytes.TrimSpace(l)
			if i := bytes.IndexByte(l, ';'); i >= 0 {
				l = l[:i]
			}
			n, err := strconv.ParseInt(string(l), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("bad chunk size %q", l)
			}
			if n == 0 {
				for { // trailers, then the final CRLF
					t, err := r.br.ReadSlice('\n')
					if err != nil {
						return 0, err
					}
					if len(t) <= 2 {
						break
					}
				}
				break
			}
			if err := r.body(buf, int(n), keep); err != nil {
				return 0, err
			}
			if _, err := r.br.Discard(2); err != nil {
				return 0, err
			}
		}
	case length >= 0:
		if err := r.body(buf, length, keep); err != nil {
			return 0, err
		}
	default:
		return 0, errors.New("answer without Content-Length or chunked encoding")
	}
	if closeAfter || r.closeEach {
		r.close()
	}
	return status, nil
}

func (r *rawConn) body(buf *bytes.Buffer, n int, keep bool) error {
	if !keep {
		_, err := r.br.Discard(n)
		return err
	}
	_, err := io.CopyN(buf, r.br, int64(n))
	return err
}
