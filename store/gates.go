package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"mlbox/store/search"
)

// GateRule is a promotion gate: a check a stage transition or an alias
// move must pass. Targets say which moves it guards: "stage:Production",
// "stage:Staging", "alias:champion", "alias:*" or "*". Each rule sets one
// or more of Metric, RequireStage and Approvals.
type GateRule struct {
	Name    string   `json:"name"`
	Targets []string `json:"targets"`
	// Metric is a run filter evaluated on the version's source run, e.g.
	// "metrics.accuracy >= 0.9" (MLflow search grammar, runs entity).
	Metric string `json:"metric,omitempty"`
	// RequireStage: the version must have been in this stage before.
	RequireStage string `json:"require_stage,omitempty"`
	// Approvals: at least this many distinct approvers of this version.
	Approvals int `json:"approvals,omitempty"`
}

func (g *GateRule) validate() error {
	if strings.TrimSpace(g.Name) == "" {
		return Invalidf("gate rule: 'name' is required")
	}
	if len(g.Targets) == 0 {
		return Invalidf("gate rule %q: 'targets' is required (e.g. [\"stage:Production\", \"alias:champion\"])", g.Name)
	}
	for _, t := range g.Targets {
		kind, val, ok := strings.Cut(t, ":")
		switch {
		case t == "*":
		case ok && kind == "stage":
			if _, ok := CanonicalStage(val); !ok && val != "*" {
				return Invalidf("gate rule %q: unknown stage in target %q", g.Name, t)
			}
		case ok && kind == "alias":
			if val != "*" && !reAlias.MatchString(val) {
				return Invalidf("gate rule %q: bad alias in target %q", g.Name, t)
			}
		default:
			return Invalidf("gate rule %q: target %q must be stage:<Stage>, alias:<alias> or *", g.Name, t)
		}
	}
	if g.Metric == "" && g.RequireStage == "" && g.Approvals == 0 {
		return Invalidf("gate rule %q: set at least one of metric, require_stage, approvals", g.Name)
	}
	if g.Metric != "" {
		if _, err := search.ParseFilter(search.Runs, g.Metric); err != nil {
			return Invalidf("gate rule %q: bad metric condition: %s", g.Name, err.Error())
		}
	}
	if g.RequireStage != "" {
		c, ok := CanonicalStage(g.RequireStage)
		if !ok {
			return Invalidf("gate rule %q: unknown require_stage %q", g.Name, g.RequireStage)
		}
		g.RequireStage = c
	}
	if g.Approvals < 0 || g.Approvals > 100 {
		return Invalidf("gate rule %q: approvals must be between 0 and 100", g.Name)
	}
	return nil
}

// Validate checks a rule (and canonicalizes require_stage).
func (g *GateRule) Validate() error { return g.validate() }

// SetConfigGates installs the rules from the config file, by model name
// ("*" applies to every model). They are checked in addition to the rules
// set through the API, and are not stored in the database.
func (s *Store) SetConfigGates(rules map[string][]GateRule) error {
	for model, rs := range rules {
		for i := range rs {
			if err := rs[i].validate(); err != nil {
				return fmt.Errorf("gates for %q: %w", model, err)
			}
		}
	}
	s.gatesMu.Lock()
	s.configGates = rules
	s.gatesMu.Unlock()
	return nil
}

// ConfigGates returns the config-file rules that apply to a model.
func (s *Store) ConfigGates(model string) []GateRule {
	s.gatesMu.RLock()
	defer s.gatesMu.RUnlock()
	return append(slices.Clone(s.configGates["*"]), s.configGates[model]...)
}

func (g *GateRule) guards(target string) bool {
	kind, val, _ := strings.Cut(target, ":")
	for _, t := range g.Targets {
		tk, tv, _ := strings.Cut(t, ":")
		if t == "*" || t == target || (tk == kind && tv == "*") {
			return true
		}
		if tk == "stage" && kind == "stage" && strings.EqualFold(tv, val) {
			return true
		}
	}
	return false
}

