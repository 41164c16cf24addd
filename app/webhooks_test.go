package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"mlbox/store"
)

// fastHooks is a webhook configuration with millisecond backoffs that
// allows the test receivers on loopback.
func fastHooks(c *WebhookConfig) {
	c.BackoffBase = 2 * time.Millisecond
	c.BackoffMax = 10 * time.Millisecond
	c.MaxAttempts = 4
	c.Timeout = 5 * time.Second
	c.AllowCIDRs = []string{"127.0.0.0/8"}
}

// setWebhookConfig replaces the app's webhook configuration before Start.
// Names resolve through testResolver, never through the network.
func setWebhookConfig(a *App, mutate ...func(*WebhookConfig)) {
	c := DefaultWebhookConfig()
	for _, m := range mutate {
		m(&c)
	}
	a.hooks.configure(c, testResolver)
}

// startHookServer is startServer with a webhook configuration applied
// between New and Serve.
func startHookServer(t *testing.T, dataDir string, mutate ...func(*WebhookConfig)) *testServer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = dataDir
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	setWebhookConfig(a, mutate...)
	return serveTest(t, a, "127.0.0.1:0")
}

// received is one request as a receiver saw it.
type received struct {
	DeliveryID, Timestamp, Signature, ContentType string
	Body                                          []byte
	SignatureOK                                   bool
}

// receiver is a webhook endpoint on 127.0.0.1 that verifies signatures the
// way MLflow's documentation tells receivers to, and answers with the
// scripted statuses first, then 200.
type receiver struct {
	*httptest.Server
	secret string
	mu     sync.Mutex
	script []int
	got    []received
	ch     chan received
}

func newReceiver(t *testing.T, secret string, script ...int) *receiver {
	rc := &receiver{secret: secret, script: script, ch: make(chan received, 100)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g := received{
			DeliveryID: r.Header.Get("X-MLflow-Delivery-Id"), Timestamp: r.Header.Get("X-MLflow-Timestamp"),
			Signature: r.Header.Get("X-MLflow-Signature"), ContentType: r.Header.Get("Content-Type"), Body: body,
		}
		g.SignatureOK = verifyMLflowSignature(rc.secret, g.DeliveryID, g.Timestamp, g.Signature, body)
		rc.mu.Lock()
		rc.got = append(rc.got, g)
		status := http.StatusOK
		if len(rc.script) > 0 {
			status, rc.script = rc.script[0], rc.script[1:]
		}
		rc.mu.Unlock()
		rc.ch <- g
		w.WriteHeader(status)
		_, _ = w.Write([]byte("status " + strconv.Itoa(status)))
	}))
	t.Cleanup(rc.Close)
	return rc
}

// verifyMLflowSignature is a receiver's check from MLflow's webhook docs:
// the timestamp is recent, and the signature after "v1," is the base64
// HMAC-SHA256 of "<delivery_id>.<timestamp>.<raw body>".
func verifyMLflowSignature(secret, deliveryID, timestamp, signature string, body []byte) bool {
	if secret == "" || !strings.HasPrefix(signature, "v1,") {
		return false
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(deliveryID + "." + timestamp + "." + string(body)))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(strings.TrimPrefix(signature, "v1,")), []byte(want))
}

func (rc *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case g := <-rc.ch:
		return g
	case <-time.After(15 * time.Second):
		t.Fatal("receiver: no request arrived")
		return received{}
	}
}

func (rc *receiver) request(i int) received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.got[i]
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func createHook(t *testing.T, s *testServer, body map[string]any) map[string]any {
	t.Helper()
	return s.must(t, "POST", api+"/webhooks", body)["webhook"].(map[string]any)
}

func events(pairs ...string) []any {
	var out []any
	for _, p := range pairs {
		ent, act, _ := strings.Cut(p, "/")
		out = append(out, map[string]any{"entity": ent, "action": act})
	}
	return out
}

