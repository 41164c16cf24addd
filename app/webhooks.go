package app

// Webhooks: MLflow's webhook API (/api/2.0/mlflow/webhooks...), mlbox's
// delivery log API (/api/mlbox/v1/webhooks/...), and the delivery worker
// that sends the deliveries the store queued (store/webhooks.go).

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"

	"mlbox/store"
)

// WebhookConfig configures webhook delivery (config table [webhooks]).
type WebhookConfig struct {
	Workers        int           `koanf:"workers"`         // default 4; concurrent deliveries
	Timeout        time.Duration `koanf:"timeout"`         // default 10s; per HTTP attempt (connect to end of response headers and the 1 KiB excerpt)
	MaxAttempts    int           `koanf:"max_attempts"`    // default 5; attempts per delivery before it is marked FAILED
	BackoffBase    time.Duration `koanf:"backoff_base"`    // default 1s; delay before the 2nd attempt, doubled for each further one
	BackoffMax     time.Duration `koanf:"backoff_max"`     // default 60s; cap on the computed delay (a Retry-After header may ask for more, up to 1h)
	AllowedSchemes []string      `koanf:"allowed_schemes"` // default ["http", "https"]
	AllowPrivate   bool          `koanf:"allow_private"`   // default false; true allows every target address, loopback, private and link-local included (netguard.go)
	AllowCIDRs     []string      `koanf:"allow_cidrs"`     // default []; non-public ranges (CIDRs or single addresses) webhooks may connect to all the same, e.g. ["10.0.0.0/8"]
	LogPerWebhook  int           `koanf:"log_per_webhook"` // default 1000; finished deliveries kept in each webhook's log (0 keeps all)
}

// DefaultWebhookConfig returns the built-in webhook defaults.
func DefaultWebhookConfig() WebhookConfig {
	return WebhookConfig{
		Workers:        4,
		Timeout:        10 * time.Second,
		MaxAttempts:    5,
		BackoffBase:    time.Second,
		BackoffMax:     time.Minute,
		AllowedSchemes: []string{"http", "https"},
		AllowPrivate:   false,
		AllowCIDRs:     []string{},
		LogPerWebhook:  1000,
	}
}

// Validate returns one line per problem, each naming its key.
func (c WebhookConfig) Validate() []string {
	var p []string
	if c.Workers < 1 || c.Workers > 256 {
		p = append(p, fmt.Sprintf("webhooks.workers: must be between 1 and 256, got %d", c.Workers))
	}
	if c.Timeout <= 0 {
		p = append(p, "webhooks.timeout: must be positive")
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		p = append(p, fmt.Sprintf("webhooks.max_attempts: must be between 1 and 100, got %d", c.MaxAttempts))
	}
	if c.BackoffBase <= 0 {
		p = append(p, "webhooks.backoff_base: must be positive")
	}
	if c.BackoffMax < c.BackoffBase {
		p = append(p, "webhooks.backoff_max: must be at least webhooks.backoff_base")
	}
	if len(c.AllowedSchemes) == 0 {
		p = append(p, `webhooks.allowed_schemes: must list at least one of "http", "https"`)
	}
	for _, s := range c.AllowedSchemes {
		if s != "http" && s != "https" {
			p = append(p, fmt.Sprintf(`webhooks.allowed_schemes: %q is not supported (only "http" and "https")`, s))
		}
	}
	for _, s := range c.AllowCIDRs {
		if _, err := parseCIDR(s); err != nil {
			p = append(p, fmt.Sprintf("webhooks.allow_cidrs: %q: %v", s, err))
		}
	}
	if c.LogPerWebhook < 0 {
		p = append(p, "webhooks.log_per_webhook: must not be negative")
	}
	return p
}

// excerptBytes bounds the response body kept per attempt.
const excerptBytes = 1024

// testResponseBytes bounds the response body the test call returns.
const testResponseBytes = 256

// maxRetryAfter caps how long a receiver's Retry-After can postpone a retry.
const maxRetryAfter = time.Hour

