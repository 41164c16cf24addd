package store

import (
	"context"
	"slices"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// GetMetricHistory returns every point of one metric of a run ordered by
// (timestamp, step, value), paged when max > 0.
func (s *Store) GetMetricHistory(ctx context.Context, runID, key string, max int, token string) ([]Metric, string, error) {
	if runID == "" {
		return nil, "", Invalidf("Missing value for required parameter 'run_id'. See the API docs for more information about request parameters.")
	}
	if key == "" {
		return nil, "", Invalidf("Missing value for required parameter 'metric_key'. See the API docs for more information about request parameters.")
	}
	offset, err := decodePageToken(token)
	if err != nil {
		return nil, "", err
	}
	var out []Metric
	pend := s.pending.history(runID, key) // before the transaction: see pending.go
	err = s.view(ctx, func(tx *bolt.Tx) error {
		// MLflow answers an unknown run's history with an empty list.
		if b := tx.Bucket(bktRuns).Bucket([]byte(runID)); b != nil {
			out = mergeHistory(readHistory(b, key, nil, nil), pend)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	sortHistory(out)
	if max <= 0 {
		max = len(out) + 1
	}
	res, next := page(out, offset, max)
	return res, next, nil
}

// readHistory reads one metric's points in (step, timestamp, value) order,
// optionally limited to steps in [from, to].
func readHistory(b *bolt.Bucket, key string, from, to *int64) []Metric {
	h := b.Bucket(rkHistory)
	if h == nil {
		return nil
	}
	kb := h.Bucket([]byte(key))
	if kb == nil {
		return nil
	}
	out := make([]Metric, 0, 64)
	c := kb.Cursor()
	var k, v []byte
	if from != nil {
		k, v = c.Seek(appendI64(nil, *from))
	} else {
		k, v = c.First()
	}
	for ; k != nil; k, v = c.Next() {
		if len(k) != 24 {
			continue
		}
		m := Metric{Key: key, Step: readI64(k[0:8]), Timestamp: readI64(k[8:16]), Value: readF64(k[16:24])}
		if to != nil && m.Step > *to {
			break
		}
		applyExtra(&m, v)
		out = append(out, m)
	}
	return out
}

// inSteps keeps the points with a step in [from, to] (all without bounds).
func inSteps(ms []Metric, from, to *int64) []Metric {
	if from == nil || len(ms) == 0 {
		return ms
	}
	out := ms[:0:0]
	for _, m := range ms {
		if m.Step >= *from && m.Step <= *to {
			out = append(out, m)
		}
	}
	return out
}

// sortHistory orders by (timestamp, step, value) as MLflow does; stored
// order is by step, which is the same order in the usual case.
func sortHistory(ms []Metric) {
	less := func(a, b *Metric) int {
		if a.Timestamp != b.Timestamp {
			return cmpInt(a.Timestamp, b.Timestamp)
		}
		if a.Step != b.Step {
			return cmpInt(a.Step, b.Step)
		}
		switch {
		case a.Value < b.Value:
			return -1
		case a.Value > b.Value:
			return 1
		}
		return 0
	}
	sorted := true
	for i := 1; i < len(ms); i++ {
		if less(&ms[i-1], &ms[i]) > 0 {
			sorted = false
			break
		}
	}
	if !sorted {
		slices.SortStableFunc(ms, func(a, b Metric) int { return less(&a, &b) })
	}
}

// GetMetricHistoryBulkInterval returns points of one metric for several
// runs, at up to max steps sampled evenly over [start, end] (all steps when
// they fit), as the UI's chart wants them.
func (s *Store) GetMetricHistoryBulkInterval(ctx context.Context, runIDs []string, key string, start, end *int64, max int) ([]Metric, error) {
	switch {
	case len(runIDs) == 0:
		return nil, Invalidf("GetMetricHistoryBulkInterval request must specify at least one run_id.")
	case len(runIDs) > 100:
		return nil, Invalidf("GetMetricHistoryBulkInterval request cannot specify more than 100 run_ids. Received %d run_ids.", len(runIDs))
	case key == "":
		return nil, Invalidf("Missing value for required parameter 'metric_key'. See the API docs for more information about request parameters.")
	case (start == nil) != (end == nil):
		return nil, Invalidf("If either start step or end step are specified, both must be specified.")
	case start != nil && *start > *end:
		return nil, Invalidf("end_step must be greater than start_step. Found start_step=%d and end_step=%d.", *start, *end)
	}
	if max == 0 {
		max = 2500
	}
	if max < 1 || max > 2500 {
		return nil, Invalidf("max_results must be between 1 and 2500.")
	}
	perRun := make([][]Metric, len(runIDs))
	pend := make([][]Metric, len(runIDs)) // before the transaction: see pending.go
	for i, id := range runIDs {
		pend[i] = s.pending.history(id, key)
	}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		for i, id := range runIDs {
			b, _, err := runBucket(tx, id)
			if err != nil {
				return err
			}
			perRun[i] = mergeHistory(readHistory(b, key, start, end), inSteps(pend[i], start, end))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	steps := map[int64]bool{}
	for _, ms := range perRun {
		for _, m := range ms {
			steps[m.Step] = true
		}
	}
	all := make([]int64, 0, len(steps))
	for st := range steps {
		all = append(all, st)
	}
	slices.Sort(all)
	keep := steps
	if len(all) > max {
		keep = map[int64]bool{}
		// evenly spaced, always including the first and last step
		for i := 0; i < max; i++ {
			idx := 0
			if max > 1 {
				idx = i * (len(all) - 1) / (max - 1)
			}
			keep[all[idx]] = true
		}
	}
	var out []Metric
	for i, ms := range perRun {
		for _, m := range ms {
			if keep[m.Step] {
				m.RunID = runIDs[i]
				out = append(out, m)
			}
		}
	}
	return out, nil // per run in request order, each by step
}

// AppendMetricHistoryJSON appends the get-history response body
// ({"metrics": [...], "next_page_token": ...}) for one metric of a run.
// It is GetMetricHistory without the intermediate []Metric: when the
// stored (step, timestamp, value) order is also the (timestamp, step, value)
// order MLflow returns — true whenever timestamps do not go backwards as
// steps grow — it encodes straight from the cursor and skips to the page
// without decoding what precedes it. Otherwise it sorts in memory.
func (s *Store) AppendMetricHistoryJSON(ctx context.Context, dst []byte, runID, key string, max int, token string) ([]byte, error) {
	if runID == "" {
		return nil, Invalidf("Missing value for required parameter 'run_id'. See the API docs for more information about request parameters.")
	}
	if key == "" {
		return nil, Invalidf("Missing value for required parameter 'metric_key'. See the API docs for more information about request parameters.")
	}
	offset, err := decodePageToken(token)
	if err != nil {
		return nil, err
	}
	// Points still pending in the metric log take the general path, which
	// merges them.
	fallback := s.pending.has(runID, key)
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if fallback {
			return nil
		}
		rb := tx.Bucket(bktRuns).Bucket([]byte(runID))
		var kb *bolt.Bucket
		if rb != nil {
			if h := rb.Bucket(rkHistory); h != nil {
				kb = h.Bucket([]byte(key))
			}
		}
		if kb == nil { // unknown run or key: an empty history, as in MLflow
			dst = append(dst, "{}"...)
			return nil
		}
		// Pass 1, keys only: count, and check the order.
		n, sorted := 0, true
		var prevTS int64
		c := kb.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) != 24 {
				continue
			}
			ts := readI64(k[8:16])
			if n > 0 && ts < prevTS {
				sorted = false
				break
			}
			prevTS = ts
			n++
		}
		if !sorted {
			fallback = true
			return nil
		}
		limit := max
		if limit <= 0 {
			limit = n
		}
		end := min(offset+limit, n)
		prefix := append(append([]byte(`{"key":`), strconvQuote(key)...), `,"value":`...)
		dst = slices.Grow(dst, 48+(end-offset)*(len(prefix)+56))
		dst = append(dst, '{')
		if offset < end {
			dst = append(dst, `"metrics":[`...)
			i := 0
			first := true
			for k, v := c.First(); k != nil && i < end; k, v = c.Next() {
				if len(k) != 24 {
					continue
				}
				if i >= offset {
					if !first {
						dst = append(dst, ',')
					}
					first = false
					if len(v) == 0 {
						dst = append(dst, prefix...)
						dst = AppendFloat(dst, readF64(k[16:24]))
						dst = append(dst, `,"timestamp":`...)
						dst = strconv.AppendInt(dst, readI64(k[8:16]), 10)
						dst = append(dst, `,"step":`...)
						dst = strconv.AppendInt(dst, readI64(k[0:8]), 10)
						dst = append(dst, '}')
					} else {
						m := Metric{Key: key, Step: readI64(k[0:8]), Timestamp: readI64(k[8:16]), Value: readF64(k[16:24])}
						applyExtra(&m, v)
						dst = m.AppendJSON(dst)
					}
				}
				i++
			}
			dst = append(dst, ']')
		}
		if end < n {
			if offset < end {
				dst = append(dst, ',')
			}
			dst = append(dst, `"next_page_token":`...)
			dst = append(dst, strconvQuote(encodePageToken(end))...)
		}
		dst = append(dst, '}')
		return nil
	})
	if err != nil || !fallback {
		return dst, err
	}
	ms, next, err := s.GetMetricHistory(ctx, runID, key, max, token)
	if err != nil {
		return nil, err
	}
	return AppendMetricsJSON(dst, ms, next), nil
}

// AppendMetricsJSON appends {"metrics": [...], "next_page_token": ...}.
func AppendMetricsJSON(b []byte, ms []Metric, next string) []byte {
	b = slices.Grow(b, 32+len(ms)*80)
	b = append(b, '{')
	if len(ms) > 0 {
		b = append(b, `"metrics":[`...)
		for i := range ms {
			if i > 0 {
				b = append(b, ',')
			}
			b = ms[i].AppendJSON(b)
		}
		b = append(b, ']')
	}
	if next != "" {
		if len(ms) > 0 {
			b = append(b, ',')
		}
		b = append(append(b, `"next_page_token":`...), strconvQuote(next)...)
	}
	return append(b, '}')
}

func strconvQuote(s string) []byte { return strconv.AppendQuote(nil, s) }