// waitDelivery polls the delivery log until the delivery is finished.
func waitDelivery(t *testing.T, s *testServer, webhookID string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		m := s.must(t, "GET", "/api/mlbox/v1/webhooks/"+webhookID+"/deliveries", nil)
		ds, _ := m["deliveries"].([]any)
		for _, d := range ds {
			dm := d.(map[string]any)
			if dm["status"] != store.DeliveryPending && match(dm) {
				return dm
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("delivery did not finish")
	return nil
}

func TestWebhookAPIScenarios(t *testing.T) {
	s := startHookServer(t, "", func(c *WebhookConfig) { c.AllowedSchemes = []string{"http", "https"} })
	// example.com resolves to a public address (testResolver).
	w := createHook(t, s, map[string]any{"name": "ci", "url": "https://example.com/hook", "secret": "shh",
		"description": "d", "events": events("MODEL_VERSION/CREATED")})
	id := w["webhook_id"].(string)
	ok := func(extra map[string]any) map[string]any {
		m := map[string]any{"name": "x", "url": "https://example.com/h", "events": events("MODEL_VERSION/CREATED")}
		for k, v := range extra {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	scenarios := []struct {
		name, method, path string
		body               any
		status             int
		code, contains     string
	}{
		{"create", "POST", api + "/webhooks", ok(nil), 200, "", `"status":"ACTIVE"`},
		{"create via ajax-api", "POST", "/ajax-api/2.0/mlflow/webhooks", ok(nil), 200, "", `"format":"generic"`},
		{"create with enum numbers", "POST", api + "/webhooks", ok(map[string]any{"events": []any{map[string]any{"entity": 2, "action": 1}}, "status": 2}),
			200, "", `"entity":"MODEL_VERSION","action":"CREATED"`},
		{"create with event strings", "POST", api + "/webhooks", ok(map[string]any{"events": []any{"gate.blocked", "model_version.stage_transitioned"}}),
			200, "", `"entity":"GATE","action":"BLOCKED"`},
		{"create slack", "POST", api + "/webhooks", ok(map[string]any{"format": "Slack"}), 200, "", `"format":"slack"`},
		{"missing name", "POST", api + "/webhooks", ok(map[string]any{"name": nil}), 400, "INVALID_PARAMETER_VALUE", "'name'"},
		{"bad name", "POST", api + "/webhooks", ok(map[string]any{"name": "-x"}), 400, "INVALID_PARAMETER_VALUE", "Invalid webhook name"},
		{"name too long", "POST", api + "/webhooks", ok(map[string]any{"name": strings.Repeat("n", 64)}), 400, "INVALID_PARAMETER_VALUE", "63"},
		{"missing url", "POST", api + "/webhooks", ok(map[string]any{"url": nil}), 400, "INVALID_PARAMETER_VALUE", "'url'"},
		{"ftp url", "POST", api + "/webhooks", ok(map[string]any{"url": "ftp://example.com/x"}), 400, "INVALID_PARAMETER_VALUE", "scheme"},
		{"missing events", "POST", api + "/webhooks", ok(map[string]any{"events": nil}), 400, "INVALID_PARAMETER_VALUE", "'events'"},
		{"empty events", "POST", api + "/webhooks", ok(map[string]any{"events": []any{}}), 400, "INVALID_PARAMETER_VALUE", "events cannot be empty"},
		{"invalid pair", "POST", api + "/webhooks", ok(map[string]any{"events": events("REGISTERED_MODEL/DELETED", "MODEL_VERSION_TAG/CREATED")}),
			400, "INVALID_PARAMETER_VALUE", "Invalid action 'CREATED' for entity 'MODEL_VERSION_TAG'"},
		{"unknown entity", "POST", api + "/webhooks", ok(map[string]any{"events": events("RUN/CREATED")}), 400, "INVALID_PARAMETER_VALUE", "entity"},
		{"bad event shape", "POST", api + "/webhooks", ok(map[string]any{"events": []any{[]any{1}}}), 400, "INVALID_PARAMETER_VALUE", "event"},
		{"bad status", "POST", api + "/webhooks", ok(map[string]any{"status": "ON"}), 400, "INVALID_PARAMETER_VALUE", "status"},
		{"bad format", "POST", api + "/webhooks", ok(map[string]any{"format": "teams"}), 400, "INVALID_PARAMETER_VALUE", "format"},
		{"get", "GET", api + "/webhooks/" + id, nil, 200, "", `"name":"ci"`},
		{"get missing", "GET", api + "/webhooks/nope", nil, 404, "RESOURCE_DOES_NOT_EXIST", "nope"},
		{"list bad max_results", "GET", api + "/webhooks?max_results=0", nil, 400, "INVALID_PARAMETER_VALUE", "max_results"},
		{"list bad token", "GET", api + "/webhooks?page_token=!!", nil, 400, "INVALID_PARAMETER_VALUE", "page token"},
		{"patch", "PATCH", api + "/webhooks/" + id, map[string]any{"description": "new", "status": "DISABLED"}, 200, "", `"status":"DISABLED"`},
		{"patch bad url", "PATCH", api + "/webhooks/" + id, map[string]any{"url": "gopher://x"}, 400, "INVALID_PARAMETER_VALUE", "scheme"},
		{"patch empty events", "PATCH", api + "/webhooks/" + id, map[string]any{"events": []any{}}, 400, "INVALID_PARAMETER_VALUE", "events cannot be empty"},
		{"patch missing", "PATCH", api + "/webhooks/nope", map[string]any{"name": "y"}, 404, "RESOURCE_DOES_NOT_EXIST", ""},
		{"test missing", "POST", api + "/webhooks/nope/test", map[string]any{}, 404, "RESOURCE_DOES_NOT_EXIST", ""},
		{"test bad event", "POST", api + "/webhooks/" + id + "/test", map[string]any{"event": map[string]any{"entity": "MODEL_VERSION", "action": "SET"}},
			400, "INVALID_PARAMETER_VALUE", "Invalid action"},
		{"deliveries of missing webhook", "GET", "/api/mlbox/v1/webhooks/nope/deliveries", nil, 404, "RESOURCE_DOES_NOT_EXIST", ""},
		{"replay missing", "POST", "/api/mlbox/v1/webhooks/deliveries/nope/replay", map[string]any{}, 404, "RESOURCE_DOES_NOT_EXIST", ""},
		{"event catalogue", "GET", "/api/mlbox/v1/webhooks/events", nil, 200, "", `"type":"gate.blocked","mlflow":false`},
		{"delete missing", "DELETE", api + "/webhooks/nope", nil, 404, "RESOURCE_DOES_NOT_EXIST", ""},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			st, m, raw := s.call(t, sc.method, sc.path, sc.body)
			if st != sc.status {
				t.Fatalf("status %d, want %d: %s", st, sc.status, raw)
			}
			if sc.code != "" && (m == nil || m["error_code"] != sc.code) {
				t.Fatalf("error_code: %s", raw)
			}
			if !strings.Contains(raw, sc.contains) {
				t.Fatalf("body lacks %q: %s", sc.contains, raw)
			}
			if strings.Contains(raw, "shh") || strings.Contains(raw, `"secret"`) {
				t.Fatalf("secret leaked: %s", raw)
			}
		})
	}

	// Paging through the list.
	seen := map[string]bool{}
	tok := ""
	for {
		q := api + "/webhooks?max_results=2"
		if tok != "" {
			q += "&page_token=" + tok
		}
		m := s.must(t, "GET", q, nil)
		for _, w := range m["webhooks"].([]any) {
			seen[w.(map[string]any)["webhook_id"].(string)] = true
		}
		next, _ := m["next_page_token"].(string)
		if next == "" {
			break
		}
		tok = next
	}
	if len(seen) != 6 {
		t.Fatalf("listed %d webhooks", len(seen))
	}
	s.must(t, "DELETE", api+"/webhooks/"+id, nil)
	if st, _, _ := s.call(t, "GET", api+"/webhooks/"+id, nil); st != 404 {
		t.Fatalf("get after delete: %d", st)
	}
}

func TestWebhookDeliverySignedRetriedAndReplayed(t *testing.T) {
	rc := newReceiver(t, "s3cret", 500, 429, 503)
	s := startHookServer(t, "", fastHooks)
	w := createHook(t, s, map[string]any{"name": "ci", "url": rc.URL + "/hook", "secret": "s3cret",
		"events": events("REGISTERED_MODEL/CREATED")})
	id := w["webhook_id"].(string)
	s.must(t, "POST", api+"/registered-models/create", map[string]any{"name": "iris", "description": "flowers",
		"tags": []any{map[string]any{"key": "team", "value": "ml"}}})

	var first received
	for i := range 4 {
		g := rc.next(t)
		if !g.SignatureOK || g.ContentType != "application/json" {
			t.Fatalf("attempt %d: signature or content type wrong: %+v", i+1, g)
		}
		if i == 0 {
			first = g
		} else if g.DeliveryID != first.DeliveryID || string(g.Body) != string(first.Body) {
			t.Fatalf("retry changed the delivery id or body: %q vs %q", g.DeliveryID, first.DeliveryID)
		}
	}
	var p struct {
		Entity, Action, Timestamp string
		Data                      map[string]any
	}
	if err := json.Unmarshal(first.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Entity != "registered_model" || p.Action != "created" || p.Data["name"] != "iris" ||
		p.Data["description"] != "flowers" || p.Data["tags"].(map[string]any)["team"] != "ml" {
		t.Fatalf("payload: %s", first.Body)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.999999-07:00", p.Timestamp); err != nil || !strings.HasSuffix(p.Timestamp, "+00:00") {
		t.Fatalf("timestamp %q: %v", p.Timestamp, err)
	}

	d := waitDelivery(t, s, id, func(map[string]any) bool { return true })
	hist := d["history"].([]any)
	if d["status"] != store.DeliverySucceeded || d["attempts"].(float64) != 4 || len(hist) != 4 ||
		hist[0].(map[string]any)["status_code"].(float64) != 500 || hist[1].(map[string]any)["status_code"].(float64) != 429 ||
		hist[3].(map[string]any)["response_body"] != "status 200" || d["delivery_id"] != first.DeliveryID {
		t.Fatalf("delivery log: %+v", d)
	}

	// Replay: a new delivery id, the same payload.
	r := s.must(t, "POST", "/api/mlbox/v1/webhooks/deliveries/"+first.DeliveryID+"/replay", map[string]any{})["delivery"].(map[string]any)
	g := rc.next(t)
	if g.DeliveryID == first.DeliveryID || g.DeliveryID != r["delivery_id"] || !g.SignatureOK || string(g.Body) != string(first.Body) {
		t.Fatalf("replay: %+v (original %s)", g, first.DeliveryID)
	}
	rd := waitDelivery(t, s, id, func(m map[string]any) bool { return m["delivery_id"] == g.DeliveryID })
	if rd["replay_of"] != first.DeliveryID || rd["status"] != store.DeliverySucceeded {
		t.Fatalf("replay log: %+v", rd)
	}
	// Newest first.
	ds := s.must(t, "GET", "/api/mlbox/v1/webhooks/"+id+"/deliveries", nil)["deliveries"].([]any)
	if len(ds) != 2 || ds[0].(map[string]any)["delivery_id"] != g.DeliveryID {
		t.Fatalf("log order: %+v", ds)
	}

	_, _, metricsText := s.call(t, "GET", "/metrics", nil)
	for _, want := range []string{`mlbox_webhook_deliveries_total{result="succeeded"} 2`, `mlbox_webhook_deliveries_total{result="retried"} 3`, "mlbox_webhook_queue_depth 0"} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestWebhookDeliveryFailures(t *testing.T) {
	gone := newReceiver(t, "", 410)
	down := newReceiver(t, "", 503, 503, 503, 503, 503)
	s := startHookServer(t, "", fastHooks)
	g := createHook(t, s, map[string]any{"name": "gone", "url": gone.URL, "events": events("MODEL_VERSION/STAGE_TRANSITIONED")})
	d := createHook(t, s, map[string]any{"name": "down", "url": down.URL, "events": events("MODEL_VERSION/STAGE_TRANSITIONED")})
	s.must(t, "POST", api+"/registered-models/create", map[string]any{"name": "m"})
	s.must(t, "POST", api+"/model-versions/create", map[string]any{"name": "m", "source": "s3://bucket/r/artifacts/model"})
	s.must(t, "POST", api+"/model-versions/transition-stage", map[string]any{"name": "m", "version": "1", "stage": "Production"})

	// 4xx other than 429: failed at once.
	gd := waitDelivery(t, s, g["webhook_id"].(string), func(map[string]any) bool { return true })
	if gd["status"] != store.DeliveryFailed || gd["attempts"].(float64) != 1 || gd["last_error"] != "HTTP 410" {
		t.Fatalf("4xx delivery: %+v", gd)
	}
	// 5xx every time: failed after max_attempts.
	dd := waitDelivery(t, s, d["webhook_id"].(string), func(map[string]any) bool { return true })
	if dd["status"] != store.DeliveryFailed || dd["attempts"].(float64) != 4 {
		t.Fatalf("5xx delivery: %+v", dd)
	}
	if gone.count() != 1 || down.count() != 4 {
		t.Fatalf("requests: gone %d, down %d", gone.count(), down.count())
	}
	// The generic body of an mlbox event.
	var p map[string]any
	g0 := gone.request(0)
	_ = json.Unmarshal(g0.Body, &p)
	if p["entity"] != "model_version" || p["action"] != "stage_transitioned" || p["data"].(map[string]any)["to_stage"] != "Production" {
		t.Fatalf("payload: %s", g0.Body)
	}
	if g0.Signature != "" {
		t.Fatalf("signed without a secret: %q", g0.Signature)
	}
}

func TestWebhookSlackAndDiscord(t *testing.T) {
	slack := newReceiver(t, "")
	discord := newReceiver(t, "k")
	s := startHookServer(t, "", fastHooks)
	createHook(t, s, map[string]any{"name": "slack", "url": slack.URL, "format": "slack",
		"events": events("MODEL_VERSION/STAGE_TRANSITIONED", "GATE/BLOCKED")})
	createHook(t, s, map[string]any{"name": "discord", "url": discord.URL, "format": "discord", "secret": "k",
		"events": events("MODEL_VERSION/STAGE_TRANSITIONED", "GATE/BLOCKED")})
	s.must(t, "POST", api+"/registered-models/create", map[string]any{"name": "iris"})
	s.must(t, "POST", api+"/model-versions/create", map[string]any{"name": "iris", "source": "s3://bucket/r/artifacts/model"})
	s.must(t, "POST", api+"/model-versions/create", map[string]any{"name": "iris", "source": "s3://bucket/r/artifacts/model"})
	s.must(t, "POST", api+"/model-versions/transition-stage", map[string]any{"name": "iris", "version": "1", "stage": "Staging"})
	s.must(t, "PUT", "/api/mlbox/v1/models/iris/gates", map[string]any{"gates": []any{
		map[string]any{"name": "needs-approval", "targets": []string{"alias:champion"}, "approvals": 1}}})
	if st, _, raw := s.call(t, "POST", api+"/registered-models/alias", map[string]any{"name": "iris", "alias": "champion", "version": "2"}); st != 403 {
		t.Fatalf("gate did not block: %d %s", st, raw)
	}

	texts := map[string]bool{}
	for range 2 {
		var m struct {
			Text   string
			Blocks []map[string]any
		}
		g := slack.next(t)
		if err := json.Unmarshal(g.Body, &m); err != nil || len(m.Blocks) != 2 {
			t.Fatalf("slack body: %s", g.Body)
		}
		texts[m.Text] = true
	}
	for _, want := range []string{"Model iris version 1 moved from None to Staging",
		"Promotion of iris v2 to alias champion blocked by gate needs-approval: "} {
		found := false
		for tx := range texts {
			found = found || strings.HasPrefix(tx, want)
		}
		if !found {
			t.Errorf("no slack message %q in %v", want, texts)
		}
	}
	for range 2 {
		g := discord.next(t)
		var m struct {
			Content         string
			AllowedMentions map[string]any `json:"allowed_mentions"`
		}
		if err := json.Unmarshal(g.Body, &m); err != nil || m.Content == "" || m.AllowedMentions == nil || !g.SignatureOK {
			t.Fatalf("discord body: %s (signature ok %v)", g.Body, g.SignatureOK)
		}
		if !texts[m.Content] && !strings.HasPrefix(m.Content, "Promotion of iris v2") {
			t.Fatalf("discord content %q", m.Content)
		}
	}
}

func TestWebhookMessageRendering(t *testing.T) {
	long := strings.Repeat("é", 2500)
	var m struct{ Content string }
	_ = json.Unmarshal(discordBody(long), &m)
	if n := utf8.RuneCountInString(m.Content); n != 2000 || !strings.HasSuffix(m.Content, "…") {
		t.Fatalf("discord content has %d runes", n)
	}
	var sl struct{ Text string }
	_ = json.Unmarshal(slackBody("a <b> & c", &store.Delivery{Entity: "x", Action: "y"}), &sl)
	if sl.Text != "a &lt;b&gt; &amp; c" {
		t.Fatalf("slack escaping: %q", sl.Text)
	}
	cases := map[string]struct {
		data map[string]any
		want string
	}{
		"model_version.stage_transitioned": {map[string]any{"name": "iris", "version": "3", "from_stage": "Staging", "to_stage": "Production"},
			"Model iris version 3 moved from Staging to Production"},
		"gate.blocked": {map[string]any{"name": "iris", "version": "2", "target": "alias:champion", "rule": "min-accuracy",
			"message": `Blocked by promotion gate "min-accuracy": version 2 does not satisfy "metrics.accuracy >= 0.9" (accuracy is 0.8)`},
			`Promotion of iris v2 to alias champion blocked by gate min-accuracy: version 2 does not satisfy "metrics.accuracy >= 0.9" (accuracy is 0.8)`},
		"model_version_alias.created": {map[string]any{"name": "iris", "alias": "champion", "version": "3", "previous_version": "2"},
			"Alias champion of model iris now points to version 3 (was version 2)"},
		"drift.detected": {map[string]any{"deployment": "d", "name": "iris", "version": "1", "feature": "f", "score": 0.5, "threshold": 0.2},
			"Drift detected on deployment d (model iris version 1): feature f score 0.5 > threshold 0.2"},
		"job.failed":  {map[string]any{"job": "retrain", "error": "exit status 1"}, "Job retrain failed: exit status 1"},
		"other.thing": {map[string]any{"b": 1.0, "a": "x"}, "other.thing: a=x, b=1"},
	}
	for typ, c := range cases {
		if got := eventMessage(typ, c.data); got != c.want {
			t.Errorf("%s: %q, want %q", typ, got, c.want)
		}
	}
	for _, e := range store.WebhookEventTypes() {
		if msg := eventMessage(e.String(), store.ExampleWebhookData(e)); strings.HasPrefix(msg, e.String()+":") {
			t.Errorf("no message for %s: %q", e, msg)
		}
	}
}

func TestWebhookTestCall(t *testing.T) {
	rc := newReceiver(t, "t0k", 200, 500)
	s := startHookServer(t, "", fastHooks)
	w := createHook(t, s, map[string]any{"name": "t", "url": rc.URL, "secret": "t0k", "status": "DISABLED",
		"events": events("MODEL_VERSION_ALIAS/CREATED", "GATE/BLOCKED")})
	id := w["webhook_id"].(string)

	res := s.must(t, "POST", api+"/webhooks/"+id+"/test", map[string]any{})["result"].(map[string]any)
	g := rc.next(t)
	if res["success"] != true || res["response_status"].(float64) != 200 || res["response_body"] != "status 200" || !g.SignatureOK {
		t.Fatalf("test result %+v, signature ok %v", res, g.SignatureOK)
	}
	var p struct {
		Entity, Action string
		Data           map[string]any
	}
	_ = json.Unmarshal(g.Body, &p)
	if p.Entity != "model_version_alias" || p.Action != "created" || p.Data["alias"] != "example_alias" {
		t.Fatalf("test payload: %s", g.Body)
	}

	res = s.must(t, "POST", api+"/webhooks/"+id+"/test", map[string]any{"event": map[string]any{"entity": "GATE", "action": "BLOCKED"}})["result"].(map[string]any)
	g = rc.next(t)
	if res["success"] != false || res["response_status"].(float64) != 500 || !strings.Contains(string(g.Body), `"entity":"gate"`) {
		t.Fatalf("test result %+v: %s", res, g.Body)
	}
	// The test call queues nothing.
	if n := s.App.Store().WebhookQueueDepth(); n != 0 {
		t.Fatalf("queue depth %d", n)
	}

	// An unreachable receiver: an error message, no status.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	s.must(t, "PATCH", api+"/webhooks/"+id, map[string]any{"url": dead})
	res = s.must(t, "POST", api+"/webhooks/"+id+"/test", map[string]any{})["result"].(map[string]any)
	if res["success"] != false || res["response_status"] != nil || !strings.HasPrefix(res["error_message"].(string), "Failed to test webhook: ") {
		t.Fatalf("unreachable: %+v", res)
	}
}

func TestWebhookBackoff(t *testing.T) {
	w := &webhooks{cfg: WebhookConfig{BackoffBase: time.Second, BackoffMax: 8 * time.Second}}
	within := func(d, lo time.Duration) bool { return d >= lo && d <= lo+lo/10 }
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 9: 8 * time.Second} {
		if d := w.backoff(attempt, 0); !within(d, want) {
			t.Errorf("attempt %d: %v, want ~%v", attempt, d, want)
		}
	}
	if d := w.backoff(1, 30*time.Second); !within(d, 30*time.Second) {
		t.Errorf("Retry-After not honoured: %v", d)
	}
	if d := w.backoff(1, 10*time.Hour); !within(d, time.Hour) {
		t.Errorf("Retry-After not capped: %v", d)
	}
	if parseRetryAfter("120") != 2*time.Minute || parseRetryAfter("") != 0 || parseRetryAfter("soon") != 0 || parseRetryAfter("-1") != 0 {
		t.Error("parseRetryAfter seconds")
	}
	if d := parseRetryAfter(time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)); d <= 0 || d > time.Minute {
		t.Errorf("parseRetryAfter date: %v", d)
	}
}

func TestWebhookConfigValidate(t *testing.T) {
	if p := DefaultWebhookConfig().Validate(); len(p) != 0 {
		t.Fatalf("defaults invalid: %v", p)
	}
	c := WebhookConfig{Workers: 0, MaxAttempts: 0, BackoffBase: time.Second, BackoffMax: time.Millisecond, AllowedSchemes: []string{"ftp"}, LogPerWebhook: -1}
	p := strings.Join(c.Validate(), "\n")
	for _, key := range []string{"webhooks.workers", "webhooks.timeout", "webhooks.max_attempts", "webhooks.backoff_max", "webhooks.allowed_schemes", "webhooks.log_per_webhook"} {
		if !strings.Contains(p, key) {
			t.Errorf("no problem reported for %s in:\n%s", key, p)
		}
	}
}

// TestWebhookQueueSurvivesRestart queues a delivery while no worker runs,
// closes the app, reopens the data dir and checks the delivery arrives.
func TestWebhookQueueSurvivesRestart(t *testing.T) {
	rc := newReceiver(t, "r")
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.DataDir = dir
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	setWebhookConfig(a, fastHooks)
	call := func(method, path string, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		return rec
	}
	call("POST", api+"/webhooks", `{"name":"r","url":"`+rc.URL+`","secret":"r","events":[{"entity":"REGISTERED_MODEL","action":"CREATED"}]}`)
	call("POST", api+"/registered-models/create", `{"name":"persisted"}`)
	if n := a.Store().WebhookQueueDepth(); n != 1 {
		t.Fatalf("queue depth %d", n)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if rc.count() != 0 {
		t.Fatal("delivered without a worker")
	}

	s := startHookServer(t, dir, fastHooks)
	g := rc.next(t)
	if !g.SignatureOK || !strings.Contains(string(g.Body), `"name":"persisted"`) {
		t.Fatalf("after restart: %+v %s", g, g.Body)
	}
	waitDelivery(t, s, s.must(t, "GET", api+"/webhooks", nil)["webhooks"].([]any)[0].(map[string]any)["webhook_id"].(string),
		func(d map[string]any) bool { return d["status"] == store.DeliverySucceeded })
}

// TestWebhookDisabledBeforeDelivery: a queued delivery whose webhook was
// disabled meanwhile is cancelled, not sent.
func TestWebhookDisabledBeforeDelivery(t *testing.T) {
	rc := newReceiver(t, "")
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st := a.Store()
	w, err := st.CreateWebhook(context.Background(), store.WebhookSpec{Name: "w", URL: rc.URL,
		Events: []store.WebhookEvent{{Entity: "JOB", Action: "FAILED"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Emit(context.Background(), "job.failed", map[string]any{"job": "j"}); err != nil {
		t.Fatal(err)
	}
	off := store.WebhookDisabled
	if _, err := st.UpdateWebhook(context.Background(), w.WebhookID, store.WebhookPatch{Status: &off}); err != nil {
		t.Fatal(err)
	}
	setWebhookConfig(a, fastHooks)
	a.hooks.Start(context.Background())
	deadline := time.Now().Add(15 * time.Second)
	for st.WebhookQueueDepth() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	a.hooks.Stop()
	ds, _, err := st.ListDeliveries(context.Background(), w.WebhookID, 10, "")
	if err != nil || len(ds) != 1 || ds[0].Status != store.DeliveryCancelled || ds[0].Attempts != 0 || !strings.Contains(ds[0].LastError, "DISABLED") {
		t.Fatalf("deliveries: %+v %v", ds, err)
	}
	if rc.count() != 0 {
		t.Fatal("a disabled webhook was called")
	}
}

// MLflow's event types come back under "events", mlbox's extras under
// "mlbox_events"; an update of "events" alone (MLflow's client) keeps the
// extras, one that names extras in "events" replaces everything.
func TestWebhookEventsSplitForMLflowClients(t *testing.T) {
	s := startServer(t)
	evs := func(wh map[string]any, field string) string {
		var out []string
		list, _ := wh[field].([]any)
		for _, e := range list {
			m := e.(map[string]any)
			out = append(out, m["entity"].(string)+"/"+m["action"].(string))
		}
		return strings.Join(out, ",")
	}
	wh := createHook(t, s, map[string]any{"name": "split", "url": "http://93.184.215.14/h", "status": "DISABLED",
		"events": append(events("MODEL_VERSION/CREATED"), "gate.blocked", "job.failed")})
	id := wh["webhook_id"].(string)
	if evs(wh, "events") != "MODEL_VERSION/CREATED" || evs(wh, "mlbox_events") != "GATE/BLOCKED,JOB/FAILED" {
		t.Fatalf("created: events %q, mlbox_events %q", evs(wh, "events"), evs(wh, "mlbox_events"))
	}
	get := func() map[string]any {
		return s.must(t, "GET", api+"/webhooks/"+id, nil)["webhook"].(map[string]any)
	}
	for _, step := range []struct {
		patch          map[string]any
		mlflow, extras string
	}{
		{map[string]any{"events": events("REGISTERED_MODEL/CREATED")}, "REGISTERED_MODEL/CREATED", "GATE/BLOCKED,JOB/FAILED"},
		{map[string]any{"mlbox_events": []any{"drift.detected"}}, "REGISTERED_MODEL/CREATED", "DRIFT/DETECTED"},
		{map[string]any{"description": "x"}, "REGISTERED_MODEL/CREATED", "DRIFT/DETECTED"},
		{map[string]any{"events": []any{"model_version.created", "retention.applied"}}, "MODEL_VERSION/CREATED", "RETENTION/APPLIED"},
		{map[string]any{"mlbox_events": []any{}}, "MODEL_VERSION/CREATED", ""},
	} {
		s.must(t, "PATCH", api+"/webhooks/"+id, step.patch)
		got := get()
		if evs(got, "events") != step.mlflow || evs(got, "mlbox_events") != step.extras {
			t.Fatalf("after %v: events %q, mlbox_events %q; want %q, %q", step.patch, evs(got, "events"), evs(got, "mlbox_events"), step.mlflow, step.extras)
		}
	}
	// nothing left is still refused
	if st, _, raw := s.call(t, "PATCH", api+"/webhooks/"+id, map[string]any{"events": []any{}}); st != 400 {
		t.Fatalf("empty events: %d %s", st, raw)
	}
	// listing splits too
	list := s.must(t, "GET", api+"/webhooks", nil)["webhooks"].([]any)
	if _, ok := list[0].(map[string]any)["events"].([]any); !ok {
		t.Fatalf("list: %v", list[0])
	}
}