// webhooks sends queued deliveries: a dispatcher finds due entries and hands
// them to a pool of workers. Deliveries never run on a request's goroutine;
// the store queued them in the request's transaction.
type webhooks struct {
	st       *store.Store
	cfg      WebhookConfig
	log      *slog.Logger
	client   *http.Client
	policy   targetPolicy  // which addresses deliveries may connect to (netguard.go)
	resolver *net.Resolver // resolves target names, at create time and when dialling; tests inject one

	wake  chan struct{} // new deliveries may be due (an event was committed)
	freed chan struct{} // a worker finished

	mu       sync.Mutex
	inflight map[string]bool
	running  bool
	cancel   context.CancelFunc // stops dispatching
	abort    context.CancelFunc // aborts in-flight requests (Stop timed out)
	done     chan struct{}      // closed when dispatcher and workers have exited

	mSucceeded, mRetried, mFailed, mCancelled *metrics.Counter
	mDuration                                 *metrics.PrometheusHistogram
}

func newWebhooks(st *store.Store, cfg WebhookConfig, log *slog.Logger, set *metrics.Set) *webhooks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &webhooks{st: st, cfg: cfg, log: log, wake: make(chan struct{}, 1), freed: make(chan struct{}, 1), inflight: map[string]bool{}}
	w.configure(cfg, nil)
	if set != nil {
		w.mSucceeded = set.GetOrCreateCounter(`mlbox_webhook_deliveries_total{result="succeeded"}`)
		w.mRetried = set.GetOrCreateCounter(`mlbox_webhook_deliveries_total{result="retried"}`)
		w.mFailed = set.GetOrCreateCounter(`mlbox_webhook_deliveries_total{result="failed"}`)
		w.mCancelled = set.GetOrCreateCounter(`mlbox_webhook_deliveries_total{result="cancelled"}`)
		w.mDuration = set.GetOrCreatePrometheusHistogram(`mlbox_webhook_delivery_duration_seconds`)
		set.GetOrCreateGauge(`mlbox_webhook_queue_depth`, func() float64 { return float64(st.WebhookQueueDepth()) })
	}
	// Every committed event may have queued deliveries: look now rather
	// than at the next timer. The hook runs on the commit goroutine, so it
	// only signals.
	st.OnEvent(func(store.Event) { w.poke() })
	return w
}

func inc(c *metrics.Counter) {
	if c != nil {
		c.Inc()
	}
}

func (w *webhooks) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Start starts the dispatcher and the workers. Dispatching stops when ctx
// ends or Stop is called; call Stop to wait for in-flight deliveries.
func (w *webhooks) Start(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return
	}
	w.running = true
	dctx, cancel := context.WithCancel(ctx)
	actx, abort := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel, w.abort, w.done = cancel, abort, make(chan struct{})
	jobs := make(chan store.Delivery)
	var wg sync.WaitGroup
	for range w.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range jobs {
				w.deliver(actx, d)
				w.release(d.DeliveryID)
			}
		}()
	}
	done := w.done
	go func() {
		w.dispatch(dctx, jobs)
		close(jobs)
		wg.Wait()
		close(done)
	}()
	w.log.Info("webhook delivery started", "workers", w.cfg.Workers, "allow_private", w.cfg.AllowPrivate, "allow_cidrs", w.cfg.AllowCIDRs)
}

// Stop stops dispatching and waits for in-flight deliveries, at most
// webhooks.timeout plus a second; then it aborts them. An aborted attempt
// is not recorded: its delivery stays queued and is retried after the
// next start. Stop is idempotent.
func (w *webhooks) Stop() {
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return
	}
	w.running = false
	cancel, abort, done := w.cancel, w.abort, w.done
	w.mu.Unlock()
	cancel()
	t := time.NewTimer(w.cfg.Timeout + time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		w.log.Warn("aborting in-flight webhook deliveries; they stay queued")
		abort()
		<-done
	}
	abort()
}

func (w *webhooks) isInflight(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inflight[id]
}

func (w *webhooks) release(id string) {
	w.mu.Lock()
	delete(w.inflight, id)
	w.mu.Unlock()
	select {
	case w.freed <- struct{}{}:
	default:
	}
}

