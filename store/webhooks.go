package store

// Webhooks (MLflow 3 webhook API plus mlbox's extra events) and their
// delivery queue.
//
// Deliveries use a transactional outbox: when a write transaction emits
// events (tx.emit), the committer calls queueWebhookDeliveriesTx in the same
// bbolt transaction, which writes one delivery per (event, subscribed ACTIVE
// webhook) into the delivery log and the queue. The event and its
// deliveries are durable together or not at all, so a crash right after a
// commit loses nothing, and queued deliveries survive restarts. The HTTP
// delivery itself (app/webhooks.go) reads due queue entries, POSTs, and
// records each attempt with RecordDeliveryAttempt.
//
// Layout (buckets from schema 3, see migrate.go):
//
//	webhooks                      webhook_id -> webhookRecord JSON (incl. secret)
//	webhook_deliveries            delivery_id -> Delivery JSON (the log)
//	webhook_deliveries/by_webhook webhook_id \x00 u64be(created ms) delivery_id -> "" (nested bucket: per-webhook log index, newest last)
//	webhook_queue                 u64be(due unix ms) \x00 delivery_id -> "" (pending attempts)
//
// A delivery stays in the queue while it is being attempted; the attempt's
// outcome moves or removes the entry. A crash mid-attempt therefore repeats
// the attempt after the restart (at-least-once; receivers deduplicate on the
// delivery id, which stays the same across retries).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Webhook statuses (MLflow's WebhookStatus enum, by name).
const (
	WebhookActive   = "ACTIVE"
	WebhookDisabled = "DISABLED"
)

// Payload formats of a webhook (mlbox extension).
const (
	FormatGeneric = "generic" // MLflow's {"entity","action","timestamp","data"} payload
	FormatSlack   = "slack"   // Slack incoming-webhook message {"text": ...}
	FormatDiscord = "discord" // Discord webhook message {"content": ...}
)

// Delivery statuses.
const (
	DeliveryPending   = "PENDING"   // queued: waiting for its first attempt or a retry
	DeliverySucceeded = "SUCCEEDED" // the receiver answered 2xx
	DeliveryFailed    = "FAILED"    // permanent failure, or attempts exhausted
	DeliveryCancelled = "CANCELLED" // the webhook was disabled before the attempt
)

// MaxWebhookNameLength is MLflow's limit on webhook names.
const MaxWebhookNameLength = 63

var webhookNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)

// WebhookEvent is one subscription: an entity and an action, by their
// upper-case enum names ("MODEL_VERSION", "CREATED"). Store events are
// "entity.action" strings in lower case ("model_version.created"); the two
// forms map onto each other by case alone, so a new event type only needs
// a line in webhookEventTypes.
type WebhookEvent struct {
	Entity string `json:"entity"`
	Action string `json:"action"`
}

// String is the event type as the store emits it: "model_version.created".
func (e WebhookEvent) String() string {
	return strings.ToLower(e.Entity) + "." + strings.ToLower(e.Action)
}

// webhookEventTypes lists the events a webhook may subscribe to.
var webhookEventTypes = []string{
	// MLflow's pairs (mlflow/entities/webhook.py VALID_ENTITY_ACTIONS).
	"registered_model.created",
	"model_version.created",
	"model_version_tag.set",
	"model_version_tag.deleted",
	"model_version_alias.created",
	"model_version_alias.deleted",
	"prompt.created",
	"prompt_version.created",
	"prompt_tag.set",
	"prompt_tag.deleted",
	"prompt_version_tag.set",
	"prompt_version_tag.deleted",
	"prompt_alias.created",
	"prompt_alias.deleted",
	// mlbox's extras (see docs/webhooks.md).
	"registered_model.renamed",
	"registered_model.deleted",
	"model_version.deleted",
	"model_version.stage_transitioned",
	"model_version.approved",
	"gate.blocked",
	"deployment.rolled_back",
	"drift.detected",
	"job.failed",
	"retention.applied",
}

// mlflowEventTypes is how many entries at the head of webhookEventTypes are MLflow's.
const mlflowEventTypes = 14

// MLflowWebhookEvent reports whether typ is one of MLflow's own event types
// (as opposed to an mlbox extra).
func MLflowWebhookEvent(typ string) bool {
	i := slices.Index(webhookEventTypes, typ)
	return i >= 0 && i < mlflowEventTypes
}

// WebhookEventTypes returns every subscribable event, in documentation order.
func WebhookEventTypes() []WebhookEvent {
	out := make([]WebhookEvent, 0, len(webhookEventTypes))
	for _, t := range webhookEventTypes {
		e, _ := WebhookEventOf(t)
		out = append(out, e)
	}
	return out
}

