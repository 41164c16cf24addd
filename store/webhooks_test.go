package store

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func mustWebhook(t *testing.T, s *Store, spec WebhookSpec) *Webhook {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "hook"
	}
	if spec.URL == "" {
		spec.URL = "http://127.0.0.1:9/hook"
	}
	w, err := s.CreateWebhook(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func ev(entity, action string) WebhookEvent { return WebhookEvent{entity, action} }

func dueAll(t *testing.T, s *Store) []Delivery {
	t.Helper()
	ds, _, err := s.DueDeliveries(ctx, time.Now().Add(time.Hour), 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestWebhookValidation(t *testing.T) {
	s, _ := openTest(t)
	good := WebhookSpec{Name: "ok", URL: "https://example.com/h", Events: []WebhookEvent{ev("MODEL_VERSION", "CREATED")}}
	cases := []struct {
		name string
		mod  func(*WebhookSpec)
		want string // error fragment; "" = valid
	}{
		{"good", func(*WebhookSpec) {}, ""},
		{"lower-case event names", func(w *WebhookSpec) { w.Events = []WebhookEvent{ev("model_version_alias", "created")} }, ""},
		{"mlbox extra", func(w *WebhookSpec) {
			w.Events = []WebhookEvent{ev("GATE", "BLOCKED"), ev("MODEL_VERSION", "STAGE_TRANSITIONED")}
		}, ""},
		{"dots in name", func(w *WebhookSpec) { w.Name = "a.b_c-d" }, ""},
		{"empty name", func(w *WebhookSpec) { w.Name = "" }, "'name'"},
		{"name ends with dash", func(w *WebhookSpec) { w.Name = "abc-" }, "Invalid webhook name"},
		{"name with space", func(w *WebhookSpec) { w.Name = "a b" }, "Invalid webhook name"},
		{"name too long", func(w *WebhookSpec) { w.Name = strings.Repeat("a", 64) }, "Invalid webhook name"},
		{"no url", func(w *WebhookSpec) { w.URL = "" }, "'url'"},
		{"ftp url", func(w *WebhookSpec) { w.URL = "ftp://example.com/x" }, "scheme"},
		{"relative url", func(w *WebhookSpec) { w.URL = "/hook" }, "scheme"},
		{"no host", func(w *WebhookSpec) { w.URL = "http:///x" }, "no host"},
		{"credentials in url", func(w *WebhookSpec) { w.URL = "https://u:p@example.com/" }, "credentials"},
		{"no events", func(w *WebhookSpec) { w.Events = nil }, "events cannot be empty"},
		{"bad action for entity", func(w *WebhookSpec) { w.Events = []WebhookEvent{ev("REGISTERED_MODEL", "SET")} }, "Invalid action 'SET' for entity 'REGISTERED_MODEL'"},
		{"unknown entity", func(w *WebhookSpec) { w.Events = []WebhookEvent{ev("EXPERIMENT", "CREATED")} }, "Invalid webhook event entity"},
		{"bad status", func(w *WebhookSpec) { w.Status = "PAUSED" }, "Invalid webhook status"},
		{"bad format", func(w *WebhookSpec) { w.Format = "teams" }, "Invalid webhook format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := good
			spec.Events = append([]WebhookEvent(nil), good.Events...)
			c.mod(&spec)
			w, err := s.CreateWebhook(ctx, spec)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if w.Status != WebhookActive || w.Format != FormatGeneric {
					t.Fatalf("defaults: %+v", w)
				}
				for _, e := range w.Events {
					if e.Entity != strings.ToUpper(e.Entity) || e.Action != strings.ToUpper(e.Action) {
						t.Fatalf("events not canonical: %+v", w.Events)
					}
				}
				return
			}
			if err == nil || KindOf(err) != KindInvalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want invalid with %q", err, c.want)
			}
		})
	}
}