// dispatch hands due deliveries to the workers until ctx ends.
func (w *webhooks) dispatch(ctx context.Context, jobs chan<- store.Delivery) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var lastPrune time.Time
	for {
		if ctx.Err() != nil {
			return
		}
		if time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			if n, err := w.st.PruneDeliveries(ctx, w.cfg.LogPerWebhook); err != nil {
				w.log.Warn("pruning the webhook delivery log failed", "err", err)
			} else if n > 0 {
				w.log.Debug("pruned webhook delivery log", "deleted", n)
			}
		}
		w.mu.Lock()
		free := w.cfg.Workers - len(w.inflight)
		w.mu.Unlock()
		wait := time.Minute // safety net; wake-ups normally come first
		if free > 0 {
			due, next, err := w.st.DueDeliveries(ctx, time.Now(), free, w.isInflight)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				w.log.Error("reading the webhook queue failed", "err", err)
				wait = 5 * time.Second
			}
			for _, d := range due {
				w.mu.Lock()
				w.inflight[d.DeliveryID] = true
				w.mu.Unlock()
				select {
				case jobs <- d:
				case <-ctx.Done():
					w.release(d.DeliveryID)
					return
				}
			}
			if !next.IsZero() {
				wait = min(wait, max(time.Until(next), time.Millisecond))
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-w.freed:
		case <-timer.C:
		}
	}
}

// deliver makes one attempt at a queued delivery and records the outcome.
func (w *webhooks) deliver(ctx context.Context, d store.Delivery) {
	log := w.log.With("delivery_id", d.DeliveryID, "webhook_id", d.WebhookID, "event", d.Entity+"."+d.Action)
	wh, err := w.st.GetWebhook(ctx, d.WebhookID)
	if err != nil {
		if store.KindOf(err) == store.KindNotFound {
			err = w.st.RecordDeliveryOutcome(ctx, d.DeliveryID, store.DeliveryOutcome{Status: store.DeliveryCancelled, Reason: "webhook deleted"})
			inc(w.mCancelled)
		}
		if err != nil && ctx.Err() == nil {
			log.Error("webhook delivery failed", "err", err)
		}
		return
	}
	if wh.Status != store.WebhookActive {
		inc(w.mCancelled)
		if err := w.st.RecordDeliveryOutcome(ctx, d.DeliveryID, store.DeliveryOutcome{Status: store.DeliveryCancelled,
			Reason: "webhook is " + wh.Status + ": not sent"}); err != nil && ctx.Err() == nil {
			log.Error("recording a webhook delivery failed", "err", err)
		}
		return
	}
	res := w.send(ctx, wh, &d, false)
	if ctx.Err() != nil {
		return // aborted by Stop: the delivery stays queued
	}
	if w.mDuration != nil {
		w.mDuration.Update(float64(res.attempt.DurationMs) / 1000)
	}
	attempt := d.Attempts + 1
	o := store.DeliveryOutcome{Attempt: &res.attempt}
	switch {
	case res.ok:
		o.Status = store.DeliverySucceeded
		inc(w.mSucceeded)
		log.Debug("webhook delivered", "attempt", attempt, "status", res.attempt.StatusCode)
	case res.retryable && attempt < w.cfg.MaxAttempts:
		o.Status = store.DeliveryPending
		o.RetryAt = time.Now().Add(w.backoff(attempt, res.retryAfter))
		inc(w.mRetried)
		log.Debug("webhook delivery will be retried", "attempt", attempt, "status", res.attempt.StatusCode, "err", res.attempt.Error, "retry_at", o.RetryAt)
	default:
		o.Status = store.DeliveryFailed
		inc(w.mFailed)
		log.Warn("webhook delivery failed", "attempt", attempt, "status", res.attempt.StatusCode, "err", res.attempt.Error, "url", redactURL(wh.URL))
	}
	if err := w.st.RecordDeliveryOutcome(ctx, d.DeliveryID, o); err != nil && ctx.Err() == nil {
		log.Error("recording a webhook delivery failed", "err", err)
	}
}

// backoff is the delay after the given (1-based) failed attempt:
// backoff_base·2^(attempt-1), capped at backoff_max, at least what the
// receiver's Retry-After asked for (itself capped at an hour), plus up to
// 10% jitter so that retries to one receiver spread out.
func (w *webhooks) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := w.cfg.BackoffBase
	for i := 1; i < attempt && d < w.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, w.cfg.BackoffMax)
	d = max(d, min(retryAfter, maxRetryAfter))
	if d > 10 {
		d += rand.N(d / 10)
	}
	return d
}