// SetGates replaces a model's gate rules.
func (s *Store) SetGates(ctx context.Context, model string, rules []GateRule, actor Actor) error {
	seen := map[string]bool{}
	for i := range rules {
		if err := rules[i].validate(); err != nil {
			return err
		}
		if seen[rules[i].Name] {
			return Invalidf("gate rule %q is defined twice", rules[i].Name)
		}
		seen[rules[i].Name] = true
	}
	return s.update(ctx, func(tx *wtx) error {
		if _, err := getRegModelTx(tx.Tx, model); err != nil {
			return err
		}
		v, err := json.Marshal(rules)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bktGates).Put([]byte(model), v); err != nil {
			return err
		}
		return s.auditTx(tx, AuditEntry{Model: model, Action: "gates.set", Actor: actor, After: string(v)})
	})
}

// GetGates returns a model's gate rules.
func (s *Store) GetGates(ctx context.Context, model string) ([]GateRule, error) {
	var out []GateRule
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getRegModelTx(tx, model); err != nil {
			return err
		}
		var err error
		out, err = gatesTx(tx, model)
		return err
	})
	return out, err
}

func gatesTx(tx *bolt.Tx, model string) ([]GateRule, error) {
	v := tx.Bucket(bktGates).Get([]byte(model))
	if v == nil {
		return nil, nil
	}
	var out []GateRule
	err := json.Unmarshal(v, &out)
	return out, err
}

// Approval is one recorded approval of a model version.
type Approval struct {
	Model    string `json:"model"`
	Version  string `json:"version"`
	Approver string `json:"approver"`
	Comment  string `json:"comment,omitempty"`
	Time     int64  `json:"time"`
}

func approvalPrefix(model, version string) []byte {
	n, _ := strconv.ParseInt(version, 10, 64)
	return append(binary.BigEndian.AppendUint64(namePrefix(model), uint64(n)), 0)
}

// Approve records an approval; one approver counts once per version.
func (s *Store) Approve(ctx context.Context, model, version, approver, comment string) (*Approval, error) {
	if strings.TrimSpace(approver) == "" {
		return nil, Invalidf("Missing value for required parameter 'approver'")
	}
	var out *Approval
	err := s.update(ctx, func(tx *wtx) error {
		if _, err := getVersionTx(tx.Tx, model, version); err != nil {
			return err
		}
		b := tx.Bucket(bktApprovals)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		a := &Approval{Model: model, Version: version, Approver: approver, Comment: comment, Time: time.Now().UnixMilli()}
		v, _ := json.Marshal(a)
		if err := b.Put(binary.BigEndian.AppendUint64(approvalPrefix(model, version), seq), v); err != nil {
			return err
		}
		out = a
		tx.emit("model_version.approved", map[string]any{"name": model, "version": version, "approver": approver, "comment": comment})
		return s.auditTx(tx, AuditEntry{Model: model, Version: version, Action: "model_version.approved", Actor: approver, Detail: comment})
	})
	return out, err
}

// ListApprovals returns a version's approvals, oldest first.
func (s *Store) ListApprovals(ctx context.Context, model, version string) ([]Approval, error) {
	var out []Approval
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getVersionTx(tx, model, version); err != nil {
			return err
		}
		out = approvalsTx(tx, model, version)
		return nil
	})
	return out, err
}

func approvalsTx(tx *bolt.Tx, model, version string) []Approval {
	var out []Approval
	p := approvalPrefix(model, version)
	c := tx.Bucket(bktApprovals).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		var a Approval
		if json.Unmarshal(v, &a) == nil {
			out = append(out, a)
		}
	}
	return out
}

// gateError is a move blocked by a rule.
func gateError(rule GateRule, why string, perm bool) error {
	msg := fmt.Sprintf("Blocked by promotion gate %q: %s", rule.Name, why)
	if perm {
		return &Error{Kind: KindPermission, Msg: msg}
	}
	return &Error{Kind: KindInvalid, Msg: msg}
}

