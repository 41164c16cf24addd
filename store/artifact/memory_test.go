package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mlbox/internal/miniotest"
)

const (
	memTestSize  = 256 << 20
	memTestLimit = 64 << 20
)

// genReader produces n deterministic pseudo-random bytes without holding
// them.
type genReader struct {
	rng *rand.ChaCha8
	n   int64
}

func newGen(seed byte, n int64) *genReader {
	var s [32]byte
	s[0] = seed
	return &genReader{rng: rand.NewChaCha8(s), n: n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.n {
		p = p[:g.n]
	}
	n, _ := g.rng.Read(p)
	g.n -= int64(n)
	return n, nil
}

// heapSampler records the peak HeapInuse while running.
type heapSampler struct {
	peak atomic.Uint64
	stop chan struct{}
	wg   sync.WaitGroup
}

func startHeapSampler() *heapSampler {
	runtime.GC()
	h := &heapSampler{stop: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	h.wg.Wait()
	return h.peak.Load()
}

func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 256 MiB per backend")
	}
	backends := []struct {
		name string
		st   func(t *testing.T) Store
		size int64 // size passed to Put
	}{
		{"local", func(t *testing.T) Store { return newLocal(t) }, memTestSize},
		{"local-unknown-size", func(t *testing.T) Store { return newLocal(t) }, -1},
		{"s3", nil, memTestSize},
		{"s3-unknown-size", nil, -1},
	}
	srv := miniotest.Start(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			var st Store
			if b.st != nil {
				st = b.st(t)
			} else {
				st = newS3(t, srv, "mem")
			}
			ctx := context.Background()
			h := startHeapSampler()

			want := sha256.New()
			src := io.TeeReader(newGen(1, memTestSize), want)
			start := time.Now()
			if err := st.Put(ctx, "big/blob.bin", src, b.size); err != nil {
				h.Stop()
				t.Fatal(err)
			}
			putDur := time.Since(start)

			start = time.Now()
			obj, err := st.Open(ctx, "big/blob.bin")
			if err != nil {
				h.Stop()
				t.Fatal(err)
			}
			got := sha256.New()
			n, err := io.Copy(got, obj)
			obj.Close()
			getDur := time.Since(start)
			peak := h.Stop()
			if err != nil || n != memTestSize {
				t.Fatalf("read back %d bytes: %v", n, err)
			}
			if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
				t.Fatal("sha256 mismatch")
			}
			t.Logf("%s: put %s, get %s, peak HeapInuse %.1f MiB", b.name,
				putDur.Round(time.Millisecond), getDur.Round(time.Millisecond), float64(peak)/(1<<20))
			if peak > memTestLimit {
				t.Fatalf("peak HeapInuse %.1f MiB > %d MiB", float64(peak)/(1<<20), memTestLimit>>20)
			}
			if err := st.Delete(ctx, "big"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
