package app

import (
	"errors"
	"net/http"
	"strconv"
	"syscall"

	"mlbox/store"
)

// registerHealthMetrics exports the state /readyz reports: the free space
// of the data dir's file system, read-only mode, the run index.
func (a *App) registerHealthMetrics() {
	a.metrics.NewGauge("mlbox_store_disk_free_bytes", func() float64 {
		n, err := a.store.DiskFree()
		if err != nil {
			return -1
		}
		return float64(n)
	})
	a.metrics.NewGauge("mlbox_store_read_only", func() float64 {
		if ro, _ := a.store.ReadOnly(); ro {
			return 1
		}
		return 0
	})
	a.metrics.NewGauge("mlbox_store_ready", func() float64 {
		if ok, _ := a.store.Ready(); ok {
			return 1
		}
		return 0
	})
}

// noSpaceError is the answer to a write that failed for lack of space
// outside the store (an artifact upload to local disk): RESOURCE_EXHAUSTED
// with 507, which MLflow's client does not retry.
func (a *App) noSpaceError(err error) *apiError {
	where := a.cfg.Artifacts.Root
	if where == "" {
		where = a.cfg.DataDir
	}
	free := "unknown"
	if n, err := store.DiskFreeAt(where); err == nil {
		free = strconv.FormatUint(n, 10) + " bytes"
	}
	return &apiError{http.StatusInsufficientStorage, "RESOURCE_EXHAUSTED",
		"the disk holding " + where + " is full (" + free + " free): " + err.Error()}
}

// isNoSpace reports a write that failed for lack of space or quota.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