// checkGatesTx evaluates the rules guarding target for version v: the
// model's stored rules, then extra (the config file's). It runs in a write
// transaction, so pending metric points (pend) are current for it.
func checkGatesTx(tx *bolt.Tx, pend *pendingMetrics, model string, v *versionRecord, target string, extra []GateRule) (GateRule, error) {
	rules, err := gatesTx(tx, model)
	if err != nil {
		return GateRule{}, err
	}
	for _, g := range append(rules, extra...) {
		if !g.guards(target) {
			continue
		}
		if g.RequireStage != "" && !slices.Contains(v.StagesVisited, g.RequireStage) {
			return g, gateError(g, fmt.Sprintf("version %s has never been in %s", v.Version, g.RequireStage), false)
		}
		if g.Metric != "" {
			if v.RunID == "" {
				return g, gateError(g, fmt.Sprintf("version %s has no source run to check %q against", v.Version, g.Metric), false)
			}
			run, err := readRun(tx, v.RunID, pend.latest(v.RunID)[v.RunID])
			if err != nil {
				return g, gateError(g, fmt.Sprintf("source run %s of version %s: %v", v.RunID, v.Version, err), false)
			}
			conds, _ := search.ParseFilter(search.Runs, g.Metric)
			if ok, why := runMatches(run, conds); !ok {
				return g, gateError(g, fmt.Sprintf("version %s does not satisfy %q (%s)", v.Version, g.Metric, why), false)
			}
		}
		if g.Approvals > 0 {
			approvers := map[string]bool{}
			for _, a := range approvalsTx(tx, model, v.Version) {
				approvers[a.Approver] = true
			}
			if len(approvers) < g.Approvals {
				return g, gateError(g, fmt.Sprintf("version %s has %d of %d required approvals", v.Version, len(approvers), g.Approvals), true)
			}
		}
	}
	return GateRule{}, nil
}

// runMatches evaluates run-filter comparisons on one run.
func runMatches(run *Run, conds []search.Comparison) (bool, string) {
	for _, c := range conds {
		switch c.Type {
		case search.Metric:
			var val float64
			has := false
			for _, m := range run.Data.Metrics {
				if m.Key == c.Key {
					val, has = m.Value, true
				}
			}
			if !c.MatchNumber(val, has) {
				if !has {
					return false, "metric " + c.Key + " was not logged"
				}
				return false, fmt.Sprintf("%s is %v", c.Key, val)
			}
		case search.Param:
			v, ok := tagValue(run.Data.Params, c.Key)
			if !c.MatchString(v, ok) {
				return false, "param " + c.Key + " is " + strconv.Quote(v)
			}
		case search.Tag:
			v, ok := tagValue(run.Data.Tags, c.Key)
			if !c.MatchString(v, ok) {
				return false, "tag " + c.Key + " is " + strconv.Quote(v)
			}
		default:
			var have string
			switch c.Key {
			case "status":
				have = run.Info.Status
			case "run_name":
				have = run.Info.RunName
			case "user_id":
				have = run.Info.UserID
			case "run_id":
				have = run.Info.RunID
			default:
				if c.Key == "start_time" && c.MatchNumber(float64(run.Info.StartTime), true) {
					continue
				}
				return false, "attribute " + c.Key + " does not match"
			}
			if !c.MatchString(have, true) {
				return false, c.Key + " is " + strconv.Quote(have)
			}
		}
	}
	return true, ""
}

// gated runs a registry move: if a gate blocks it, only the audit entry of
// the decision is committed and the gate's error is returned.
func (s *Store) gated(ctx context.Context, model, version, target string, actor Actor, apply func(tx *wtx, rm *regModelRecord, v *versionRecord) error) error {
	var blocked error
	err := s.update(ctx, func(tx *wtx) error {
		blocked = nil
		v, err := getVersionTx(tx.Tx, model, version)
		if err != nil {
			return err
		}
		rm, err := getRegModelTx(tx.Tx, model)
		if err != nil {
			return err
		}
		rule, gerr := checkGatesTx(tx.Tx, s.pending, model, v, target, s.ConfigGates(model))
		if gerr != nil {
			if KindOf(gerr) == 0 {
				return gerr
			}
			blocked = gerr
			tx.emit("gate.blocked", map[string]any{"name": model, "version": v.Version, "target": target, "rule": rule.Name, "message": gerr.Error()})
			return s.auditTx(tx, AuditEntry{Model: model, Version: v.Version, Action: "gate.blocked", Actor: actor,
				After: target, Rule: rule.Name, Detail: gerr.Error()})
		}
		return apply(tx, rm, v)
	})
	if err != nil {
		return err
	}
	return blocked
}