// WebhookEventOf maps an emitted event type ("gate.blocked") to its
// subscription ({GATE, BLOCKED}); ok is false for types no webhook can
// subscribe to.
func WebhookEventOf(typ string) (WebhookEvent, bool) {
	if !slices.Contains(webhookEventTypes, typ) {
		return WebhookEvent{}, false
	}
	ent, act, _ := strings.Cut(typ, ".")
	return WebhookEvent{Entity: strings.ToUpper(ent), Action: strings.ToUpper(act)}, true
}

// ParseWebhookEvent validates an entity/action pair given by name in any
// case and returns it in canonical (upper) case.
func ParseWebhookEvent(entity, action string) (WebhookEvent, error) {
	e := WebhookEvent{Entity: strings.ToUpper(strings.TrimSpace(entity)), Action: strings.ToUpper(strings.TrimSpace(action))}
	if e.Entity == "" || e.Action == "" {
		return e, Invalidf("Webhook event must have both an entity and an action, got entity=%q action=%q", entity, action)
	}
	if slices.Contains(webhookEventTypes, e.String()) {
		return e, nil
	}
	var valid []string
	for _, t := range webhookEventTypes {
		if ent, act, _ := strings.Cut(t, "."); strings.ToUpper(ent) == e.Entity {
			valid = append(valid, strings.ToUpper(act))
		}
	}
	if len(valid) == 0 {
		return e, Invalidf("Invalid webhook event entity '%s'. Valid entities are: %s", e.Entity, strings.Join(webhookEntities(), ", "))
	}
	return e, Invalidf("Invalid action '%s' for entity '%s'. Valid actions are: %s", e.Action, e.Entity, strings.Join(valid, ", "))
}

