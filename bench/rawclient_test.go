package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestRawConnKeepAliveErrorsAndReconnect(t *testing.T) {
	var conns atomic.Int32
	var got atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type") + " " + string(b))
		switch r.URL.Path {
		case "/bad":
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error_code":"INVALID_PARAMETER_VALUE"}`)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "{}")
		default:
			io.WriteString(w, "{}")
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	rc, err := newRawConn(srv.URL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := rc.post(ctx, "/ok", []byte(`{"a":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if g := got.Load().(string); g != `POST /ok application/json {"a":1}` {
		t.Fatalf("server saw %q", g)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 3 keep-alive requests", n)
	}
	var se *statusError
	if err := rc.post(ctx, "/bad", []byte(`{}`)); !errors.As(err, &se) || se.code != 400 {
		t.Fatalf("want a 400 statusError, got %v", err)
	}
	if err := rc.post(ctx, "/close", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := rc.post(ctx, "/ok", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections; want a redial after Connection: close", n)
	}
	if _, err := newRawConn("https://example.invalid", 0); err == nil {
		t.Fatal("https accepted by the raw client")
	}
}
