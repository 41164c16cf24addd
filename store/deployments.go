package store

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"
)

// Deployment settings are opaque JSON owned by the serving layer; the store
// only persists them per registered model name.

// GetDeploymentConfig returns the stored settings of a model (nil if none).
func (s *Store) GetDeploymentConfig(ctx context.Context, model string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = bytes.Clone(tx.Bucket(bktDeployments).Get([]byte(model)))
		return nil
	})
	return out, err
}

// PutDeploymentConfig stores a model's settings (nil deletes them).
func (s *Store) PutDeploymentConfig(ctx context.Context, model string, cfg []byte) error {
	cfg = bytes.Clone(cfg)
	return s.update(ctx, func(tx *wtx) error {
		if cfg == nil {
			return tx.Bucket(bktDeployments).Delete([]byte(model))
		}
		return tx.Bucket(bktDeployments).Put([]byte(model), cfg)
	})
}

// ListDeploymentConfigs returns every stored model → settings.
func (s *Store) ListDeploymentConfigs(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bktDeployments).ForEach(func(k, v []byte) error {
			out[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	return out, err
}
