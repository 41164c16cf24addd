//go:build linux

package artifact

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair is a connected loopback TCP pair: the server end (what an HTTP
// handler hijacks) and the client end.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// sendSlowly writes body to c in chunks with a pause before each, then
// (if closeAfter) closes c.
func sendSlowly(c net.Conn, body []byte, chunk int, pause time.Duration, closeAfter bool) {
	for len(body) > 0 {
		time.Sleep(pause)
		n := min(chunk, len(body))
		if _, err := c.Write(body[:n]); err != nil {
			return
		}
		body = body[n:]
	}
	if closeAfter {
		c.Close()
	}
}

// TestConnBodyIdleTimeout: a spliced body trickling for many times its idle
// timeout is stored whole; one that stops sending fails with the deadline
// error no sooner than the timeout, and leaves nothing behind; one whose
// client hangs up early fails too.
func TestConnBodyIdleTimeout(t *testing.T) {
	// Five times the pause between chunks: the sending goroutine shares a
	// loaded machine with the test's receiver.
	const idle = 500 * time.Millisecond
	body := make([]byte, 3<<20)
	_, _ = rand.Read(body)
	prefix := body[:1000]

	t.Run("trickle", func(t *testing.T) {
		st := newLocal(t)
		srv, cli := tcpPair(t)
		// 20 chunks 100 ms apart: 2 s, four times the timeout.
		go sendSlowly(cli, body[len(prefix):], (len(body)-len(prefix))/20+1, idle/5, false)
		start := time.Now()
		cb := &ConnBody{Prefix: prefix, Conn: srv, N: int64(len(body)), Idle: idle}
		if err := st.Put(context.Background(), "a/slow.bin", cb, int64(len(body))); err != nil {
			t.Fatalf("trickled body: %v after %v", err, time.Since(start))
		}
		if d := time.Since(start); d < 3*idle {
			t.Fatalf("took %v: not much longer than the timeout, the test proves nothing", d)
		}
		rc, err := st.Open(context.Background(), "a/slow.bin")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, body) {
			t.Fatalf("stored %d bytes, not what was sent", len(got))
		}
	})

	t.Run("stall", func(t *testing.T) {
		st := newLocal(t)
		srv, cli := tcpPair(t)
		go sendSlowly(cli, body[len(prefix):len(body)/2], 64<<10, 0, false) // then nothing, connection open
		start := time.Now()
		cb := &ConnBody{Prefix: prefix, Conn: srv, N: int64(len(body)), Idle: idle}
		err := st.Put(context.Background(), "a/stuck.bin", cb, int64(len(body)))
		d := time.Since(start)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("stalled body: %v", err)
		}
		if d < idle || d > 20*idle {
			t.Fatalf("stalled body cut off after %v with a %v idle timeout", d, idle)
		}
		if got := rawFiles(t, st.Dir()); len(got) != 0 {
			t.Fatalf("a cut-off upload left %v", got)
		}
	})

	t.Run("hangup", func(t *testing.T) {
		st := newLocal(t)
		srv, cli := tcpPair(t)
		go sendSlowly(cli, body[len(prefix):len(body)/2], 64<<10, 0, true)
		cb := &ConnBody{Prefix: prefix, Conn: srv, N: int64(len(body)), Idle: idle}
		err := st.Put(context.Background(), "a/short.bin", cb, int64(len(body)))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("short body: %v", err)
		}
	})
}