func TestWebhookCRUD(t *testing.T) {
	s, _ := openTest(t)
	w := mustWebhook(t, s, WebhookSpec{Name: "a", Secret: "s3cret", Description: "d",
		Events: []WebhookEvent{ev("MODEL_VERSION", "CREATED"), ev("model_version", "created")}})
	if len(w.Events) != 1 {
		t.Fatalf("duplicate events kept: %+v", w.Events)
	}
	b, _ := json.Marshal(w)
	if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), "secret") {
		t.Fatalf("secret serialised: %s", b)
	}
	got, err := s.GetWebhook(ctx, w.WebhookID)
	if err != nil || got.Secret != "s3cret" || got.Name != "a" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.GetWebhook(ctx, "nope"); KindOf(err) != KindNotFound {
		t.Fatalf("missing: %v", err)
	}

	name, disabled, empty := "b", "disabled", ""
	u, err := s.UpdateWebhook(ctx, w.WebhookID, WebhookPatch{Name: &name, Status: &disabled, Secret: &empty})
	if err != nil || u.Name != "b" || u.Status != WebhookDisabled || u.Secret != "" || u.Description != "d" {
		t.Fatalf("update: %+v %v", u, err)
	}
	if _, err := s.UpdateWebhook(ctx, w.WebhookID, WebhookPatch{Events: []WebhookEvent{}}); KindOf(err) != KindInvalid {
		t.Fatalf("empty events update: %v", err)
	}
	if got, _ := s.GetWebhook(ctx, w.WebhookID); got.Name != "b" {
		t.Fatalf("failed update changed the webhook: %+v", got)
	}

	for i := range 4 {
		mustWebhook(t, s, WebhookSpec{Name: "w" + string(rune('0'+i)), Events: []WebhookEvent{ev("GATE", "BLOCKED")}})
	}
	var all []Webhook
	tok := ""
	for {
		ws, next, err := s.ListWebhooks(ctx, 2, tok)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ws...)
		if next == "" {
			break
		}
		tok = next
	}
	// Ordered by creation time; webhooks created in the same millisecond
	// fall back to id order, so check the order and the set, not positions.
	seen := map[string]bool{}
	for i, x := range all {
		seen[x.WebhookID] = true
		if i > 0 && x.CreationTimestamp < all[i-1].CreationTimestamp {
			t.Fatalf("list not ordered by creation time: %+v", all)
		}
	}
	if len(all) != 5 || len(seen) != 5 || !seen[w.WebhookID] {
		t.Fatalf("list: %d %+v", len(all), all)
	}
	if err := s.DeleteWebhook(ctx, w.WebhookID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebhook(ctx, w.WebhookID); KindOf(err) != KindNotFound {
		t.Fatalf("second delete: %v", err)
	}
}

