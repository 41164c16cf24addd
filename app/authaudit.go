package app

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"mlbox/store"
)

// The accounts' audit trail: logins, failed logins and failed
// credentials, changes of users, permissions, roles and tokens. Each entry
// goes to the log ("auth audit" lines) and to the store
// (store/authaudit.go, the newest 100,000 kept), where admins read it with
// GET /api/mlbox/v1/auth/audit.
//
// Changes are recorded before their request answers. Failed credentials
// in the middleware go through a queue written in the background (dropped,
// and counted, when it is full): a client guessing passwords must not turn
// each guess into a synchronous disk write.

// authAudit records an account event of request r.
func (a *App) authAudit(r *http.Request, action, target, detail string) {
	a.recordAuthAudit(r.Context(), store.AuthAuditEntry{Action: action, Actor: actorOf(r), Target: target, Detail: detail, Remote: a.clientAddr(r)})
}

func (a *App) recordAuthAudit(ctx context.Context, e store.AuthAuditEntry) {
	a.log.Info("auth audit", "action", e.Action, "actor", e.Actor, "target", e.Target, "detail", e.Detail, "remote", e.Remote)
	if a.acct == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := a.store.AppendAuthAudit(ctx, e); err != nil {
		a.log.Error("auth audit entry not stored", "action", e.Action, "err", err)
	}
}

// auditQueue writes failed-credential entries in the background.
type auditQueue struct {
	ch      chan store.AuthAuditEntry
	wg      sync.WaitGroup
	dropped *metrics.Counter
	once    sync.Once
}

func (a *App) startAuditQueue() {
	q := &auditQueue{ch: make(chan store.AuthAuditEntry, 1024), dropped: a.metrics.NewCounter("mlbox_auth_audit_dropped_total")}
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		for e := range q.ch {
			batch := []store.AuthAuditEntry{e}
		more:
			for len(batch) < 256 {
				select {
				case e, ok := <-q.ch:
					if !ok {
						break more
					}
					batch = append(batch, e)
				default:
					break more
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := a.store.AppendAuthAudit(ctx, batch...); err != nil {
				a.log.Error("auth audit entries not stored", "n", len(batch), "err", err)
			}
			cancel()
		}
	}()
	a.auditQ = q
}

// stopAuditQueue writes what is queued and stops (before the store closes).
func (a *App) stopAuditQueue() {
	if q := a.auditQ; q != nil {
		q.once.Do(func() { close(q.ch) })
		q.wg.Wait()
	}
}

// auditFailedCredentials queues an "auth.failed" entry for a request whose
// credentials were wrong.
func (a *App) auditFailedCredentials(r *http.Request) {
	q := a.auditQ
	if q == nil {
		return
	}
	kind, who := "", ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, _, _ := strings.Cut(h, " ")
		kind = strings.ToLower(scheme)
		who, _, _ = r.BasicAuth()
	} else if a.proxy != nil && a.proxy.trusted(r) {
		kind = "proxy"
		who = a.proxy.name(r)
	}
	e := store.AuthAuditEntry{Time: time.Now().UnixMilli(), Action: "auth.failed", Target: truncate(who, 255), Detail: kind + " " + r.Method + " " + truncate(r.URL.Path, 200), Remote: a.clientAddr(r)}
	a.log.Info("auth audit", "action", e.Action, "target", e.Target, "detail", e.Detail, "remote", e.Remote)
	select {
	case q.ch <- e:
	default:
		q.dropped.Inc()
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// GET /api/mlbox/v1/auth/audit?before=&limit=&action=&user= (admins):
// newest first; next_before pages on.
func (a *App) listAuthAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.AuthAuditFilter{Action: q.Get("action"), User: q.Get("user")}
	for _, p := range []struct {
		name string
		dst  *uint64
		max  uint64
	}{{"before", &f.Before, 1 << 62}, {"limit", nil, 1000}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > p.max {
			return invalidParam("Invalid value '" + truncate(v, 40) + "' for parameter '" + p.name + "': must be a whole number up to " + strconv.FormatUint(p.max, 10))
		}
		if p.dst != nil {
			*p.dst = n
		} else {
			f.Limit = int(n)
		}
	}
	entries, next, err := a.store.ListAuthAudit(r.Context(), f)
	if err != nil {
		return err
	}
	out := map[string]any{"entries": entries}
	if next != 0 {
		out["next_before"] = next
	}
	return writeJSON(w, out)
}
