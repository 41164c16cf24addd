package store

import (
	"context"
	"math"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"mlbox/store/search"
)

// SearchRunsRequest is the input of SearchRuns.
type SearchRunsRequest struct {
	ExperimentIDs []string
	Filter        string
	ViewType      int
	MaxResults    int
	OrderBy       []string
	PageToken     string
}

// MaxSearchRuns is MLflow's cap on runs/search max_results.
const MaxSearchRuns = 50000

// SearchRuns evaluates the filter on the in-memory index, sorts, pages, and
// reads the page's runs from the file.
func (s *Store) SearchRuns(ctx context.Context, req SearchRunsRequest) ([]*Run, string, error) {
	if req.MaxResults == 0 {
		req.MaxResults = 1000
	}
	if req.MaxResults < 1 || req.MaxResults > MaxSearchRuns {
		return nil, "", Invalidf("Invalid value for request parameter max_results. It must be at most %d, but got value %d", MaxSearchRuns, req.MaxResults)
	}
	ids, next, err := s.searchRunIDs(req)
	if err != nil {
		return nil, "", err
	}
	runs := make([]*Run, 0, len(ids))
	pend := s.pending.latest(ids...)
	err = s.view(ctx, func(tx *bolt.Tx) error {
		for _, id := range ids {
			r, err := readRun(tx, id, pend[id])
			if err != nil {
				if KindOf(err) == KindNotFound {
					continue // purged between index and read
				}
				return err
			}
			runs = append(runs, r)
		}
		return nil
	})
	return runs, next, err
}

// runKey reads one sortable value of a run for order_by.
type runKey func(ord int32) (num float64, str string, isNum, ok bool)

func (s *Store) searchRunIDs(req SearchRunsRequest) ([]string, string, error) {
	conds, orders, offset, err := parseSearch(search.Runs, req.Filter, req.OrderBy, req.PageToken)
	if err != nil {
		return nil, "", err
	}
	ix := s.runs
	ix.mu.RLock()
	defer ix.mu.RUnlock()

	preds := make([]func(int32) bool, 0, len(conds))
	for _, c := range conds {
		preds = append(preds, ix.predicate(c))
	}
	var hits []int32
	for _, exp := range dedupe(req.ExperimentIDs) {
	runs:
		for _, ord := range ix.byExp[exp] {
			if !viewMatches(req.ViewType, ix.rows[ord].stage) {
				continue
			}
			for _, p := range preds {
				if !p(ord) {
					continue runs
				}
			}
			hits = append(hits, ord)
		}
	}
	keys := make([]runKey, len(orders))
	for i, o := range orders {
		keys[i] = ix.orderKey(o)
	}
	rows := ix.rows
	slices.SortFunc(hits, func(a, b int32) int {
		for i, k := range keys {
			if c := compareRunKeys(k, a, b, orders[i].Ascending); c != 0 {
				return c
			}
		}
		ra, rb := &rows[a], &rows[b]
		if c := cmpInt(rb.start, ra.start); c != 0 {
			return c
		}
		return strings.Compare(ra.id, rb.id)
	})
	pageOrds, next := page(hits, offset, req.MaxResults)
	ids := make([]string, len(pageOrds))
	for i, o := range pageOrds {
		ids[i] = rows[o].id
	}
	return ids, next, nil
}