func TestWebhookOutbox(t *testing.T) {
	s, _ := openTest(t)
	mv := mustWebhook(t, s, WebhookSpec{Name: "mv", Events: []WebhookEvent{ev("MODEL_VERSION", "CREATED"), ev("REGISTERED_MODEL", "CREATED")}})
	off := mustWebhook(t, s, WebhookSpec{Name: "off", Status: WebhookDisabled, Events: []WebhookEvent{ev("MODEL_VERSION", "CREATED")}})
	stage := mustWebhook(t, s, WebhookSpec{Name: "stage", Events: []WebhookEvent{ev("MODEL_VERSION", "STAGE_TRANSITIONED"), ev("JOB", "FAILED"), ev("DRIFT", "DETECTED")}})

	if _, err := s.CreateRegisteredModel(ctx, "iris", "flowers", []Tag{{"team", "ml"}}, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateModelVersion(ctx, CreateModelVersionRequest{Name: "iris", Source: "s3://bucket/0/abc/artifacts/model"}, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TransitionModelVersionStage(ctx, "iris", "1", "staging", false, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.Emit(ctx, "job.failed", map[string]any{"job": "retrain", "error": "exit status 1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Emit(ctx, "drift.detected", map[string]any{"score": math.NaN(), "ch": make(chan int)}); err != nil {
		t.Fatalf("an unencodable payload failed the write: %v", err)
	}
	if err := s.Emit(ctx, "something.else", nil); err != nil {
		t.Fatal(err)
	}

	ds := dueAll(t, s)
	got := map[string][]string{}
	for _, d := range ds {
		got[d.WebhookID] = append(got[d.WebhookID], d.Entity+"."+d.Action)
		if d.Status != DeliveryPending || d.Attempts != 0 || len(d.DeliveryID) != 36 {
			t.Fatalf("new delivery: %+v", d)
		}
	}
	if strings.Join(got[mv.WebhookID], ",") != "registered_model.created,model_version.created" &&
		strings.Join(got[mv.WebhookID], ",") != "model_version.created,registered_model.created" {
		t.Fatalf("mv deliveries: %v", got[mv.WebhookID])
	}
	if len(got[off.WebhookID]) != 0 {
		t.Fatalf("disabled webhook got deliveries: %v", got[off.WebhookID])
	}
	if len(got[stage.WebhookID]) != 3 {
		t.Fatalf("stage deliveries: %v", got[stage.WebhookID])
	}
	for _, d := range ds {
		if d.Entity == "drift" && !strings.Contains(string(d.Data), `"score":"NaN"`) {
			t.Fatalf("drift data: %s", d.Data)
		}
		if d.Entity == "model_version" && d.Action == "stage_transitioned" {
			var data map[string]any
			_ = json.Unmarshal(d.Data, &data)
			if data["from_stage"] != "None" || data["to_stage"] != "Staging" || data["version"] != "1" {
				t.Fatalf("data: %s", d.Data)
			}
		}
	}
	if n := s.WebhookQueueDepth(); n != 5 {
		t.Fatalf("queue depth %d", n)
	}
	// A write that fails queues nothing.
	if _, err := s.CreateRegisteredModel(ctx, "iris", "", nil, "alice"); KindOf(err) != KindExists {
		t.Fatalf("duplicate: %v", err)
	}
	if n := s.WebhookQueueDepth(); n != 5 {
		t.Fatalf("queue depth after failed write %d", n)
	}
}

func TestWebhookPromptEvents(t *testing.T) {
	s, _ := openTest(t)
	p := mustWebhook(t, s, WebhookSpec{Name: "p", Events: []WebhookEvent{ev("PROMPT", "CREATED"), ev("PROMPT_VERSION", "CREATED"), ev("PROMPT_ALIAS", "CREATED")}})
	m := mustWebhook(t, s, WebhookSpec{Name: "m", Events: []WebhookEvent{ev("REGISTERED_MODEL", "CREATED"), ev("MODEL_VERSION", "CREATED")}})
	if _, err := s.CreateRegisteredModel(ctx, "greet", "", []Tag{{PromptTag, "true"}}, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateModelVersion(ctx, CreateModelVersionRequest{Name: "greet", Source: "s3://bucket/0/p/artifacts",
		Tags: []Tag{{"mlflow.prompt.text", "Hello {{name}}!"}}}, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRegisteredModelAlias(ctx, "greet", "prod", "1", "a"); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, d := range dueAll(t, s) {
		if d.WebhookID == m.WebhookID {
			t.Fatalf("model webhook got a prompt event: %+v", d)
		}
		if d.WebhookID == p.WebhookID {
			types = append(types, d.Entity+"."+d.Action)
			if d.Entity == "prompt_version" {
				var data map[string]any
				_ = json.Unmarshal(d.Data, &data)
				if data["template"] != "Hello {{name}}!" || data["version"] != "1" {
					t.Fatalf("prompt version data: %s", d.Data)
				}
			}
		}
	}
	if len(types) != 3 {
		t.Fatalf("prompt deliveries: %v", types)
	}
}

func TestDeliveryLifecycle(t *testing.T) {
	s, _ := openTest(t)
	w := mustWebhook(t, s, WebhookSpec{Events: []WebhookEvent{ev("JOB", "FAILED")}})
	d, err := s.EnqueueDelivery(ctx, w.WebhookID, "job.failed", map[string]any{"job": "x"})
	if err != nil {
		t.Fatal(err)
	}
	// In flight: skipped.
	if ds, _, _ := s.DueDeliveries(ctx, time.Now().Add(time.Second), 10, func(id string) bool { return id == d.DeliveryID }); len(ds) != 0 {
		t.Fatalf("in-flight delivery returned: %+v", ds)
	}
	// A failed attempt with a retry moves the entry to the future.
	retryAt := time.Now().Add(time.Hour)
	if err := s.RecordDeliveryOutcome(ctx, d.DeliveryID, DeliveryOutcome{Attempt: &DeliveryAttempt{StatusCode: 503, ResponseBody: "busy"},
		Status: DeliveryPending, RetryAt: retryAt}); err != nil {
		t.Fatal(err)
	}
	ds, next, err := s.DueDeliveries(ctx, time.Now(), 10, nil)
	if err != nil || len(ds) != 0 || next.UnixMilli() != retryAt.UnixMilli() {
		t.Fatalf("after retry: %+v next=%v err=%v", ds, next, err)
	}
	if err := s.RecordDeliveryOutcome(ctx, d.DeliveryID, DeliveryOutcome{Attempt: &DeliveryAttempt{StatusCode: 200}, Status: DeliverySucceeded}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDelivery(ctx, d.DeliveryID)
	if err != nil || got.Status != DeliverySucceeded || got.Attempts != 2 || len(got.History) != 2 ||
		got.History[0].Attempt != 1 || got.History[0].StatusCode != 503 || got.History[1].Attempt != 2 || got.NextAttemptTime != 0 {
		t.Fatalf("delivery: %+v %v", got, err)
	}
	if n := s.WebhookQueueDepth(); n != 0 {
		t.Fatalf("queue depth %d", n)
	}
	// Recording on a finished delivery is a no-op.
	if err := s.RecordDeliveryOutcome(ctx, d.DeliveryID, DeliveryOutcome{Status: DeliveryFailed}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetDelivery(ctx, d.DeliveryID); got.Status != DeliverySucceeded {
		t.Fatalf("finished delivery changed: %+v", got)
	}

	// Replay: a new id, the same payload and event time.
	r, err := s.ReplayDelivery(ctx, d.DeliveryID)
	if err != nil || r.DeliveryID == d.DeliveryID || r.ReplayOf != d.DeliveryID || string(r.Data) != string(d.Data) ||
		r.Timestamp != d.Timestamp || r.Status != DeliveryPending {
		t.Fatalf("replay: %+v %v", r, err)
	}
	if _, err := s.ReplayDelivery(ctx, "nope"); KindOf(err) != KindNotFound {
		t.Fatalf("replay missing: %v", err)
	}
	disabled := WebhookDisabled
	if _, err := s.UpdateWebhook(ctx, w.WebhookID, WebhookPatch{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReplayDelivery(ctx, d.DeliveryID); KindOf(err) != KindInvalid {
		t.Fatalf("replay on disabled webhook: %v", err)
	}

	// The log lists newest first, paged.
	ls, next2, err := s.ListDeliveries(ctx, w.WebhookID, 1, "")
	if err != nil || len(ls) != 1 || ls[0].DeliveryID != r.DeliveryID || next2 == "" {
		t.Fatalf("list page 1: %+v %q %v", ls, next2, err)
	}
	ls, next2, err = s.ListDeliveries(ctx, w.WebhookID, 1, next2)
	if err != nil || len(ls) != 1 || ls[0].DeliveryID != d.DeliveryID || next2 != "" {
		t.Fatalf("list page 2: %+v %q %v", ls, next2, err)
	}
	if _, _, err := s.ListDeliveries(ctx, "nope", 10, ""); KindOf(err) != KindNotFound {
		t.Fatalf("list for missing webhook: %v", err)
	}

	// Deleting the webhook drops its queue entries and log.
	if err := s.DeleteWebhook(ctx, w.WebhookID); err != nil {
		t.Fatal(err)
	}
	if n := s.WebhookQueueDepth(); n != 0 {
		t.Fatalf("queue depth after delete %d", n)
	}
	if _, err := s.GetDelivery(ctx, d.DeliveryID); KindOf(err) != KindNotFound {
		t.Fatalf("log after delete: %v", err)
	}
	// An attempt finishing after the delete is ignored.
	if err := s.RecordDeliveryOutcome(ctx, r.DeliveryID, DeliveryOutcome{Status: DeliverySucceeded}); err != nil {
		t.Fatal(err)
	}
}

func TestDeliveryQueueSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := mustWebhook(t, s, WebhookSpec{Events: []WebhookEvent{ev("REGISTERED_MODEL", "CREATED")}})
	if _, err := s.CreateRegisteredModel(ctx, "m", "", nil, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ds := dueAll(t, s)
	if len(ds) != 1 || ds[0].WebhookID != w.WebhookID || ds[0].Entity != "registered_model" {
		t.Fatalf("after reopen: %+v", ds)
	}
}

func TestPruneDeliveries(t *testing.T) {
	s, _ := openTest(t)
	w := mustWebhook(t, s, WebhookSpec{Events: []WebhookEvent{ev("JOB", "FAILED")}})
	var ids []string
	for i := range 5 {
		d, err := s.EnqueueDelivery(ctx, w.WebhookID, "job.failed", map[string]any{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.DeliveryID)
		time.Sleep(2 * time.Millisecond) // distinct creation times, for the order
	}
	// The oldest stays pending, the rest finish.
	for _, id := range ids[1:] {
		if err := s.RecordDeliveryOutcome(ctx, id, DeliveryOutcome{Attempt: &DeliveryAttempt{StatusCode: 200}, Status: DeliverySucceeded}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneDeliveries(ctx, 2)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d %v", n, err)
	}
	ls, _, _ := s.ListDeliveries(ctx, w.WebhookID, 100, "")
	if len(ls) != 3 || ls[0].DeliveryID != ids[4] || ls[1].DeliveryID != ids[3] || ls[2].DeliveryID != ids[0] {
		t.Fatalf("after prune: %+v", ls)
	}

	// Stale queue entries (finished delivery, wrong due time, no delivery)
	// are never returned as due, and pruning removes them.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		q := tx.Bucket(bktDeliveryQ)
		for _, k := range [][]byte{queueKey(1, ids[4]), queueKey(2, ids[0]), queueKey(3, "no-such-delivery")} {
			if err := q.Put(k, nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ds := dueAll(t, s); len(ds) != 1 || ds[0].DeliveryID != ids[0] {
		t.Fatalf("due with stale entries: %+v", ds)
	}
	if _, err := s.PruneDeliveries(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if n := s.WebhookQueueDepth(); n != 1 {
		t.Fatalf("queue depth after pruning stale entries: %d", n)
	}
}

func TestWebhookEventMapping(t *testing.T) {
	for _, typ := range webhookEventTypes {
		e, ok := WebhookEventOf(typ)
		if !ok || e.String() != typ {
			t.Fatalf("%s -> %+v", typ, e)
		}
		if _, err := ParseWebhookEvent(strings.ToLower(e.Entity), e.Action); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if len(ExampleWebhookData(e)) == 0 {
			t.Fatalf("no example payload for %s", typ)
		}
	}
	if !MLflowWebhookEvent("prompt_alias.deleted") || MLflowWebhookEvent("gate.blocked") {
		t.Fatal("MLflowWebhookEvent boundaries")
	}
	if _, ok := WebhookEventOf("model_version.updated"); ok {
		t.Fatal("unsubscribable event mapped")
	}
	if got := FormatEventTime(1700000000123); got != "2023-11-14T22:13:20.123000+00:00" {
		t.Fatalf("event time %s", got)
	}
}

// archive_existing_versions moves the other versions out of the stage:
// each move fires stage_transitioned (a webhook delivery) with its audit
// entry, as an explicit move does.
func TestArchiveExistingFiresStageTransitioned(t *testing.T) {
	s, _ := openTest(t)
	hook := mustWebhook(t, s, WebhookSpec{Name: "stage", Events: []WebhookEvent{ev("MODEL_VERSION", "STAGE_TRANSITIONED")}})
	if _, err := s.CreateRegisteredModel(ctx, "iris", "", nil, "alice"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.CreateModelVersion(ctx, CreateModelVersionRequest{Name: "iris", Source: "s3://b/m"}, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"1", "2"} {
		if _, err := s.TransitionModelVersionStage(ctx, "iris", v, StageProduction, false, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.TransitionModelVersionStage(ctx, "iris", "3", StageProduction, true, "bob"); err != nil {
		t.Fatal(err)
	}
	var moves []string
	for _, d := range dueAll(t, s) {
		if d.WebhookID == hook.WebhookID {
			var p map[string]any
			_ = json.Unmarshal(d.Data, &p)
			moves = append(moves, fmt.Sprintf("%v:%v->%v", p["version"], p["from_stage"], p["to_stage"]))
		}
	}
	slices.Sort(moves)
	if strings.Join(moves, " ") != "1:None->Production 1:Production->Archived 2:None->Production 2:Production->Archived 3:None->Production" {
		t.Fatalf("stage_transitioned deliveries: %v", moves)
	}
	audit, err := s.ListAudit(ctx, "iris", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	archived := 0
	for _, e := range audit {
		if e.Action == "model_version.stage_transitioned" && e.After == StageArchived && e.Actor == "bob" {
			archived++
		}
	}
	if archived != 2 {
		t.Fatalf("%d audit entries for the archived versions", archived)
	}
}
