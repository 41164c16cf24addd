package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// rawConn is a minimal HTTP/1.1 keep-alive client for one connection, used by
// the closed-loop throughput workloads. Go's http.Client hands every request
// between three goroutines (caller, writeLoop, readLoop); on a small machine
// where the driver shares the cores with the server it measures, that costs
// the server CPU time. rawConn writes the request and parses the response
// (net/http's parser) on the calling goroutine. -client=net/http switches
// back to http.Client.
type rawConn struct {
	addr, host string
	timeout    time.Duration
	c          net.Conn
	br         *bufio.Reader
	bw         *bufio.Writer
}

func newRawConn(base string, timeout time.Duration) (*rawConn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("--client=raw speaks plain http only, not %q (use --client=net/http)", u.Scheme)
	}
	return &rawConn{addr: u.Host, host: u.Host, timeout: timeout}, nil
}

func (r *rawConn) close() {
	if r.c != nil {
		r.c.Close()
		r.c = nil
	}
}

// post sends one POST with a JSON body and reads the whole response. A
// non-200 status is a *statusError. On any transport error the connection
// is dropped and redialed by the next call.
func (r *rawConn) post(ctx context.Context, path string, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.c == nil {
		c, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
		if err != nil {
			return err
		}
		r.c, r.br, r.bw = c, bufio.NewReaderSize(c, 16<<10), bufio.NewWriterSize(c, 16<<10)
	}
	if r.timeout > 0 {
		r.c.SetDeadline(time.Now().Add(r.timeout))
	}
	bw := r.bw
	bw.WriteString("POST ")
	bw.WriteString(path)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.host)
	bw.WriteString("\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: ")
	bw.WriteString(strconv.Itoa(len(body)))
	bw.WriteString("\r\n\r\n")
	bw.Write(body)
	if err := bw.Flush(); err != nil {
		r.close()
		return err
	}
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		r.close()
		return err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.Close {
			r.close()
		}
		return &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(msg))}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		r.close()
	}
	return err
}

// posters returns the POST function of n closed-loop workers, worker w
// using its own connection, and a function that closes them. With
// --client=net/http every worker goes through the shared http.Client.
// Failures are counted like client.do counts them.
func (b *bench) posters(n int) (post func(ctx context.Context, w int, path string, body []byte) error, done func()) {
	if b.cfg.client == "net/http" {
		return func(ctx context.Context, _ int, path string, body []byte) error {
			return b.c.do(ctx, http.MethodPost, path, body, nil)
		}, func() {}
	}
	conns := make([]*rawConn, n)
	for i := range conns {
		c, err := newRawConn(b.c.base, b.cfg.timeout)
		if err != nil {
			return func(context.Context, int, string, []byte) error { return err }, func() {}
		}
		conns[i] = c
	}
	return func(ctx context.Context, w int, path string, body []byte) error {
			err := conns[w].post(ctx, path, body)
			if err != nil && ctx.Err() == nil {
				b.c.errs.Load().add("POST "+shortPath(path), err)
			}
			return err
		}, func() {
			for _, c := range conns {
				c.close()
			}
		}
}
