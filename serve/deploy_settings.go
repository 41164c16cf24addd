package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"mlbox/store"
)

// Settings are one deployment's per-model configuration, stored as JSON
// with store.PutDeploymentConfig and edited through
// PUT /api/mlbox/v1/deployments/{name}. Fields a client leaves out take the
// server's defaults (ManagerConfig.Defaults), so a stored document holds
// only what was set on purpose and later config changes still apply.
type Settings struct {
	// Enabled serves the model at all. A disabled model's endpoints answer
	// 409 INVALID_STATE. Default true.
	Enabled bool `json:"enabled"`
	// Alias is the target alias: the version it points at serves.
	// Default "champion" (serve.target_alias); "" = no alias.
	Alias string `json:"alias"`
	// Stage is the fallback when the alias is not set: the latest version
	// in that stage serves. Default "Production" (serve.target_stage);
	// "" = no fallback.
	Stage string `json:"stage"`
	// PoolSize is the number of instances of each loaded version; 0 means
	// serve.pool_size.
	PoolSize int `json:"pool_size,omitempty"`
	// Canary sends a share of the traffic to another alias.
	Canary CanarySettings `json:"canary"`
	// Shadow mirrors traffic to another alias, asynchronously; its answers
	// are recorded (metrics, request log) and never returned.
	Shadow ShadowSettings `json:"shadow"`
	// Rollback configures the automatic canary rollback.
	Rollback RollbackSettings `json:"rollback"`
}

// CanarySettings route a share of the requests to the version behind Alias.
type CanarySettings struct {
	Alias string  `json:"alias,omitempty"`
	Share float64 `json:"share"` // 0..1
	// RolledBack is set by the automatic rollback: while Alias still points
	// at RolledBack.Version the canary gets no traffic. It clears itself in
	// effect when the alias moves to another version; PUT settings without
	// it to resume the same version.
	RolledBack *RolledBack `json:"rolled_back,omitempty"`
}

// RolledBack records an automatic rollback.
type RolledBack struct {
	Version string    `json:"version"`
	Reason  string    `json:"reason"`
	Time    time.Time `json:"time"`
}

// ShadowSettings mirror requests to the version behind Alias.
type ShadowSettings struct {
	Alias   string  `json:"alias,omitempty"`
	Enabled bool    `json:"enabled"`
	Share   float64 `json:"share"` // share of requests mirrored, 0..1; default 1
}