// sendResult is the outcome of one HTTP attempt.
type sendResult struct {
	attempt    store.DeliveryAttempt
	ok         bool
	retryable  bool
	retryAfter time.Duration
}

// send POSTs the delivery to the webhook's URL, once.
func (w *webhooks) send(ctx context.Context, wh *store.Webhook, d *store.Delivery, test bool) sendResult {
	start := time.Now()
	res := sendResult{attempt: store.DeliveryAttempt{Time: start.UnixMilli()}}
	fail := func(err error, retryable bool) sendResult {
		res.attempt.Error = err.Error()
		res.attempt.DurationMs = time.Since(start).Milliseconds()
		res.retryable = retryable
		return res
	}
	if err := w.schemeAllowed(wh.URL); err != nil {
		return fail(err, false)
	}
	body, err := renderWebhookBody(wh.Format, d, test)
	if err != nil {
		return fail(err, false)
	}
	rctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, wh.URL, bytes.NewReader(body))
	if err != nil {
		return fail(err, false)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mlbox/"+BuildVersion())
	req.Header.Set("X-MLflow-Delivery-Id", d.DeliveryID)
	req.Header.Set("X-MLflow-Timestamp", ts)
	if wh.Secret != "" {
		req.Header.Set("X-MLflow-Signature", signWebhook(wh.Secret, d.DeliveryID, ts, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		if errors.Is(err, errBlockedAddress) {
			return fail(errBlockedAddress, false)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the webhook already; keep the cause
		}
		return fail(err, true)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, excerptBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	res.attempt.DurationMs = time.Since(start).Milliseconds()
	res.attempt.StatusCode = resp.StatusCode
	res.attempt.ResponseBody = strings.ToValidUTF8(string(excerpt), "")
	switch c := resp.StatusCode; {
	case c >= 200 && c <= 299:
		res.ok = true
	case c == http.StatusTooManyRequests || c == http.StatusRequestTimeout || c >= 500:
		res.retryable = true
		res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
	}
	return res
}

// signWebhook is MLflow's signature (mlflow/webhooks/delivery.py):
// "v1," + base64(HMAC-SHA256(secret, "<delivery_id>.<timestamp>.<body>")).
func signWebhook(secret, deliveryID, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(deliveryID))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 if absent or bad.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(invalid URL)"
	}
	// Slack and Discord URLs carry their credential in the path.
	return p.Scheme + "://" + p.Host
}

// --- payloads ----------------------------------------------------------------

// renderWebhookBody builds the request body for the webhook's format.
func renderWebhookBody(format string, d *store.Delivery, test bool) ([]byte, error) {
	switch format {
	case store.FormatSlack, store.FormatDiscord:
		var data map[string]any
		if len(d.Data) > 0 {
			if err := json.Unmarshal(d.Data, &data); err != nil {
				return nil, fmt.Errorf("event data: %w", err)
			}
		}
		msg := eventMessage(d.Entity+"."+d.Action, data)
		if test {
			msg = "[test] " + msg
		}
		if format == store.FormatSlack {
			return slackBody(msg, d), nil
		}
		return discordBody(msg), nil
	default:
		// MLflow's payload: entity and action in lower case, the event time
		// as Python's isoformat() of an aware UTC datetime.
		return json.Marshal(struct {
			Entity    string          `json:"entity"`
			Action    string          `json:"action"`
			Timestamp string          `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}{d.Entity, d.Action, store.FormatEventTime(d.Timestamp), orEmptyObject(d.Data)})
	}
}

func orEmptyObject(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return json.RawMessage("{}")
	}
	return b
}

// slackEscape escapes the three characters Slack's text formatting treats
// as control characters.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackBody is an incoming-webhook message: text (the notification and
// fallback) plus a section block and a context line.
func slackBody(msg string, d *store.Delivery) []byte {
	text := slackEscape.Replace(msg)
	b, _ := json.Marshal(map[string]any{
		"text": text,
		"blocks": []any{
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}},
			map[string]any{"type": "context", "elements": []any{map[string]any{"type": "mrkdwn",
				"text": "mlbox · " + d.Entity + "." + d.Action + " · " + time.UnixMilli(d.Timestamp).UTC().Format(time.RFC3339)}}},
		},
	})
	return b
}

// discordMax is Discord's limit on a message's content.
const discordMax = 2000

// discordBody is a Discord webhook message; mentions are disabled so that
// a model named "@everyone" pings nobody.
func discordBody(msg string) []byte {
	if utf8.RuneCountInString(msg) > discordMax {
		r := []rune(msg)
		msg = string(r[:discordMax-1]) + "…"
	}
	b, _ := json.Marshal(map[string]any{"content": msg, "allowed_mentions": map[string]any{"parse": []string{}}})
	return b
}

// eventMessage is the human-readable line for an event.
func eventMessage(typ string, data map[string]any) string {
	s := func(k string) string {
		switch v := data[k].(type) {
		case nil:
			return ""
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'g', -1, 64)
		default:
			b, _ := json.Marshal(v)
			return string(b)
		}
	}
	name, ver := s("name"), s("version")
	switch typ {
	case "registered_model.created":
		return "Registered model " + name + " was created"
	case "registered_model.renamed":
		return "Registered model " + s("old_name") + " was renamed to " + name
	case "registered_model.deleted":
		return "Registered model " + name + " was deleted"
	case "model_version.created":
		m := "Model " + name + " version " + ver + " was created"
		if src := s("source"); src != "" {
			m += " from " + src
		}
		return m
	case "model_version.deleted":
		return "Model " + name + " version " + ver + " was deleted"
	case "model_version.stage_transitioned":
		return "Model " + name + " version " + ver + " moved from " + orNone(s("from_stage")) + " to " + s("to_stage")
	case "model_version.approved":
		m := "Model " + name + " version " + ver + " was approved"
		if a := s("approver"); a != "" {
			m += " by " + a
		}
		if c := s("comment"); c != "" {
			m += ": " + c
		}
		return m
	case "model_version_tag.set":
		return "Tag " + s("key") + "=" + s("value") + " was set on model " + name + " version " + ver
	case "model_version_tag.deleted":
		return "Tag " + s("key") + " was removed from model " + name + " version " + ver
	case "model_version_alias.created":
		m := "Alias " + s("alias") + " of model " + name + " now points to version " + ver
		if p := s("previous_version"); p != "" && p != ver {
			m += " (was version " + p + ")"
		}
		return m
	case "model_version_alias.deleted":
		return "Alias " + s("alias") + " of model " + name + " was removed"
	case "gate.blocked":
		target := s("target")
		if kind, val, ok := strings.Cut(target, ":"); ok {
			target = kind + " " + val
		}
		rule := s("rule")
		m := "Promotion of " + name + " v" + ver + " to " + target + " blocked by gate " + rule
		// The store's message repeats the rule: keep only the reason.
		if msg := strings.TrimPrefix(s("message"), "Blocked by promotion gate "+strconv.Quote(rule)+": "); msg != "" {
			m += ": " + msg
		}
		return m
	case "prompt.created":
		return "Prompt " + name + " was created"
	case "prompt_version.created":
		return "Prompt " + name + " version " + ver + " was created"
	case "prompt_tag.set":
		return "Tag " + s("key") + "=" + s("value") + " was set on prompt " + name
	case "prompt_tag.deleted":
		return "Tag " + s("key") + " was removed from prompt " + name
	case "prompt_version_tag.set":
		return "Tag " + s("key") + "=" + s("value") + " was set on prompt " + name + " version " + ver
	case "prompt_version_tag.deleted":
		return "Tag " + s("key") + " was removed from prompt " + name + " version " + ver
	case "prompt_alias.created":
		return "Alias " + s("alias") + " of prompt " + name + " now points to version " + ver
	case "prompt_alias.deleted":
		return "Alias " + s("alias") + " of prompt " + name + " was removed"
	case "deployment.rolled_back":
		m := "Deployment " + firstOf(s("deployment"), name) + " was rolled back"
		if name != "" && s("deployment") != "" {
			m = "Deployment " + s("deployment") + " of model " + name + " was rolled back"
		}
		if from, to := s("from_version"), s("to_version"); from != "" && to != "" {
			m += " from version " + from + " to version " + to
		}
		if r := s("reason"); r != "" {
			m += ": " + r
		}
		return m
	case "drift.detected":
		m := "Drift detected"
		if dep := s("deployment"); dep != "" {
			m += " on deployment " + dep
		}
		if name != "" {
			m += " (model " + name
			if ver != "" {
				m += " version " + ver
			}
			m += ")"
		}
		if f := s("feature"); f != "" {
			m += ": feature " + f
			if sc := s("score"); sc != "" {
				m += " score " + sc
				if th := s("threshold"); th != "" {
					m += " > threshold " + th
				}
			}
		}
		return m
	case "retention.applied":
		return "Retention policy " + s("policy") + " applied: " + s("runs_deleted") + " runs deleted, " + s("runs_purged") + " purged"
	case "job.failed":
		m := "Job " + firstOf(s("job"), name) + " failed"
		if e := s("error"); e != "" {
			m += ": " + e
		}
		return m
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+s(k))
	}
	return typ + ": " + strings.Join(parts, ", ")
}

func orNone(stage string) string {
	if stage == "" {
		return "None"
	}
	return stage
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// --- HTTP API ----------------------------------------------------------------

func (a *App) webhookRoutes() {
	a.mlflow("POST", "/webhooks", a.createWebhook)
	a.mlflow("GET", "/webhooks", a.listWebhooks)
	a.mlflow("GET", "/webhooks/{webhook_id}", a.getWebhook)
	a.mlflow("PATCH", "/webhooks/{webhook_id}", a.updateWebhook)
	a.mlflow("DELETE", "/webhooks/{webhook_id}", a.deleteWebhook)
	a.mlflow("POST", "/webhooks/{webhook_id}/test", a.testWebhook)

	// mlbox extensions: the event catalogue, the delivery log, replays.
	m := a.mux
	m.HandleFunc("GET /api/mlbox/v1/webhooks/events", a.wrap(a.listWebhookEvents))
	m.HandleFunc("GET /api/mlbox/v1/webhooks/{webhook_id}/deliveries", a.wrap(a.listDeliveries))
	m.HandleFunc("POST /api/mlbox/v1/webhooks/deliveries/{delivery_id}/replay", a.wrap(a.replayDelivery))
}

// Protobuf enum numbers of MLflow's webhooks.proto, for clients that send
// numbers instead of names.
var (
	webhookEntityNums = map[string]string{"1": "REGISTERED_MODEL", "2": "MODEL_VERSION", "3": "MODEL_VERSION_TAG",
		"4": "MODEL_VERSION_ALIAS", "5": "PROMPT", "6": "PROMPT_VERSION", "7": "PROMPT_TAG", "8": "PROMPT_VERSION_TAG", "9": "PROMPT_ALIAS"}
	webhookActionNums = map[string]string{"1": "CREATED", "2": "UPDATED", "3": "DELETED", "4": "SET"}
	webhookStatusNums = map[string]string{"1": store.WebhookActive, "2": store.WebhookDisabled}
)

func enumName(v string, nums map[string]string) string {
	if n, ok := nums[strings.TrimSpace(v)]; ok {
		return n
	}
	return v
}

// webhookEventJSON is one event in a request: {"entity": ..., "action": ...}
// by enum name (any case) or number, or (mlbox) the string "entity.action".
type webhookEventJSON struct {
	ev store.WebhookEvent
}

func (e *webhookEventJSON) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		ent, act, _ := strings.Cut(s, ".")
		e.ev = store.WebhookEvent{Entity: ent, Action: act}
		return nil
	}
	var o struct {
		Entity optString `json:"entity"`
		Action optString `json:"action"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return invalidParam("Invalid webhook event " + abbrev(b) + ": expected {\"entity\": ..., \"action\": ...}")
	}
	e.ev = store.WebhookEvent{Entity: enumName(o.Entity.V, webhookEntityNums), Action: enumName(o.Action.V, webhookActionNums)}
	return nil
}

func toEvents(in []webhookEventJSON) ([]store.WebhookEvent, error) {
	out := make([]store.WebhookEvent, 0, len(in))
	for _, e := range in {
		ev, err := store.ParseWebhookEvent(e.ev.Entity, e.ev.Action)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

type webhookReq struct {
	Name        optString           `json:"name"`
	Description optString           `json:"description"`
	URL         optString           `json:"url"`
	Events      *[]webhookEventJSON `json:"events"`
	MlboxEvents *[]webhookEventJSON `json:"mlbox_events"` // mlbox's extras, as get/list return them
	Secret      optString           `json:"secret"`
	Status      optString           `json:"status"`
	Format      optString           `json:"format"`
}

// webhookJSON is a webhook as the API returns it: MLflow's event types
// under "events" and mlbox's extras under "mlbox_events". MLflow's client
// parses "events" into its enums and cannot build a webhook with an event it
// does not know; it ignores unknown fields, so the extras stay readable.
type webhookJSON struct {
	*store.Webhook
	Events      []store.WebhookEvent `json:"events"`
	MlboxEvents []store.WebhookEvent `json:"mlbox_events,omitempty"`
}

func toWebhookJSON(wh *store.Webhook) webhookJSON {
	out := webhookJSON{Webhook: wh, Events: []store.WebhookEvent{}}
	for _, e := range wh.Events {
		if store.MLflowWebhookEvent(e.String()) {
			out.Events = append(out.Events, e)
		} else {
			out.MlboxEvents = append(out.MlboxEvents, e)
		}
	}
	return out
}

func (a *App) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var req webhookReq
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := require("name", req.Name); err != nil {
		return err
	}
	if err := require("url", req.URL); err != nil {
		return err
	}
	if req.Events == nil && req.MlboxEvents == nil {
		return missingParam("events")
	}
	var events []store.WebhookEvent
	for _, in := range []*[]webhookEventJSON{req.Events, req.MlboxEvents} {
		if in != nil {
			evs, err := toEvents(*in)
			if err != nil {
				return err
			}
			events = append(events, evs...)
		}
	}
	if err := a.hooks.checkTarget(r.Context(), req.URL.V); err != nil {
		return err
	}
	wh, err := a.store.CreateWebhook(r.Context(), store.WebhookSpec{
		Name: req.Name.V, Description: req.Description.V, URL: req.URL.V, Secret: req.Secret.V, Events: events,
		Status: enumName(req.Status.V, webhookStatusNums), Format: req.Format.V,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"webhook": toWebhookJSON(wh)})
}

func (a *App) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		MaxResults optInt    `json:"max_results"`
		PageToken  optString `json:"page_token"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := checkMaxResults(req.MaxResults); err != nil {
		return err
	}
	hooks, next, err := a.store.ListWebhooks(r.Context(), int(req.MaxResults.V), req.PageToken.V)
	if err != nil {
		return err
	}
	out := make([]webhookJSON, len(hooks))
	for i := range hooks {
		out[i] = toWebhookJSON(&hooks[i])
	}
	return writeJSON(w, struct {
		Webhooks      []webhookJSON `json:"webhooks,omitempty"`
		NextPageToken string        `json:"next_page_token,omitempty"`
	}{out, next})
}

// atLeastOne checks a max_results given as 0 or less, as MLflow does.
func atLeastOne(n optInt) error {
	if n.Set && n.V < 1 {
		return invalidParam("Invalid value for request parameter max_results. It must be at least 1, but got value " + strconv.FormatInt(n.V, 10))
	}
	return nil
}

func checkMaxResults(n optInt) error {
	if err := atLeastOne(n); err != nil || !n.Set {
		return err
	}
	if n.V > 1000 {
		return invalidParam("Invalid value for request parameter max_results. It must be at most 1000, but got value " + strconv.FormatInt(n.V, 10))
	}
	return nil
}

func (a *App) getWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, err := a.store.GetWebhook(r.Context(), r.PathValue("webhook_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"webhook": toWebhookJSON(wh)})
}

func (a *App) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	var req webhookReq
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	var p store.WebhookPatch
	for _, f := range []struct {
		in  optString
		out **string
	}{{req.Name, &p.Name}, {req.Description, &p.Description}, {req.URL, &p.URL}, {req.Secret, &p.Secret}, {req.Format, &p.Format}} {
		if f.in.Set {
			v := f.in.V
			*f.out = &v
		}
	}
	if req.Status.Set {
		st := enumName(req.Status.V, webhookStatusNums)
		p.Status = &st
	}
	for _, f := range []struct {
		in  *[]webhookEventJSON
		out *[]store.WebhookEvent
	}{{req.Events, &p.Events}, {req.MlboxEvents, &p.ExtraEvents}} {
		if f.in != nil {
			evs, err := toEvents(*f.in)
			if err != nil {
				return err
			}
			*f.out = append([]store.WebhookEvent{}, evs...) // present, maybe empty
		}
	}
	if p.URL != nil {
		if err := a.hooks.checkTarget(r.Context(), *p.URL); err != nil {
			return err
		}
	}
	wh, err := a.store.UpdateWebhook(r.Context(), r.PathValue("webhook_id"), p)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"webhook": toWebhookJSON(wh)})
}

func (a *App) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := a.store.DeleteWebhook(r.Context(), r.PathValue("webhook_id")); err != nil {
		return err
	}
	return writeEmpty(w)
}

// testWebhook sends an example payload for one event (default: the
// webhook's first) synchronously, whatever the webhook's status, and
// reports the receiver's answer. Nothing is queued or logged.
func (a *App) testWebhook(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Event *webhookEventJSON `json:"event"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	wh, err := a.store.GetWebhook(r.Context(), r.PathValue("webhook_id"))
	if err != nil {
		return err
	}
	var ev store.WebhookEvent
	if req.Event != nil {
		if ev, err = store.ParseWebhookEvent(req.Event.ev.Entity, req.Event.ev.Action); err != nil {
			return err
		}
	} else if len(wh.Events) > 0 {
		ev = wh.Events[0]
	} else {
		return invalidParam("Webhook has no events to test")
	}
	data, _ := json.Marshal(store.ExampleWebhookData(ev))
	typ := ev.String()
	ent, act, _ := strings.Cut(typ, ".")
	d := &store.Delivery{DeliveryID: store.NewDeliveryID(), WebhookID: wh.WebhookID, Entity: ent, Action: act,
		Data: data, Timestamp: time.Now().UnixMilli()}
	res := a.hooks.send(r.Context(), wh, d, true)
	out := map[string]any{"success": res.ok}
	if res.attempt.StatusCode != 0 {
		out["response_status"] = res.attempt.StatusCode
	}
	if b := res.attempt.ResponseBody; b != "" {
		// A short prefix: enough to see what answered, too little to make
		// the test call a way to read another service's pages.
		out["response_body"] = truncateUTF8(b, testResponseBytes)
	}
	if res.attempt.Error != "" {
		out["error_message"] = "Failed to test webhook: " + res.attempt.Error
	}
	return writeJSON(w, map[string]any{"result": out})
}

func (a *App) listWebhookEvents(w http.ResponseWriter, r *http.Request) error {
	type eventInfo struct {
		Entity string `json:"entity"`
		Action string `json:"action"`
		Type   string `json:"type"`
		MLflow bool   `json:"mlflow"`
	}
	var out []eventInfo
	for _, e := range store.WebhookEventTypes() {
		out = append(out, eventInfo{e.Entity, e.Action, e.String(), store.MLflowWebhookEvent(e.String())})
	}
	return writeJSON(w, map[string]any{"events": out})
}

func (a *App) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		MaxResults optInt    `json:"max_results"`
		PageToken  optString `json:"page_token"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := checkMaxResults(req.MaxResults); err != nil {
		return err
	}
	ds, next, err := a.store.ListDeliveries(r.Context(), r.PathValue("webhook_id"), int(req.MaxResults.V), req.PageToken.V)
	if err != nil {
		return err
	}
	return writeJSON(w, struct {
		Deliveries    []store.Delivery `json:"deliveries,omitempty"`
		NextPageToken string           `json:"next_page_token,omitempty"`
	}{ds, next})
}

// replayDelivery queues a past delivery's payload again under a new
// delivery id (see store.ReplayDelivery).
func (a *App) replayDelivery(w http.ResponseWriter, r *http.Request) error {
	d, err := a.store.ReplayDelivery(r.Context(), r.PathValue("delivery_id"))
	if err != nil {
		return err
	}
	a.hooks.poke()
	return writeJSON(w, map[string]any{"delivery": d})
}