func dedupe(ids []string) []string {
	seen := map[string]bool{}
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// compareRunKeys orders present values by direction; missing values sort
// last whatever the direction (as MLflow does), NaN just before them.
func compareRunKeys(k runKey, a, b int32, asc bool) int {
	na, sa, numA, okA := k(a)
	nb, sb, _, okB := k(b)
	switch {
	case !okA && !okB:
		return 0
	case !okA:
		return 1
	case !okB:
		return -1
	}
	var c int
	if numA {
		nanA, nanB := math.IsNaN(na), math.IsNaN(nb)
		switch {
		case nanA && nanB:
			return 0
		case nanA:
			return 1
		case nanB:
			return -1
		case na < nb:
			c = -1
		case na > nb:
			c = 1
		}
	} else {
		c = strings.Compare(sa, sb)
	}
	if !asc {
		c = -c
	}
	return c
}

func (ix *runIndex) orderKey(o search.OrderBy) runKey {
	switch o.Type {
	case search.Metric:
		col := ix.metrics[o.Key]
		return func(ord int32) (float64, string, bool, bool) {
			v, ok := col.get(ord)
			return v, "", true, ok
		}
	case search.Param, search.Tag:
		col := ix.params[o.Key]
		if o.Type == search.Tag {
			col = ix.tags[o.Key]
		}
		return func(ord int32) (float64, string, bool, bool) {
			v, ok := col.get(ord)
			return 0, v, false, ok
		}
	}
	if num, ok := ix.attrNum(o.Key); ok {
		return func(ord int32) (float64, string, bool, bool) {
			v, ok := num(ord)
			return v, "", true, ok
		}
	}
	str := ix.attrStr(o.Key)
	return func(ord int32) (float64, string, bool, bool) {
		if str == nil {
			return 0, "", false, false
		}
		return 0, str(ord), false, true
	}
}

func (ix *runIndex) attrNum(key string) (func(int32) (float64, bool), bool) {
	switch key {
	case "start_time":
		return func(o int32) (float64, bool) { return float64(ix.rows[o].start), true }, true
	case "end_time":
		return func(o int32) (float64, bool) { r := &ix.rows[o]; return float64(r.end), r.hasEnd }, true
	}
	return nil, false
}

func (ix *runIndex) attrStr(key string) func(int32) string {
	switch key {
	case "run_id":
		return func(o int32) string { return ix.rows[o].id }
	case "run_name":
		return func(o int32) string { return ix.rows[o].name }
	case "user_id":
		return func(o int32) string { return ix.rows[o].user }
	case "status":
		return func(o int32) string { return ix.rows[o].status }
	case "artifact_uri":
		return func(o int32) string { return ix.rows[o].artifactURI }
	case "lifecycle_stage":
		return func(o int32) string { return ix.rows[o].stage }
	case "experiment_id":
		return func(o int32) string { return ix.rows[o].exp }
	}
	return nil
}

// predicate compiles one clause into a test on a run ordinal.
func (ix *runIndex) predicate(c search.Comparison) func(int32) bool {
	switch c.Type {
	case search.Metric:
		col := ix.metrics[c.Key]
		switch c.Op {
		case "IS NULL":
			return func(o int32) bool { _, ok := col.get(o); return !ok }
		case "IS NOT NULL":
			return func(o int32) bool { _, ok := col.get(o); return ok }
		}
		if col == nil {
			return func(int32) bool { return false }
		}
		want := c.Value.Num
		return func(o int32) bool {
			v, ok := col.get(o)
			return ok && search.CompareNumber(c.Op, v, want)
		}
	case search.Param, search.Tag:
		col := ix.params[c.Key]
		if c.Type == search.Tag {
			col = ix.tags[c.Key]
		}
		return func(o int32) bool {
			v, ok := col.get(o)
			return c.MatchString(v, ok)
		}
	case search.Dataset:
		return func(o int32) bool {
			for _, d := range ix.rows[o].datasets {
				var v string
				switch c.Key {
				case "name":
					v = d.name
				case "digest":
					v = d.digest
				case "context":
					v = d.context
				}
				if search.CompareString(c.Op, v, c.Value) {
					return true
				}
			}
			return false
		}
	}
	if num, ok := ix.attrNum(c.Key); ok {
		return func(o int32) bool {
			v, ok := num(o)
			switch c.Op {
			case "IS NULL":
				return !ok
			case "IS NOT NULL":
				return ok
			}
			return ok && search.CompareNumber(c.Op, v, c.Value.Num)
		}
	}
	str := ix.attrStr(c.Key)
	if str == nil {
		return func(int32) bool { return false }
	}
	return func(o int32) bool { return search.CompareString(c.Op, str(o), c.Value) }
}
