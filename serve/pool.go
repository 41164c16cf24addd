package serve

import (
	"context"
	"sync"
	"sync/atomic"
)

// pool holds a fixed number of slots, each an instance or empty (nil).
// Every slot is always in exactly one place: in the channel, with a
// borrower, or with the goroutine that replaces a discarded instance. So
// the pool never shrinks and never leaks: close takes all slots back.
//
// An empty slot is filled by whoever takes it (get instantiates lazily);
// a discarded instance is replaced in the background so that the next
// borrower usually finds a warm one.
type pool struct {
	slots  chan *instance
	size   int
	newFn  func(context.Context) (*instance, error)
	onDrop func(error)

	closing   chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool

	live     atomic.Int64 // instances alive (in the channel or borrowed)
	replaced atomic.Int64 // instances discarded and replaced
}

func newPool(size int, newFn func(context.Context) (*instance, error)) *pool {
	return &pool{
		slots:   make(chan *instance, size),
		size:    size,
		newFn:   newFn,
		closing: make(chan struct{}),
	}
}

// fill puts the first instances in; len(insts) <= size, and the remaining
// slots start empty.
func (p *pool) fill(insts []*instance) {
	for _, in := range insts {
		p.live.Add(1)
		p.slots <- in
	}
	for i := len(insts); i < p.size; i++ {
		p.slots <- nil
	}
}

// get borrows an instance, waiting for a free slot until ctx is done. The
// caller must hand it back with put or discard.
func (p *pool) get(ctx context.Context) (*instance, error) {
	var in *instance
	select {
	case in = <-p.slots:
	default:
		select {
		case in = <-p.slots:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.closing:
			return nil, ErrClosed
		}
	}
	if p.closed.Load() {
		p.slots <- in
		return nil, ErrClosed
	}
	if in == nil {
		var err error
		if in, err = p.newFn(ctx); err != nil {
			p.slots <- nil
			return nil, err
		}
		p.live.Add(1)
	}
	return in, nil
}

// put returns a healthy instance.
func (p *pool) put(in *instance) { p.slots <- in }

// discard closes a broken instance and replaces it in the background.
func (p *pool) discard(in *instance) {
	in.close()
	p.live.Add(-1)
	p.replaced.Add(1)
	if p.closed.Load() {
		p.slots <- nil
		return
	}
	go func() {
		fresh, err := p.newFn(context.Background())
		if err != nil {
			if p.onDrop != nil {
				p.onDrop(err)
			}
			p.slots <- nil // the next borrower retries
			return
		}
		p.live.Add(1)
		p.slots <- fresh
	}()
}

// close stops new borrows, waits for every slot to come back, and closes
// the instances. Safe to call more than once and concurrently: every call
// returns once the pool is closed.
func (p *pool) close() {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		close(p.closing)
		for i := 0; i < p.size; i++ {
			if in := <-p.slots; in != nil {
				in.close()
				p.live.Add(-1)
			}
		}
	})
}
