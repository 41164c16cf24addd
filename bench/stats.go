package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// runResult is one measured repetition of a workload.
type runResult struct {
	Requests    int     `json:"requests"`               // successful requests (for d paged: full histories)
	Errors      int64   `json:"errors"`                 // failed requests during the run
	ElapsedS    float64 `json:"elapsed_s"`              // wall time of the run
	Throughput  float64 `json:"throughput"`             // in result.Unit
	P50Ms       float64 `json:"p50_ms"`                 // exact (nearest-rank) percentiles of recorded latencies
	P99Ms       float64 `json:"p99_ms"`                 //
	MeanMs      float64 `json:"mean_ms"`                //
	MaxMs       float64 `json:"max_ms"`                 //
	DriverCores float64 `json:"driver_cores,omitempty"` // CPU used by this driver / wall time
	ServerCores float64 `json:"server_cores,omitempty"` // CPU used by the started server / wall time
}

// result is one row of the final table: a workload (or a variant of one)
// measured cfg.repeat times.
type result struct {
	ID          string      `json:"id"`       // a, b, c, c-pages, d, d-paged
	Workload    string      `json:"workload"` // a, b, c, d
	Name        string      `json:"name"`
	Unit        string      `json:"unit"`     // unit of throughput
	Headline    string      `json:"headline"` // "throughput" or "p50"
	Median      runResult   `json:"median"`   // per-field median over Runs
	Runs        []runResult `json:"runs"`
	Target      string      `json:"target,omitempty"`
	TargetMet   *bool       `json:"target_met,omitempty"`
	FastTrackML string      `json:"fasttrackml,omitempty"`
	Check       string      `json:"check"` // correctness check of the responses: "ok", "FAILED: ...", "-"
	Notes       []string    `json:"notes,omitempty"`

	meets func(runResult) bool
}

func (r *result) finalize() {
	r.Median = medianRun(r.Runs)
	if r.meets != nil && len(r.Runs) > 0 && r.Median.Requests > 0 {
		ok := r.meets(r.Median)
		r.TargetMet = &ok
	}
	if r.Check == "" {
		r.Check = "-"
	}
}

func medianRun(rs []runResult) runResult {
	med := func(get func(runResult) float64) float64 {
		if len(rs) == 0 {
			return 0
		}
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		slices.Sort(v)
		n := len(v)
		if n%2 == 1 {
			return v[n/2]
		}
		return (v[n/2-1] + v[n/2]) / 2
	}
	var errs int64
	for _, r := range rs {
		errs += r.Errors
	}
	return runResult{
		Requests:    int(med(func(r runResult) float64 { return float64(r.Requests) })),
		Errors:      errs, // total, not median
		ElapsedS:    med(func(r runResult) float64 { return r.ElapsedS }),
		Throughput:  med(func(r runResult) float64 { return r.Throughput }),
		P50Ms:       med(func(r runResult) float64 { return r.P50Ms }),
		P99Ms:       med(func(r runResult) float64 { return r.P99Ms }),
		MeanMs:      med(func(r runResult) float64 { return r.MeanMs }),
		MaxMs:       med(func(r runResult) float64 { return r.MaxMs }),
		DriverCores: med(func(r runResult) float64 { return r.DriverCores }),
		ServerCores: med(func(r runResult) float64 { return r.ServerCores }),
	}
}

// latencyStats fills the latency fields from raw nanosecond latencies.
// Percentiles are exact, nearest-rank: p-th percentile = sorted[ceil(p·n)-1].
func latencyStats(r *runResult, lat []int64) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	var sum float64
	for _, v := range lat {
		sum += float64(v)
	}
	r.P50Ms = ms(percentile(lat, 0.50))
	r.P99Ms = ms(percentile(lat, 0.99))
	r.MeanMs = sum / float64(len(lat)) / 1e6
	r.MaxMs = ms(lat[len(lat)-1])
}

func percentile(sorted []int64, p float64) int64 {
	k := int(math.Ceil(p*float64(len(sorted)))) - 1
	k = max(0, min(k, len(sorted)-1))
	return sorted[k]
}

// cpuMark is a snapshot taken at the start of a measured run.
type cpuMark struct {
	wall   time.Time
	self   time.Duration
	selfOK bool
	srv    time.Duration
	srvOK  bool
	errs   int64
}

func (b *bench) mark() cpuMark {
	m := cpuMark{errs: b.c.errs.Load().count()}
	m.self, m.selfOK = selfCPUTime()
	m.srv, m.srvOK = b.srv.cpuTime()
	m.wall = time.Now()
	return m
}

