package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Top-level buckets.
var (
	bktMeta      = []byte("meta")
	bktExps      = []byte("experiments")
	bktExpNames  = []byte("experiment_names")
	bktRuns      = []byte("runs")
	bktDatasets  = []byte("datasets")
	keySchema    = []byte("schema_version")
	keyCreatedAt = []byte("created_at")
)

// SchemaVersion is the layout version this binary writes.
const SchemaVersion = 6

// migrations[i] upgrades a file from schema version i to i+1. Version 0 is
// an empty file. Add a function here (never edit an old one) when the
// layout changes, and bump SchemaVersion.
var migrations = []func(tx *bolt.Tx, s *Store) error{
	0: migrateInit,
	1: migrateLoggedModels,
	2: migrateRegistryAndJobs,
	3: migrateDeployments,
	4: migrateAuth,
	5: migrateAuthAudit,
}

// bktDeployments holds per-model serving settings (schema 4):
// model name -> JSON owned by serve/.
var bktDeployments = []byte("deployments")

func migrateDeployments(tx *bolt.Tx, _ *Store) error {
	_, err := tx.CreateBucketIfNotExists(bktDeployments)
	return err
}

// Buckets of schema 3: the model registry, its audit trail and gates,
// webhooks with their delivery queue and log, and scheduler jobs.
var (
	bktRegModels  = []byte("registered_models")  // name -> RegisteredModel JSON
	bktModelVers  = []byte("model_versions")     // name \x00 u64be(version) -> ModelVersion JSON
	bktAudit      = []byte("audit")              // name \x00 u64be(seq) -> AuditEntry JSON
	bktApprovals  = []byte("approvals")          // name \x00 u64be(version) \x00 u64be(seq) -> Approval JSON
	bktGates      = []byte("gates")              // name -> []GateRule JSON
	bktWebhooks   = []byte("webhooks")           // webhook_id -> Webhook JSON
	bktDeliveries = []byte("webhook_deliveries") // delivery_id -> Delivery JSON (the log)
	bktDeliveryQ  = []byte("webhook_queue")      // u64be(due unix ms) \x00 delivery_id -> "" (pending)
	bktJobs       = []byte("jobs")               // job name -> Job JSON
	bktJobRuns    = []byte("job_runs")           // job name \x00 u64be(seq) -> JobRun JSON
	bktRetention  = []byte("retention_log")      // u64be(seq) -> RetentionRecord JSON
)

// migrateRegistryAndJobs adds the registry, webhook and scheduler buckets (schema 3).
func migrateRegistryAndJobs(tx *bolt.Tx, _ *Store) error {
	for _, b := range [][]byte{bktRegModels, bktModelVers, bktAudit, bktApprovals, bktGates, bktWebhooks, bktDeliveries, bktDeliveryQ, bktJobs, bktJobRuns, bktRetention} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// migrateLoggedModels adds MLflow 3 logged models (schema 2).
func migrateLoggedModels(tx *bolt.Tx, _ *Store) error {
	_, err := tx.CreateBucketIfNotExists(bktLoggedModels)
	return err
}

func migrateInit(tx *bolt.Tx, s *Store) error {
	for _, b := range [][]byte{bktMeta, bktExps, bktExpNames, bktRuns, bktDatasets} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	now := time.Now().UnixMilli()
	if err := tx.Bucket(bktMeta).Put(keyCreatedAt, u64(uint64(now))); err != nil {
		return err
	}
	// The Default experiment "0" that every client assumes.
	exp := Experiment{
		ExperimentID:     "0",
		Name:             "Default",
		ArtifactLocation: s.opts.ArtifactRoot + "/0",
		LifecycleStage:   StageActive,
		CreationTime:     now,
		LastUpdateTime:   now,
	}
	v, err := json.Marshal(&exp)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bktExps).Put(u64(0), v); err != nil {
		return err
	}
	return tx.Bucket(bktExpNames).Put([]byte(exp.Name), u64(0))
}

func (s *Store) migrate() error {
	// An up-to-date file is not written to (a full disk can still open it).
	current := false
	if err := s.db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bktMeta); meta != nil {
			if v := meta.Get(keySchema); len(v) == 8 {
				current = binary.BigEndian.Uint64(v) == SchemaVersion
			}
		}
		return nil
	}); err != nil || current {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		var ver uint64
		if meta != nil {
			if v := meta.Get(keySchema); len(v) == 8 {
				ver = binary.BigEndian.Uint64(v)
			}
		}
		if ver > SchemaVersion {
			return fmt.Errorf("%s has schema version %d, newer than this binary's %d: upgrade mlbox", s.path, ver, SchemaVersion)
		}
		for ; ver < SchemaVersion; ver++ {
			s.log.Info("migrating store", "from", ver, "to", ver+1)
			if err := migrations[ver](tx, s); err != nil {
				return fmt.Errorf("migration %d→%d: %w", ver, ver+1, err)
			}
		}
		return tx.Bucket(bktMeta).Put(keySchema, u64(SchemaVersion))
	})
}

// SchemaVersionOf reads the stored schema version (for tests and tooling).
func (s *Store) SchemaVersionOf() (uint64, error) {
	var ver uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bktMeta).Get(keySchema); len(v) == 8 {
			ver = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return ver, err
}