func webhookEntities() []string {
	var out []string
	for _, t := range webhookEventTypes {
		ent, _, _ := strings.Cut(t, ".")
		if u := strings.ToUpper(ent); !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// Webhook is MLflow's Webhook entity plus mlbox's payload format. The
// secret is kept for signing and never serialised to clients.
type Webhook struct {
	WebhookID            string         `json:"webhook_id"`
	Name                 string         `json:"name"`
	Description          string         `json:"description,omitempty"`
	URL                  string         `json:"url"`
	Events               []WebhookEvent `json:"events"`
	Status               string         `json:"status"`
	Format               string         `json:"format"`
	CreationTimestamp    int64          `json:"creation_timestamp"`
	LastUpdatedTimestamp int64          `json:"last_updated_timestamp"`
	Secret               string         `json:"-"`
}

// Subscribed reports whether the webhook subscribes to ev.
func (w *Webhook) Subscribed(ev WebhookEvent) bool { return slices.Contains(w.Events, ev) }

// webhookRecord is the stored webhook: the entity plus its secret.
type webhookRecord struct {
	Webhook
	Secret string `json:"secret,omitempty"`
}

// WebhookSpec is the input of CreateWebhook.
type WebhookSpec struct {
	Name, Description, URL, Secret string
	Events                         []WebhookEvent
	Status                         string // "" means ACTIVE
	Format                         string // "" means generic
}

// WebhookPatch is the input of UpdateWebhook: nil fields are left alone.
// Events replaces the MLflow event types (and, if it holds any mlbox
// extras, the extras too); ExtraEvents replaces the extras. So an update
// from MLflow's client, which knows only MLflow's events, keeps the extras.
type WebhookPatch struct {
	Name, Description, URL, Secret, Status, Format *string
	Events                                         []WebhookEvent // nil: unchanged
	ExtraEvents                                    []WebhookEvent // nil: unchanged
}

func validateWebhook(w *Webhook) error {
	if w.Name == "" {
		return Invalidf("Missing value for required parameter 'name'. See the API docs for more information about request parameters.")
	}
	if len(w.Name) > MaxWebhookNameLength || !webhookNameRE.MatchString(w.Name) {
		return Invalidf("Invalid webhook name '%s'. Names must be 1 to %d characters, start and end with a letter or digit, and contain only letters, digits, '.', '_' and '-'.", w.Name, MaxWebhookNameLength)
	}
	if err := ValidateWebhookURL(w.URL); err != nil {
		return err
	}
	if len(w.Events) == 0 {
		return Invalidf("Webhook events cannot be empty")
	}
	for i, e := range w.Events {
		ce, err := ParseWebhookEvent(e.Entity, e.Action)
		if err != nil {
			return err
		}
		w.Events[i] = ce
	}
	w.Events = dedupEvents(w.Events)
	switch w.Status {
	case WebhookActive, WebhookDisabled:
	default:
		return Invalidf("Invalid webhook status '%s'. Valid statuses are: ACTIVE, DISABLED", w.Status)
	}
	switch w.Format {
	case FormatGeneric, FormatSlack, FormatDiscord:
	default:
		return Invalidf("Invalid webhook format '%s'. Valid formats are: generic, slack, discord", w.Format)
	}
	return nil
}

// patchEvents applies WebhookPatch's event rules to cur.
func patchEvents(cur, events, extras []WebhookEvent) []WebhookEvent {
	isExtra := func(e WebhookEvent) bool { return !MLflowWebhookEvent(e.String()) }
	keepMLflow, keepExtras := events == nil, extras == nil && !slices.ContainsFunc(events, isExtra)
	var out []WebhookEvent
	for _, e := range cur {
		if (isExtra(e) && keepExtras) || (!isExtra(e) && keepMLflow) {
			out = append(out, e)
		}
	}
	out = append(out, events...)
	return append(out, extras...)
}

func dedupEvents(evs []WebhookEvent) []WebhookEvent {
	out := evs[:0]
	for _, e := range evs {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// ValidateWebhookURL checks that u is an absolute http(s) URL with a host.
// Which schemes and addresses are allowed is the app's policy on top.
func ValidateWebhookURL(u string) error {
	if strings.TrimSpace(u) == "" {
		return Invalidf("Missing value for required parameter 'url'. See the API docs for more information about request parameters.")
	}
	p, err := url.Parse(u)
	if err != nil {
		return Invalidf("Invalid webhook URL '%s': %v", u, err)
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return Invalidf("Invalid webhook URL '%s': the scheme must be http or https", u)
	}
	if p.Hostname() == "" {
		return Invalidf("Invalid webhook URL '%s': it has no host", u)
	}
	if p.User != nil {
		return Invalidf("Invalid webhook URL '%s': credentials in the URL are not allowed, use the secret", u)
	}
	return nil
}

// CanonicalWebhookStatus maps a status name case-insensitively.
func CanonicalWebhookStatus(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// CanonicalWebhookFormat maps a format name case-insensitively; "" is generic.
func CanonicalWebhookFormat(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return FormatGeneric
	}
	return s
}

// newUUID4 returns a random UUID in its canonical text form, like Python's
// str(uuid.uuid4()) (MLflow's delivery ids).
func newUUID4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// NewDeliveryID returns a fresh delivery id (a UUID4, as MLflow's).
func NewDeliveryID() string { return newUUID4() }

func getWebhookTx(tx *bolt.Tx, id string) (*webhookRecord, error) {
	v := tx.Bucket(bktWebhooks).Get([]byte(id))
	if v == nil || id == "" {
		return nil, NotFoundf("Webhook with ID %s not found.", id)
	}
	var r webhookRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	r.Webhook.Secret = r.Secret
	return &r, nil
}

func putWebhookTx(tx *bolt.Tx, r *webhookRecord) error {
	r.Secret = r.Webhook.Secret
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bktWebhooks).Put([]byte(r.WebhookID), v)
}

func allWebhooksTx(tx *bolt.Tx) ([]Webhook, error) {
	var out []Webhook
	err := tx.Bucket(bktWebhooks).ForEach(func(k, v []byte) error {
		var r webhookRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		r.Webhook.Secret = r.Secret
		out = append(out, r.Webhook)
		return nil
	})
	return out, err
}

// CreateWebhook validates and stores a new webhook.
func (s *Store) CreateWebhook(ctx context.Context, spec WebhookSpec) (*Webhook, error) {
	now := time.Now().UnixMilli()
	w := Webhook{
		WebhookID: newRunID(), Name: spec.Name, Description: spec.Description, URL: spec.URL,
		Events: slices.Clone(spec.Events), Status: CanonicalWebhookStatus(spec.Status), Format: CanonicalWebhookFormat(spec.Format),
		CreationTimestamp: now, LastUpdatedTimestamp: now, Secret: spec.Secret,
	}
	if w.Status == "" {
		w.Status = WebhookActive
	}
	if err := validateWebhook(&w); err != nil {
		return nil, err
	}
	err := s.update(ctx, func(tx *wtx) error {
		return putWebhookTx(tx.Tx, &webhookRecord{Webhook: w})
	})
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// GetWebhook returns a webhook, secret included (it is tagged json:"-").
func (s *Store) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	var out *Webhook
	err := s.view(ctx, func(tx *bolt.Tx) error {
		r, err := getWebhookTx(tx, id)
		if err == nil {
			out = &r.Webhook
		}
		return err
	})
	return out, err
}

// ListWebhooks returns webhooks oldest first, paged like MLflow (offset tokens).
func (s *Store) ListWebhooks(ctx context.Context, maxResults int, pageToken string) ([]Webhook, string, error) {
	offset, err := decodePageToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	if maxResults <= 0 {
		maxResults = 100
	}
	var all []Webhook
	err = s.view(ctx, func(tx *bolt.Tx) error {
		all, err = allWebhooksTx(tx)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].CreationTimestamp != all[j].CreationTimestamp {
			return all[i].CreationTimestamp < all[j].CreationTimestamp
		}
		return all[i].WebhookID < all[j].WebhookID
	})
	res, next := page(all, offset, maxResults)
	return res, next, nil
}

// UpdateWebhook applies a patch and returns the updated webhook.
func (s *Store) UpdateWebhook(ctx context.Context, id string, p WebhookPatch) (*Webhook, error) {
	var out *Webhook
	err := s.update(ctx, func(tx *wtx) error {
		r, err := getWebhookTx(tx.Tx, id)
		if err != nil {
			return err
		}
		w := r.Webhook
		w.Events = slices.Clone(w.Events)
		if p.Name != nil {
			w.Name = *p.Name
		}
		if p.Description != nil {
			w.Description = *p.Description
		}
		if p.URL != nil {
			w.URL = *p.URL
		}
		if p.Secret != nil {
			w.Secret = *p.Secret
		}
		if p.Status != nil {
			w.Status = CanonicalWebhookStatus(*p.Status)
		}
		if p.Format != nil {
			w.Format = CanonicalWebhookFormat(*p.Format)
		}
		if p.Events != nil || p.ExtraEvents != nil {
			w.Events = patchEvents(w.Events, p.Events, p.ExtraEvents)
		}
		if err := validateWebhook(&w); err != nil {
			return err
		}
		w.LastUpdatedTimestamp = max(time.Now().UnixMilli(), w.LastUpdatedTimestamp)
		if err := putWebhookTx(tx.Tx, &webhookRecord{Webhook: w}); err != nil {
			return err
		}
		out = &w
		return nil
	})
	return out, err
}

// DeleteWebhook removes a webhook with its pending deliveries and its log.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *wtx) error {
		if _, err := getWebhookTx(tx.Tx, id); err != nil {
			return err
		}
		if err := tx.Bucket(bktWebhooks).Delete([]byte(id)); err != nil {
			return err
		}
		logb := tx.Bucket(bktDeliveries)
		q := tx.Bucket(bktDeliveryQ)
		idx := logb.Bucket(bktByWebhook)
		if idx == nil {
			return nil
		}
		p := namePrefix(id)
		var keys [][]byte
		c := idx.Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			did := k[len(p)+8:]
			if d, err := getDeliveryTx(tx.Tx, string(did)); err == nil && d.Status == DeliveryPending {
				if err := q.Delete(queueKey(d.NextAttemptTime, d.DeliveryID)); err != nil {
					return err
				}
			}
			if err := logb.Delete(did); err != nil {
				return err
			}
			if err := idx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// Delivery is one event sent (or to be sent) to one webhook: the log entry.
type Delivery struct {
	DeliveryID string `json:"delivery_id"`
	WebhookID  string `json:"webhook_id"`
	// Entity and Action are lower case, as in MLflow's payload ("model_version", "created").
	Entity string `json:"entity"`
	Action string `json:"action"`
	// Data is the event's payload ("data" in MLflow's body).
	Data json.RawMessage `json:"data"`
	// Timestamp is when the event happened (unix ms); the payload carries it.
	Timestamp       int64             `json:"timestamp"`
	Status          string            `json:"status"`
	Attempts        int               `json:"attempts"`
	NextAttemptTime int64             `json:"next_attempt_time,omitempty"` // unix ms, while PENDING
	CreationTime    int64             `json:"creation_time"`
	LastUpdateTime  int64             `json:"last_update_time"`
	ReplayOf        string            `json:"replay_of,omitempty"` // the delivery this one re-sends
	LastError       string            `json:"last_error,omitempty"`
	History         []DeliveryAttempt `json:"history,omitempty"`
}

// Event is the subscription this delivery belongs to.
func (d *Delivery) Event() WebhookEvent {
	return WebhookEvent{Entity: strings.ToUpper(d.Entity), Action: strings.ToUpper(d.Action)}
}

// DeliveryAttempt records one HTTP attempt.
type DeliveryAttempt struct {
	Attempt      int    `json:"attempt"`
	Time         int64  `json:"time"` // unix ms, when the request started
	DurationMs   int64  `json:"duration_ms"`
	StatusCode   int    `json:"status_code,omitempty"`
	ResponseBody string `json:"response_body,omitempty"` // first 1 KiB
	Error        string `json:"error,omitempty"`
}

// bktByWebhook is the per-webhook index of the delivery log, nested in
// bktDeliveries (created on first use, so no migration is needed).
var bktByWebhook = []byte("by_webhook")

func queueKey(due int64, id string) []byte {
	k := make([]byte, 0, 9+len(id))
	k = binary.BigEndian.AppendUint64(k, uint64(max(due, 0)))
	k = append(k, 0)
	return append(k, id...)
}

func indexKey(webhookID string, created int64, id string) []byte {
	k := namePrefix(webhookID)
	k = binary.BigEndian.AppendUint64(k, uint64(max(created, 0)))
	return append(k, id...)
}

func getDeliveryTx(tx *bolt.Tx, id string) (*Delivery, error) {
	v := tx.Bucket(bktDeliveries).Get([]byte(id))
	if v == nil || id == "" || id == string(bktByWebhook) {
		return nil, NotFoundf("Webhook delivery with ID %s not found.", id)
	}
	var d Delivery
	if err := json.Unmarshal(v, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func putDeliveryTx(tx *bolt.Tx, d *Delivery) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return tx.Bucket(bktDeliveries).Put([]byte(d.DeliveryID), v)
}

// insertDeliveryTx writes a new pending delivery: log entry, index, queue.
func insertDeliveryTx(tx *bolt.Tx, d *Delivery) error {
	if err := putDeliveryTx(tx, d); err != nil {
		return err
	}
	idx, err := tx.Bucket(bktDeliveries).CreateBucketIfNotExists(bktByWebhook)
	if err != nil {
		return err
	}
	if err := idx.Put(indexKey(d.WebhookID, d.CreationTime, d.DeliveryID), nil); err != nil {
		return err
	}
	return tx.Bucket(bktDeliveryQ).Put(queueKey(d.NextAttemptTime, d.DeliveryID), nil)
}

// queueWebhookDeliveriesTx is the outbox: called by the committer, inside
// the write transaction, for each write that emitted events. It queues a
// delivery for every ACTIVE webhook subscribed to each event.
func (s *Store) queueWebhookDeliveriesTx(t *wtx) error {
	b := t.Bucket(bktWebhooks)
	if b == nil {
		return nil
	}
	if k, _ := b.Cursor().First(); k == nil {
		return nil // no webhooks: nothing to do (the common case)
	}
	hooks, err := allWebhooksTx(t.Tx)
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	for _, ev := range t.events {
		typ, data := promptVariant(t.Tx, ev.Type, ev.Data)
		we, ok := WebhookEventOf(typ)
		if !ok {
			continue
		}
		var raw []byte
		for i := range hooks {
			h := &hooks[i]
			if h.Status != WebhookActive || !h.Subscribed(we) {
				continue
			}
			if raw == nil {
				raw = marshalPayload(data)
			}
			ent, act, _ := strings.Cut(typ, ".")
			d := &Delivery{DeliveryID: newUUID4(), WebhookID: h.WebhookID, Entity: ent, Action: act, Data: raw,
				Timestamp: now, Status: DeliveryPending, NextAttemptTime: now, CreationTime: now, LastUpdateTime: now}
			if err := insertDeliveryTx(t.Tx, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// marshalPayload encodes event data for the queue. A payload JSON cannot
// represent (a NaN score, say) must not fail the write that emitted it, so
// NaN and ±Inf become MLflow's strings "NaN", "Infinity", "-Infinity", and
// anything else unencodable becomes its fmt representation.
func marshalPayload(data map[string]any) []byte {
	if raw, err := json.Marshal(data); err == nil {
		return raw
	}
	raw, err := json.Marshal(jsonSafe(data))
	if err != nil {
		raw, _ = json.Marshal(map[string]string{"error": "event data is not representable as JSON: " + err.Error()})
	}
	return raw
}

func jsonSafe(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int, int64, uint64, json.Number:
		return x
	case float64:
		switch {
		case math.IsNaN(x):
			return "NaN"
		case math.IsInf(x, 1):
			return "Infinity"
		case math.IsInf(x, -1):
			return "-Infinity"
		}
		return x
	case float32:
		return jsonSafe(float64(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonSafe(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e)
		}
		return out
	}
	if b, err := json.Marshal(v); err == nil {
		return json.RawMessage(b)
	}
	return fmt.Sprint(v)
}

// promptVariant renames registry events about MLflow prompts (registered
// models tagged mlflow.prompt.is_prompt=true) to MLflow's prompt events,
// as MLflow's server does.
func promptVariant(tx *bolt.Tx, typ string, data map[string]any) (string, map[string]any) {
	var variant string
	switch typ {
	case "registered_model.created":
		if tags, _ := data["tags"].(map[string]string); tags[PromptTag] == "true" {
			return "prompt.created", data
		}
		return typ, data
	case "model_version.created":
		variant = "prompt_version.created"
	case "model_version_tag.set":
		variant = "prompt_version_tag.set"
	case "model_version_tag.deleted":
		variant = "prompt_version_tag.deleted"
	case "model_version_alias.created":
		variant = "prompt_alias.created"
	case "model_version_alias.deleted":
		variant = "prompt_alias.deleted"
	default:
		return typ, data
	}
	name, _ := data["name"].(string)
	rm, err := getRegModelTx(tx, name)
	if err != nil {
		return typ, data
	}
	if v, _ := tagValue(rm.Tags, PromptTag); v != "true" {
		return typ, data
	}
	if variant == "prompt_version.created" {
		tags, _ := data["tags"].(map[string]string)
		return variant, map[string]any{"name": name, "version": data["version"], "template": tags["mlflow.prompt.text"],
			"tags": data["tags"], "description": data["description"]}
	}
	return variant, data
}

// Emit records an event from outside the registry (serving rollbacks, drift,
// failed jobs): it commits the event, so webhooks subscribed to it get a
// durable delivery, and the OnEvent hooks see it after the commit.
func (s *Store) Emit(ctx context.Context, typ string, data map[string]any) error {
	return s.update(ctx, func(tx *wtx) error {
		tx.emit(typ, data)
		return nil
	})
}

// EnqueueDelivery queues an event for one webhook directly (the event need
// not be one the webhook subscribes to). Used to replay and by tests.
func (s *Store) EnqueueDelivery(ctx context.Context, webhookID, typ string, data any) (*Delivery, error) {
	ent, act, ok := strings.Cut(typ, ".")
	if !ok || ent == "" || act == "" {
		return nil, Invalidf("Invalid event type '%s': expected entity.action", typ)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, Invalidf("Invalid event data: %v", err)
	}
	var out *Delivery
	err = s.update(ctx, func(tx *wtx) error {
		if _, err := getWebhookTx(tx.Tx, webhookID); err != nil {
			return err
		}
		now := time.Now().UnixMilli()
		d := &Delivery{DeliveryID: newUUID4(), WebhookID: webhookID, Entity: ent, Action: act, Data: raw,
			Timestamp: now, Status: DeliveryPending, NextAttemptTime: now, CreationTime: now, LastUpdateTime: now}
		out = d
		return insertDeliveryTx(tx.Tx, d)
	})
	return out, err
}

// ReplayDelivery queues the payload of a past delivery again, under a new
// delivery id (receivers deduplicate on ids, and the original's history
// stays as it was). The new delivery's ReplayOf names the original, and
// its timestamp is the original event's.
func (s *Store) ReplayDelivery(ctx context.Context, id string) (*Delivery, error) {
	var out *Delivery
	err := s.update(ctx, func(tx *wtx) error {
		orig, err := getDeliveryTx(tx.Tx, id)
		if err != nil {
			return err
		}
		w, err := getWebhookTx(tx.Tx, orig.WebhookID)
		if err != nil {
			return err
		}
		if w.Status != WebhookActive {
			return Invalidf("Webhook %s is %s: enable it before replaying deliveries.", w.WebhookID, w.Status)
		}
		now := time.Now().UnixMilli()
		d := &Delivery{DeliveryID: newUUID4(), WebhookID: orig.WebhookID, Entity: orig.Entity, Action: orig.Action,
			Data: orig.Data, Timestamp: orig.Timestamp, Status: DeliveryPending, NextAttemptTime: now,
			CreationTime: now, LastUpdateTime: now, ReplayOf: orig.DeliveryID}
		out = d
		return insertDeliveryTx(tx.Tx, d)
	})
	return out, err
}

// GetDelivery returns one delivery log entry.
func (s *Store) GetDelivery(ctx context.Context, id string) (*Delivery, error) {
	var out *Delivery
	err := s.view(ctx, func(tx *bolt.Tx) error {
		d, err := getDeliveryTx(tx, id)
		out = d
		return err
	})
	return out, err
}

// ListDeliveries returns a webhook's delivery log, newest first.
func (s *Store) ListDeliveries(ctx context.Context, webhookID string, maxResults int, pageToken string) ([]Delivery, string, error) {
	offset, err := decodePageToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	if maxResults <= 0 {
		maxResults = 100
	}
	var out []Delivery
	next := ""
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getWebhookTx(tx, webhookID); err != nil {
			return err
		}
		idx := tx.Bucket(bktDeliveries).Bucket(bktByWebhook)
		if idx == nil {
			return nil
		}
		p := namePrefix(webhookID)
		c := idx.Cursor()
		k, _ := c.Seek(prefixEnd(p))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		n := 0
		for ; k != nil && bytes.HasPrefix(k, p); k, _ = c.Prev() {
			if n < offset {
				n++
				continue
			}
			if len(out) == maxResults {
				next = encodePageToken(offset + len(out))
				return nil
			}
			d, err := getDeliveryTx(tx, string(k[len(p)+8:]))
			if err != nil {
				if KindOf(err) == KindNotFound {
					continue
				}
				return err
			}
			out = append(out, *d)
		}
		return nil
	})
	return out, next, err
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	e := bytes.Clone(p)
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] < 0xff {
			e[i]++
			return e[:i+1]
		}
	}
	return nil
}

// DueDeliveries returns up to limit pending deliveries due at now, oldest
// due first, skipping those for which skip returns true (in flight). next
// is the due time of the first entry not yet due (zero if none).
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int, skip func(id string) bool) (due []Delivery, next time.Time, err error) {
	nowMs := now.UnixMilli()
	err = s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bktDeliveryQ).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) < 9 {
				continue
			}
			at := int64(binary.BigEndian.Uint64(k))
			if at > nowMs {
				next = time.UnixMilli(at)
				return nil
			}
			if len(due) >= limit {
				return nil
			}
			id := string(k[9:])
			if skip != nil && skip(id) {
				continue
			}
			d, err := getDeliveryTx(tx, id)
			if err != nil {
				if KindOf(err) == KindNotFound {
					continue // orphan: PruneDeliveries removes it
				}
				return err
			}
			if !queuedAs(d, k) {
				continue // stale entry: PruneDeliveries removes it
			}
			due = append(due, *d)
		}
		return nil
	})
	return due, next, err
}