// TransitionModelVersionStage moves a version to a stage, through the gates.
func (s *Store) TransitionModelVersionStage(ctx context.Context, model, version, stage string, archiveExisting bool, actor Actor) (*ModelVersion, error) {
	st, ok := CanonicalStage(stage)
	if !ok {
		return nil, Invalidf("Invalid Model Version stage: %s. Value must be one of None, Staging, Production, Archived.", stage)
	}
	if archiveExisting && st != StageStaging && st != StageProduction {
		return nil, Invalidf("Model version transition cannot archive existing model versions because '%s' is not an Active stage. Valid stages are Staging and Production.", st)
	}
	var out *ModelVersion
	err := s.gated(ctx, model, version, "stage:"+st, actor, func(tx *wtx, rm *regModelRecord, v *versionRecord) error {
		now := time.Now().UnixMilli()
		before := v.CurrentStage
		if archiveExisting {
			others, err := versionsTx(tx.Tx, model)
			if err != nil {
				return err
			}
			for _, o := range others {
				if o.Version == v.Version || o.CurrentStage != st {
					continue
				}
				o.CurrentStage = StageArchived
				o.LastUpdatedTimestamp = now
				o.StagesVisited = appendStage(o.StagesVisited, StageArchived)
				if err := putVersionTx(tx.Tx, o); err != nil {
					return err
				}
				tx.emit("model_version.stage_transitioned", map[string]any{"name": model, "version": o.Version, "from_stage": st,
					"to_stage": StageArchived, "archive_existing_versions": true})
				if err := s.auditTx(tx, AuditEntry{Model: model, Version: o.Version, Action: "model_version.stage_transitioned",
					Actor: actor, Before: st, After: StageArchived, Detail: "archive_existing_versions"}); err != nil {
					return err
				}
			}
		}
		v.CurrentStage = st
		v.LastUpdatedTimestamp = now
		v.StagesVisited = appendStage(v.StagesVisited, st)
		if err := putVersionTx(tx.Tx, v); err != nil {
			return err
		}
		rm.LastUpdatedTimestamp = now
		if err := putRegModelTx(tx.Tx, rm); err != nil {
			return err
		}
		mv := v.view(rm)
		out = &mv
		tx.emit("model_version.stage_transitioned", map[string]any{"name": model, "version": v.Version, "from_stage": before, "to_stage": st})
		return s.auditTx(tx, AuditEntry{Model: model, Version: v.Version, Action: "model_version.stage_transitioned", Actor: actor, Before: before, After: st})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func appendStage(visited []string, st string) []string {
	if slices.Contains(visited, st) {
		return visited
	}
	return append(visited, st)
}

// SetRegisteredModelAlias points an alias at a version, through the gates.
func (s *Store) SetRegisteredModelAlias(ctx context.Context, model, alias, version string, actor Actor) error {
	if err := validateAlias(alias); err != nil {
		return err
	}
	return s.gated(ctx, model, version, "alias:"+alias, actor, func(tx *wtx, rm *regModelRecord, v *versionRecord) error {
		n, _ := parseVersion(v.Version)
		before := ""
		if old, ok := rm.AliasMap[alias]; ok {
			before = strconv.FormatInt(old, 10)
		}
		if rm.AliasMap == nil {
			rm.AliasMap = map[string]int64{}
		}
		rm.AliasMap[alias] = n
		rm.LastUpdatedTimestamp = time.Now().UnixMilli()
		if err := putRegModelTx(tx.Tx, rm); err != nil {
			return err
		}
		tx.emit("model_version_alias.created", map[string]any{"name": model, "alias": alias, "version": v.Version, "previous_version": before})
		return s.auditTx(tx, AuditEntry{Model: model, Version: v.Version, Action: "alias.set", Actor: actor, Before: before, After: v.Version, Detail: alias})
	})
}

// DeleteRegisteredModelAlias removes an alias.
func (s *Store) DeleteRegisteredModelAlias(ctx context.Context, model, alias string, actor Actor) error {
	return s.update(ctx, func(tx *wtx) error {
		rm, err := getRegModelTx(tx.Tx, model)
		if err != nil {
			return err
		}
		old, ok := rm.AliasMap[alias]
		if !ok {
			return nil
		}
		delete(rm.AliasMap, alias)
		rm.LastUpdatedTimestamp = time.Now().UnixMilli()
		if err := putRegModelTx(tx.Tx, rm); err != nil {
			return err
		}
		tx.emit("model_version_alias.deleted", map[string]any{"name": model, "alias": alias})
		return s.auditTx(tx, AuditEntry{Model: model, Version: strconv.FormatInt(old, 10), Action: "alias.deleted", Actor: actor,
			Before: strconv.FormatInt(old, 10), Detail: alias})
	})
}
