package app

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCreds holds HTTP Basic credentials doReq adds to requests for a
// server (by host:port) that needs them and that the request does not
// authenticate itself: the bad-input walk runs as an admin.
var testCreds sync.Map // host -> [2]string

func newReq(method, url, ct, body string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err == nil && ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	return req, err
}

// addTestCreds adds the credentials testCreds holds for req's host,
// unless req has its own.
func addTestCreds(req *http.Request) {
	if c, ok := testCreds.Load(req.URL.Host); ok && req.Header.Get("Authorization") == "" {
		req.SetBasicAuth(c.([2]string)[0], c.([2]string)[1])
	}
}

func doReq(t testing.TB, req *http.Request) (int, map[string]any, string) {
	t.Helper()
	addTestCreds(req)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		m = nil
	}
	return resp.StatusCode, m, string(raw)
}