// queuedAs reports whether queue key k is the live entry of d: d is pending
// and due at the key's time. Anything else is an orphan or a stale entry.
func queuedAs(d *Delivery, k []byte) bool {
	return d.Status == DeliveryPending && len(k) >= 9 && int64(binary.BigEndian.Uint64(k)) == max(d.NextAttemptTime, 0)
}

// WebhookQueueDepth is the number of pending delivery attempts.
func (s *Store) WebhookQueueDepth() int {
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bktDeliveryQ).Stats().KeyN
		return nil
	})
	return n
}

// DeliveryOutcome is the result of processing a pending delivery once.
type DeliveryOutcome struct {
	// Attempt is the HTTP attempt made, nil when none was (cancelled).
	Attempt *DeliveryAttempt
	// Status is DeliveryPending (retry at RetryAt) or a final status.
	Status  string
	RetryAt time.Time
	// Reason explains a final status without an attempt (e.g. cancelled).
	Reason string
}

// RecordDeliveryOutcome stores what happened to a pending delivery and
// moves or removes its queue entry. A delivery that no longer exists (its
// webhook was deleted) or is no longer pending is left alone.
func (s *Store) RecordDeliveryOutcome(ctx context.Context, id string, o DeliveryOutcome) error {
	switch o.Status {
	case DeliveryPending, DeliverySucceeded, DeliveryFailed, DeliveryCancelled:
	default:
		return Invalidf("invalid delivery status %q", o.Status)
	}
	return s.update(ctx, func(tx *wtx) error {
		q := tx.Bucket(bktDeliveryQ)
		d, err := getDeliveryTx(tx.Tx, id)
		if err != nil {
			if KindOf(err) == KindNotFound {
				return nil
			}
			return err
		}
		if d.Status != DeliveryPending {
			return nil // already finished (e.g. a duplicate attempt after a crash)
		}
		if err := q.Delete(queueKey(d.NextAttemptTime, id)); err != nil {
			return err
		}
		d.LastError = o.Reason
		if o.Attempt != nil {
			a := *o.Attempt
			d.Attempts++
			a.Attempt = d.Attempts
			d.History = append(d.History, a)
			if o.Reason == "" {
				d.LastError = a.Error
				if d.LastError == "" && (a.StatusCode < 200 || a.StatusCode > 299) {
					d.LastError = "HTTP " + strconv.Itoa(a.StatusCode)
				}
			}
		}
		d.Status = o.Status
		d.LastUpdateTime = time.Now().UnixMilli()
		d.NextAttemptTime = 0
		if o.Status == DeliveryPending {
			d.NextAttemptTime = o.RetryAt.UnixMilli()
			if err := q.Put(queueKey(d.NextAttemptTime, id), nil); err != nil {
				return err
			}
		}
		return putDeliveryTx(tx.Tx, d)
	})
}