// finish turns a run's latencies into a runResult. items is the number of
// throughput units achieved (points, requests, histories).
func (b *bench) finish(m cpuMark, lat []int64, items float64) runResult {
	elapsed := time.Since(m.wall)
	r := runResult{
		Requests: len(lat),
		Errors:   b.c.errs.Load().count() - m.errs,
		ElapsedS: elapsed.Seconds(),
	}
	if elapsed > 0 {
		r.Throughput = items / elapsed.Seconds()
	}
	if t, ok := selfCPUTime(); ok && m.selfOK {
		r.DriverCores = (t - m.self).Seconds() / elapsed.Seconds()
	}
	if t, ok := b.srv.cpuTime(); ok && m.srvOK {
		r.ServerCores = (t - m.srv).Seconds() / elapsed.Seconds()
	}
	latencyStats(&r, lat)
	return r
}

func (r runResult) line(unit string) string {
	s := fmt.Sprintf("%s %s  p50 %s  p99 %s  max %s  (%d ok, %d err",
		fmtRate(r.Throughput), unit, fmtMs(r.P50Ms), fmtMs(r.P99Ms), fmtMs(r.MaxMs), r.Requests, r.Errors)
	if r.DriverCores > 0 {
		s += fmt.Sprintf(", driver %.2f cores", r.DriverCores)
	}
	if r.ServerCores > 0 {
		s += fmt.Sprintf(", server %.2f cores", r.ServerCores)
	}
	return s + ")"
}

func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.2fk", v/1e3)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func fmtMs(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 1000:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.0f ms", v)
	}
}

func fmtCores(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func printSummary(w io.Writer, rep *report, cfg *config) {
	if len(rep.Seeding) > 0 {
		fmt.Fprintf(w, "\n== seeding (not part of the measured figures) ==\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "wl\twhat\titems\trequests\ttime\trate\n")
		for _, s := range rep.Seeding {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f s\t%s %s\n", s.Workload, s.What, s.Items, s.Requests, s.Seconds, fmtRate(s.PerSecond), s.Unit)
		}
		tw.Flush()
	}
	if len(rep.Results) == 0 {
		fmt.Fprintf(w, "\n(no results)\n")
		return
	}

	fmt.Fprintf(w, "\n== all runs ==\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id\trun\tthroughput\tp50\tp99\tmax\tok\terr\tdriver cores\tserver cores\n")
	for _, r := range rep.Results {
		for i, x := range r.Runs {
			fmt.Fprintf(tw, "%s\t%d\t%s %s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.ID, i+1, fmtRate(x.Throughput), r.Unit,
				fmtMs(x.P50Ms), fmtMs(x.P99Ms), fmtMs(x.MaxMs), x.Requests, x.Errors, fmtCores(x.DriverCores), fmtCores(x.ServerCores))
		}
	}
	tw.Flush()

	fmt.Fprintf(w, "\n== results: median of %d run(s) — %d cores, GOMAXPROCS %d, %s ==\n", cfg.repeat, rep.NumCPU, rep.GOMAXPROCS, rep.GoVersion)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id\tworkload\tthroughput\tp50\tp99\ttarget\tmet\tcheck\tFastTrackML\n")
	for _, r := range rep.Results {
		met := "-"
		if r.TargetMet != nil {
			met = "yes"
			if !*r.TargetMet {
				met = "NO"
			}
		}
		thr := "-"
		if r.Median.Requests > 0 {
			thr = fmtRate(r.Median.Throughput) + " " + r.Unit
		}
		check := r.Check
		if len(check) > 12 {
			check = check[:12] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, thr, fmtMs(r.Median.P50Ms), fmtMs(r.Median.P99Ms),
			orDash(r.Target), met, check, orDash(r.FastTrackML))
	}
	tw.Flush()
	var notes []string
	for _, r := range rep.Results {
		for _, n := range r.Notes {
			notes = append(notes, r.ID+": "+n)
		}
		if strings.HasPrefix(r.Check, "FAILED") {
			notes = append(notes, r.ID+": check "+r.Check)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nnotes:\n")
		for _, n := range notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	fmt.Fprintf(w, "\nheadline: a, b = throughput; c, d = p50 latency of one request (d: of one full history).\n")
	fmt.Fprintf(w, "FastTrackML figures are the reference numbers from the issue (c measured over only 5k runs).\n")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
