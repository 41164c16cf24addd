package store

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// wtx is the write transaction handed to a write function. Besides the bbolt
// transaction it collects work to do once the commit is durable: index
// updates and events. They are discarded if the transaction rolls back.
type wtx struct {
	*bolt.Tx
	after  []func()
	events []Event
}

// onCommit queues fn to run after the commit succeeded, in commit order.
func (t *wtx) onCommit(fn func()) { t.after = append(t.after, fn) }

// emit queues an event for the hooks, sent after the commit.
func (t *wtx) emit(typ string, data map[string]any) {
	t.events = append(t.events, Event{Type: typ, Data: data})
}

type writeReq struct {
	fn   func(*wtx) error
	done chan error
	// set by the committer
	after  []func()
	events []Event
}

// update runs fn in a write transaction shared with other concurrent writers
// (group commit) and returns once the transaction is durable on disk, or
// with fn's error. fn must be deterministic given the database state: when a
// neighbour in the same group fails, fn is run again in a new transaction.
// fn must not keep references into the transaction.
func (s *Store) update(ctx context.Context, fn func(*wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.ro.Load() != nil {
		return s.readOnlyErr()
	}
	s.mu.RLock()
	if s.closed.Load() {
		s.mu.RUnlock()
		return ErrClosed
	}
	r := &writeReq{fn: fn, done: make(chan error, 1)}
	s.writes <- r
	s.mu.RUnlock()
	// Once queued, the write is applied even if ctx ends: callers must not
	// report failure for a write that may be committed.
	return <-r.done
}

// enqueue is update for the store's own writes during Close (the final
// metric flush): it skips the closed check. The committer must be running.
func (s *Store) enqueue(fn func(*wtx) error) error {
	r := &writeReq{fn: fn, done: make(chan error, 1)}
	s.writes <- r
	return <-r.done
}

func (s *Store) committer() {
	defer s.wg.Done()
	batch := make([]*writeReq, 0, s.opts.MaxBatch)
	for {
		var first *writeReq
		select {
		case first = <-s.writes:
		case <-s.quit:
			// drain what was queued before Close
			for {
				select {
				case r := <-s.writes:
					s.commitGroup([]*writeReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		s.fill(&batch)
		s.commitGroup(batch)
	}
}

// fill appends queued requests without blocking.
func (s *Store) fill(batch *[]*writeReq) {
	for len(*batch) < s.opts.MaxBatch {
		select {
		case r := <-s.writes:
			*batch = append(*batch, r)
		default:
			return
		}
	}
}

// commitGroup applies the group in order in one transaction. If a function
// fails, the transaction is rolled back, the functions before it are
// committed on their own, the failing one gets its error (it failed on the
// state those produced), and the rest of the group is processed again.
func (s *Store) commitGroup(group []*writeReq) {
	for len(group) > 0 {
		failed, err := s.tryGroup(group)
		if err == nil {
			return
		}
		if failed < 0 { // begin/commit itself failed: everyone gets the error
			if noSpace(err) {
				err = s.enterReadOnly(err, false)
			}
			for _, r := range group {
				r.done <- err
			}
			s.stats.FailedTx.Add(uint64(len(group)))
			return
		}
		if failed > 0 {
			if _, err2 := s.tryGroup(group[:failed]); err2 != nil {
				// Deterministic functions cannot fail here; if one does, report it.
				for _, r := range group[:failed] {
					select {
					case r.done <- err2:
					default:
					}
				}
			}
		}
		group[failed].done <- err
		s.stats.FailedTx.Add(1)
		group = group[failed+1:]
	}
}

// tryGroup returns (-1, err) if the transaction could not be committed,
// (i, err) if function i failed, (0, nil) on success, in which case every
// request has been answered.
func (s *Store) tryGroup(group []*writeReq) (int, error) {
	tx, err := s.db.Begin(true)
	if err != nil {
		return -1, err
	}
	for i, r := range group {
		t := &wtx{Tx: tx}
		if err := r.fn(t); err != nil {
			_ = tx.Rollback()
			return i, err
		}
		// Outbox: webhook deliveries for the events are written in the
		// same transaction, so they are durable exactly when the change is.
		if len(t.events) > 0 {
			if err := s.queueWebhookDeliveriesTx(t); err != nil {
				_ = tx.Rollback()
				return i, err
			}
		}
		r.after, r.events = t.after, t.events
	}
	start := time.Now()
	if err := tx.Commit(); err != nil {
		return -1, err
	}
	s.stats.CommitNanos.Add(uint64(time.Since(start)))
	s.stats.Commits.Add(1)
	s.stats.Writes.Add(uint64(len(group)))
	s.hooksMu.RLock()
	hooks := s.hooks
	s.hooksMu.RUnlock()
	for _, r := range group {
		for _, fn := range r.after {
			fn()
		}
		for _, ev := range r.events {
			for _, h := range hooks {
				h(ev)
			}
		}
		r.done <- nil
	}
	return 0, nil
}
