package serve

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := newLimiter(2, 3)
	t0 := time.Unix(100, 0)
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow(1, t0); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	ok, wait := l.allow(1, t0)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("over the burst: %v %s", ok, wait)
	}
	if ok, _ := l.allow(2, t0); !ok {
		t.Fatal("another client is limited")
	}
	if ok, _ := l.allow(1, t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("no refill")
	}
	// Idle clients are swept.
	l.allow(1, t0.Add(time.Hour))
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets after sweep", len(l.buckets))
	}
	if ok, _ := newLimiter(0, 0).allow(1, t0); !ok {
		t.Fatal("rate 0 limits")
	}
	if l := newLimiter(2.5, 0); l.burst != 3 {
		t.Fatalf("default burst %v", l.burst)
	}
}

func TestClientKey(t *testing.T) {
	a := httptest.NewRequest("POST", "/", nil)
	a.RemoteAddr = "10.0.0.1:1234"
	b := httptest.NewRequest("POST", "/", nil)
	b.RemoteAddr = "10.0.0.1:999"
	c := httptest.NewRequest("POST", "/", nil)
	c.RemoteAddr = "10.0.0.1:999"
	c.Header.Set("Authorization", "Bearer xyz")
	d := httptest.NewRequest("POST", "/", nil)
	d.RemoteAddr = "10.0.0.2:1"
	d.Header.Set("Authorization", "bearer xyz")
	if clientKey(a) != clientKey(b) || clientKey(a) == clientKey(c) || clientKey(c) != clientKey(d) {
		t.Fatal("client keys")
	}
}

func TestReadBody(t *testing.T) {
	for _, c := range []struct {
		body  string
		cl    int64
		limit int64
		err   error
	}{
		{"hello", 5, 10, nil},
		{"hello", -1, 10, nil},
		{"hello", -1, 5, nil},
		{"hello!", -1, 5, errTooLarge},
		{"hello!", 6, 5, errTooLarge},
		{strings.Repeat("x", 100000), -1, 200000, nil},
	} {
		r := httptest.NewRequest("POST", "/", io.NopCloser(strings.NewReader(c.body)))
		r.ContentLength = c.cl
		b, err := readBody(r, nil, c.limit)
		if !errors.Is(err, c.err) || err == nil && string(b) != c.body {
			t.Errorf("%d bytes, limit %d: %v (%d bytes)", len(c.body), c.limit, err, len(b))
		}
	}
}