// PruneDeliveries keeps the newest keep finished deliveries of each webhook
// and deletes older ones (keep <= 0 keeps all); pending deliveries are never
// pruned. It also drops queue entries whose delivery is gone or no longer
// pending. It returns how many log entries it deleted.
func (s *Store) PruneDeliveries(ctx context.Context, keep int) (int, error) {
	deleted := 0
	err := s.update(ctx, func(tx *wtx) error {
		deleted = 0
		logb := tx.Bucket(bktDeliveries)
		idx := logb.Bucket(bktByWebhook)
		q := tx.Bucket(bktDeliveryQ)
		var drop [][]byte
		c := q.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) < 9 {
				drop = append(drop, bytes.Clone(k))
				continue
			}
			if d, err := getDeliveryTx(tx.Tx, string(k[9:])); err != nil || !queuedAs(d, k) {
				drop = append(drop, bytes.Clone(k))
			}
		}
		for _, k := range drop {
			if err := q.Delete(k); err != nil {
				return err
			}
		}
		if idx == nil || keep <= 0 {
			return nil
		}
		drop = drop[:0]
		counts := map[string]int{}
		ic := idx.Cursor()
		for k, _ := ic.Last(); k != nil; k, _ = ic.Prev() {
			wid, _, ok := bytes.Cut(k, []byte{0})
			if !ok || len(k) < len(wid)+9 {
				continue
			}
			did := k[len(wid)+9:]
			counts[string(wid)]++
			if counts[string(wid)] <= keep {
				continue
			}
			if d, err := getDeliveryTx(tx.Tx, string(did)); err == nil && d.Status == DeliveryPending {
				continue
			}
			drop = append(drop, bytes.Clone(k))
		}
		for _, k := range drop {
			wid, _, _ := bytes.Cut(k, []byte{0})
			if err := logb.Delete(k[len(wid)+9:]); err != nil {
				return err
			}
			if err := idx.Delete(k); err != nil {
				return err
			}
		}
		deleted = len(drop)
		return nil
	})
	return deleted, err
}

