package main

import "testing"

func TestNextPageToken(t *testing.T) {
	for body, want := range map[string]string{
		`{"runs":[],"next_page_token":"eyJvZmZzZXQiOiAxMDB9"}`:                 "eyJvZmZzZXQiOiAxMDB9",
		`{"next_page_token" : "a\"b\u003d", "metrics":[]}`:                     `a"b=`,
		`{"metrics":[{"key":"k","value":1}]}`:                                  "",
		`{"runs":[{"data":{"tags":[{"value":"\"next_page_token\":\"x\""}]}}]}`: "",
		`{"next_page_token":""}`:                                               "",
		`{"next_page_token":"unterminated`:                                     "",
	} {
		if got := nextPageToken([]byte(body)); got != want {
			t.Errorf("nextPageToken(%s) = %q, want %q", body, got, want)
		}
	}
}

func TestPercentileNearestRank(t *testing.T) {
	lat := make([]int64, 100)
	for i := range lat {
		lat[i] = int64(100 - i) // 100..1, unsorted
	}
	var r runResult
	latencyStats(&r, lat)
	if r.P50Ms != 50e-6 || r.P99Ms != 99e-6 || r.MaxMs != 100e-6 {
		t.Fatalf("p50 %v p99 %v max %v", r.P50Ms, r.P99Ms, r.MaxMs)
	}
	twenty := []int64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	latencyStats(&r, twenty)
	if r.P50Ms != 10e-6 || r.P99Ms != 20e-6 {
		t.Fatalf("n=20: p50 %v p99 %v", r.P50Ms, r.P99Ms)
	}
}

func TestMedianRun(t *testing.T) {
	m := medianRun([]runResult{{Throughput: 3, Errors: 1}, {Throughput: 1}, {Throughput: 2, Errors: 2}})
	if m.Throughput != 2 || m.Errors != 3 {
		t.Fatalf("%+v", m)
	}
	if m := medianRun([]runResult{{P50Ms: 1}, {P50Ms: 3}}); m.P50Ms != 2 {
		t.Fatalf("%+v", m)
	}
}