// RollbackSettings decide when a canary is rolled back: over the last
// Window, once the canary has served MinRequests, if its error rate exceeds
// the incumbent's by more than MaxErrorRateDelta, or its p99 latency
// exceeds the incumbent's p99 × MaxP99Ratio (when the incumbent also served
// MinRequests).
type RollbackSettings struct {
	Auto              bool     `json:"auto"`
	Window            Duration `json:"window"`
	MinRequests       int      `json:"min_requests"`
	MaxErrorRateDelta float64  `json:"max_error_rate_delta"`
	MaxP99Ratio       float64  `json:"max_p99_ratio"`
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("1m30s"); a number is read as seconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

// UnmarshalJSON reads "90s" or 90.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q (want e.g. \"60s\")", s)
		}
		*d = Duration(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("invalid duration %s (want e.g. \"60s\" or a number of seconds)", b)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// DefaultSettings are the built-in defaults; the app overrides them from
// its serve.* configuration.
func DefaultSettings() Settings {
	return Settings{
		Enabled: true,
		Alias:   "champion",
		Stage:   store.StageProduction,
		Shadow:  ShadowSettings{Share: 1},
		Rollback: RollbackSettings{
			Auto:              true,
			Window:            Duration(time.Minute),
			MinRequests:       50,
			MaxErrorRateDelta: 0.05,
			MaxP99Ratio:       2,
		},
	}
}

var aliasRE = regexp.MustCompile(`^[\w\-]+$`)

// Validate checks s; the error is a store.KindInvalid error naming the field.
func (s *Settings) Validate() error {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	checkAlias := func(field, a string) {
		if a != "" && (!aliasRE.MatchString(a) || len(a) > 256) {
			add("%s: %q is not a valid alias (letters, digits, '_' and '-')", field, a)
		}
	}
	checkAlias("alias", s.Alias)
	if s.Stage != "" {
		if c, ok := store.CanonicalStage(s.Stage); !ok || c == store.StageNone || c == store.StageArchived {
			add("stage: %q must be Staging or Production (or empty)", s.Stage)
		} else {
			s.Stage = c
		}
	}
	if s.PoolSize < 0 || s.PoolSize > 1024 {
		add("pool_size: %d is out of range [0, 1024]", s.PoolSize)
	}
	checkAlias("canary.alias", s.Canary.Alias)
	if s.Canary.Share < 0 || s.Canary.Share > 1 || s.Canary.Share != s.Canary.Share {
		add("canary.share: %v must be between 0 and 1", s.Canary.Share)
	}
	if s.Canary.Share > 0 && s.Canary.Alias == "" {
		add("canary.alias: required when canary.share > 0")
	}
	if s.Canary.Alias != "" && s.Canary.Alias == s.Alias {
		add("canary.alias: %q is the target alias itself", s.Canary.Alias)
	}
	checkAlias("shadow.alias", s.Shadow.Alias)
	if s.Shadow.Enabled && s.Shadow.Alias == "" {
		add("shadow.alias: required when shadow.enabled is true")
	}
	if s.Shadow.Share < 0 || s.Shadow.Share > 1 || s.Shadow.Share != s.Shadow.Share {
		add("shadow.share: %v must be between 0 and 1", s.Shadow.Share)
	}
	r := s.Rollback
	if w := time.Duration(r.Window); w < time.Second || w > 24*time.Hour {
		add("rollback.window: %s must be between 1s and 24h", w)
	}
	if r.MinRequests < 1 {
		add("rollback.min_requests: %d must be at least 1", r.MinRequests)
	}
	if r.MaxErrorRateDelta < 0 || r.MaxErrorRateDelta > 1 || r.MaxErrorRateDelta != r.MaxErrorRateDelta {
		add("rollback.max_error_rate_delta: %v must be between 0 and 1", r.MaxErrorRateDelta)
	}
	if r.MaxP99Ratio < 1 || r.MaxP99Ratio != r.MaxP99Ratio {
		add("rollback.max_p99_ratio: %v must be at least 1", r.MaxP99Ratio)
	}
	if len(p) > 0 {
		return store.Invalidf("Invalid deployment settings: %s", strings.Join(p, "; "))
	}
	return nil
}

// ParseSettings overlays raw (a stored or submitted settings document; nil
// or empty means none) on defaults and validates the result. Unknown
// fields are rejected, so a typo does not pass silently.
func ParseSettings(raw []byte, defaults Settings) (Settings, error) {
	s := defaults
	if len(bytes.TrimSpace(raw)) == 0 {
		return s, s.Validate()
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return defaults, store.Invalidf("Invalid deployment settings: %v", err)
	}
	if dec.More() {
		return defaults, store.Invalidf("Invalid deployment settings: trailing data after the JSON object")
	}
	return s, s.Validate()
}

// withRolledBack returns raw (a stored settings document) with
// canary.rolled_back set to rb, keeping everything else as it was.
func withRolledBack(raw []byte, rb *RolledBack) ([]byte, error) {
	doc := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, err
		}
	}
	canary := map[string]json.RawMessage{}
	if c, ok := doc["canary"]; ok && string(c) != "null" {
		if err := json.Unmarshal(c, &canary); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(rb)
	if err != nil {
		return nil, err
	}
	canary["rolled_back"] = b
	if doc["canary"], err = json.Marshal(canary); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}
