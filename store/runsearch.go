package store

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

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
		var sizes runSizes
		for _, id := range ids {
			r, err := readRunSized(tx, id, pend[id], &sizes)
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
	ix := s.runs
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	hits, offset, err := ix.sortedHits(req)
	if err != nil {
		return nil, "", err
	}
	pageOrds, next := page(hits, offset, req.MaxResults)
	ids := make([]string, len(pageOrds))
	for i, o := range pageOrds {
		ids[i] = ix.rows[o].id
	}
	return ids, next, nil
}

// CountRuns returns how many runs a search matches (its pages
// together), ignoring MaxResults and PageToken.
func (s *Store) CountRuns(req SearchRunsRequest) (int, error) {
	req.PageToken = ""
	ix := s.runs
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	hits, _, err := ix.sortedHits(req)
	return len(hits), err
}

// sortedHits returns the runs a search matches, in order, and the page
// token's offset. Results are cached while the index does not change, so
// that the pages of one search (a table scrolled through 100k runs) do
// not filter and sort again. The caller holds ix.mu for reading.
func (ix *runIndex) sortedHits(req SearchRunsRequest) ([]int32, int, error) {
	conds, orders, offset, err := parseSearch(search.Runs, req.Filter, req.OrderBy, req.PageToken)
	if err != nil {
		return nil, 0, err
	}
	exps := dedupe(req.ExperimentIDs)
	key := searchKey(exps, req.Filter, req.OrderBy, req.ViewType)
	if hits, ok := ix.cache.get(ix.gen, key); ok {
		return hits, offset, nil
	}
	preds := make([]func(int32) bool, 0, len(conds))
	for _, c := range conds {
		preds = append(preds, ix.predicate(c))
	}
	var hits []int32
	for _, exp := range exps {
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
	ix.cache.put(ix.gen, key, hits)
	return hits, offset, nil
}

// searchKey identifies a search's result set (not its page).
func searchKey(exps []string, filter string, orderBy []string, view int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", view)
	for _, l := range [][]string{exps, {filter}, orderBy} {
		b.WriteByte(0)
		for _, s := range l {
			fmt.Fprintf(&b, "%d:%s", len(s), s)
		}
	}
	return b.String()
}

// searchCacheEntries bounds the cached result sets (an int32 per hit:
// 400 KB for 100k runs).
const searchCacheEntries = 8

// searchCache holds recent sorted results, valid for one index
// generation.
type searchCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string][]int32
	order   []string // oldest first
}

func (c *searchCache) get(gen uint64, key string) ([]int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return nil, false
	}
	hits, ok := c.entries[key]
	return hits, ok
}

func (c *searchCache) put(gen uint64, key string, hits []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.entries == nil {
		c.gen, c.entries, c.order = gen, map[string][]int32{}, c.order[:0]
	}
	if _, ok := c.entries[key]; ok {
		return
	}
	if len(c.order) == searchCacheEntries {
		delete(c.entries, c.order[0])
		c.order = append(c.order[:0], c.order[1:]...)
	}
	c.entries[key] = hits
	c.order = append(c.order, key)
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

// RunColumns returns the param, metric and tag keys that at least one of
// an experiment's runs (deleted ones too) has, each sorted: the columns
// a runs table can show.
func (s *Store) RunColumns(expID string) (params, metrics, tags []string) {
	ix := s.runs
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	ords := ix.byExp[expID]
	anyHas := func(has bitset) bool {
		for _, o := range ords {
			if has.has(o) {
				return true
			}
		}
		return false
	}
	for k, c := range ix.params {
		if anyHas(c.has) {
			params = append(params, k)
		}
	}
	for k, c := range ix.metrics {
		if anyHas(c.has) {
			metrics = append(metrics, k)
		}
	}
	for k, c := range ix.tags {
		if anyHas(c.has) {
			tags = append(tags, k)
		}
	}
	slices.Sort(params)
	slices.Sort(metrics)
	slices.Sort(tags)
	return params, metrics, tags
}
