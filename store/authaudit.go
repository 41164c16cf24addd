package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The accounts' audit trail (schema 6): logins, failed logins, changes of
// users, permissions, roles and tokens, in order, newest kept.
//
//	auth_audit  u64be(seq) -> AuthAuditEntry JSON

var bktAuthAudit = []byte("auth_audit")

func migrateAuthAudit(tx *bolt.Tx, _ *Store) error {
	_, err := tx.CreateBucketIfNotExists(bktAuthAudit)
	return err
}

// MaxAuthAudit is how many entries the trail keeps: appending beyond it
// drops the oldest. (A variable for tests.)
var MaxAuthAudit uint64 = 100_000

// AuthAuditEntry is one event of the accounts' audit trail.
type AuthAuditEntry struct {
	Seq    uint64 `json:"seq"`
	Time   int64  `json:"time"`             // unix ms
	Action string `json:"action"`           // "login", "login.failed", "token.created", ...
	Actor  string `json:"actor,omitempty"`  // who did it ("" anonymous)
	Target string `json:"target,omitempty"` // the user, role or token it is about
	Detail string `json:"detail,omitempty"`
	Remote string `json:"remote,omitempty"` // the client's address
}

// AppendAuthAudit records entries, in order, and trims the trail to
// MaxAuthAudit.
func (s *Store) AppendAuthAudit(ctx context.Context, entries ...AuthAuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktAuthAudit)
		now := time.Now().UnixMilli()
		for _, e := range entries {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			e.Seq = seq
			if e.Time == 0 {
				e.Time = now
			}
			v, err := json.Marshal(&e)
			if err != nil {
				return err
			}
			if err := b.Put(u64(seq), v); err != nil {
				return err
			}
		}
		// Trim the oldest. Keys are consecutive sequence numbers (only the
		// oldest are ever deleted), so the count is last - first + 1.
		last := b.Sequence()
		c := b.Cursor()
		for k, _ := c.First(); k != nil && last-binary.BigEndian.Uint64(k)+1 > MaxAuthAudit; k, _ = c.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuthAuditFilter selects entries: those before seq Before (0: the
// newest), with Action (exact, or a prefix ending in ".") and naming User
// as actor or target; at most Limit (default 100, at most 1000).
type AuthAuditFilter struct {
	Before uint64
	Action string
	User   string
	Limit  int
}

// ListAuthAudit returns entries newest first and the seq to pass as
// Before for the next page (0: no more).
func (s *Store) ListAuthAudit(ctx context.Context, f AuthAuditFilter) ([]AuthAuditEntry, uint64, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	out := []AuthAuditEntry{}
	var next uint64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bktAuthAudit).Cursor()
		var k, v []byte
		if f.Before == 0 {
			k, v = c.Last()
		} else {
			k, v = c.Seek(u64(f.Before))
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		for ; k != nil; k, v = c.Prev() {
			var e AuthAuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if !auditMatches(e, f) {
				continue
			}
			if len(out) == f.Limit {
				next = out[len(out)-1].Seq
				break
			}
			out = append(out, e)
		}
		return nil
	})
	return out, next, err
}

func auditMatches(e AuthAuditEntry, f AuthAuditFilter) bool {
	if f.Action != "" {
		if f.Action[len(f.Action)-1] == '.' {
			if len(e.Action) < len(f.Action) || e.Action[:len(f.Action)] != f.Action {
				return false
			}
		} else if e.Action != f.Action {
			return false
		}
	}
	return f.User == "" || e.Actor == f.User || e.Target == f.User
}
