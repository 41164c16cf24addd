package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AuditEntry records one registry change or decision: stage moves, alias
// moves, approvals, deletions, gate decisions and rollbacks.
type AuditEntry struct {
	Seq     uint64 `json:"seq"`
	Time    int64  `json:"time"` // unix ms
	Model   string `json:"model"`
	Version string `json:"version,omitempty"`
	Action  string `json:"action"`
	Actor   string `json:"actor"`
	Before  string `json:"before,omitempty"`
	After   string `json:"after,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// auditTx appends an entry under the model's name.
func (s *Store) auditTx(tx *wtx, e AuditEntry) error {
	b := tx.Bucket(bktAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Seq = seq
	if e.Time == 0 {
		e.Time = time.Now().UnixMilli()
	}
	if e.Actor == "" {
		e.Actor = "anonymous"
	}
	v, err := json.Marshal(&e)
	if err != nil {
		return err
	}
	k := binary.BigEndian.AppendUint64(namePrefix(e.Model), seq)
	return b.Put(k, v)
}

// AppendAudit records an entry from outside the registry (e.g. a serving
// rollback).
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) error {
	return s.update(ctx, func(tx *wtx) error { return s.auditTx(tx, e) })
}

// ListAudit returns a model's audit trail, oldest first, after seq `after`.
func (s *Store) ListAudit(ctx context.Context, model string, after uint64, limit int) ([]AuditEntry, error) {
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	var out []AuditEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		p := namePrefix(model)
		c := tx.Bucket(bktAudit).Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(bytes.Clone(p), after+1)); k != nil && bytes.HasPrefix(k, p) && len(out) < limit; k, v = c.Next() {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}