// ExampleWebhookData returns a sample payload for an event type, for the
// test call (MLflow sends its payload classes' example()).
func ExampleWebhookData(ev WebhookEvent) map[string]any {
	tags := map[string]string{"example_key": "example_value"}
	switch ev.String() {
	case "registered_model.created":
		return map[string]any{"name": "example_model", "tags": tags, "description": "An example registered model"}
	case "model_version.created":
		return map[string]any{"name": "example_model", "version": "1", "source": "runs:/abcd1234abcd5678/model",
			"run_id": "abcd1234abcd5678", "tags": tags, "description": "An example model version"}
	case "model_version_tag.set":
		return map[string]any{"name": "example_model", "version": "1", "key": "example_key", "value": "example_value"}
	case "model_version_tag.deleted":
		return map[string]any{"name": "example_model", "version": "1", "key": "example_key"}
	case "model_version_alias.created":
		return map[string]any{"name": "example_model", "alias": "example_alias", "version": "1"}
	case "model_version_alias.deleted":
		return map[string]any{"name": "example_model", "alias": "example_alias"}
	case "prompt.created":
		return map[string]any{"name": "example_prompt", "tags": tags, "description": "An example prompt"}
	case "prompt_version.created":
		return map[string]any{"name": "example_prompt", "version": "1", "template": "Hello {{name}}!", "tags": tags,
			"description": "An example prompt version"}
	case "prompt_tag.set":
		return map[string]any{"name": "example_prompt", "key": "example_key", "value": "example_value"}
	case "prompt_tag.deleted":
		return map[string]any{"name": "example_prompt", "key": "example_key"}
	case "prompt_version_tag.set":
		return map[string]any{"name": "example_prompt", "version": "1", "key": "example_key", "value": "example_value"}
	case "prompt_version_tag.deleted":
		return map[string]any{"name": "example_prompt", "version": "1", "key": "example_key"}
	case "prompt_alias.created":
		return map[string]any{"name": "example_prompt", "alias": "example_alias", "version": "1"}
	case "prompt_alias.deleted":
		return map[string]any{"name": "example_prompt", "alias": "example_alias"}
	case "registered_model.renamed":
		return map[string]any{"name": "example_model_v2", "old_name": "example_model"}
	case "registered_model.deleted":
		return map[string]any{"name": "example_model"}
	case "model_version.deleted":
		return map[string]any{"name": "example_model", "version": "1"}
	case "model_version.stage_transitioned":
		return map[string]any{"name": "example_model", "version": "1", "from_stage": "Staging", "to_stage": "Production"}
	case "model_version.approved":
		return map[string]any{"name": "example_model", "version": "1", "approver": "alice", "comment": "looks good"}
	case "gate.blocked":
		return map[string]any{"name": "example_model", "version": "1", "target": "alias:champion", "rule": "min-accuracy",
			"message": "metric accuracy is 0.81, needs >= 0.9"}
	case "deployment.rolled_back":
		return map[string]any{"deployment": "example_deployment", "name": "example_model", "from_version": "2",
			"to_version": "1", "reason": "error rate above threshold"}
	case "drift.detected":
		return map[string]any{"deployment": "example_deployment", "name": "example_model", "version": "1",
			"feature": "petal_length", "score": 0.42, "threshold": 0.2}
	case "job.failed":
		return map[string]any{"job": "example_job", "run_id": "1", "error": "exit status 1"}
	case "retention.applied":
		return map[string]any{"policy": "example_policy", "log_seq": 1, "runs_deleted": 12, "runs_purged": 3}
	}
	return map[string]any{}
}

// FormatEventTime is MLflow's payload timestamp: Python's
// datetime.now(timezone.utc).isoformat(), microseconds and "+00:00".
func FormatEventTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000000+00:00")
}
