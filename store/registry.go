package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"mlbox/store/search"
)

// Model version stages.
const (
	StageNone       = "None"
	StageStaging    = "Staging"
	StageProduction = "Production"
	StageArchived   = "Archived"
)

// CanonicalStage maps a stage name case-insensitively to its canonical form.
func CanonicalStage(s string) (string, bool) {
	for _, c := range []string{StageNone, StageStaging, StageProduction, StageArchived} {
		if strings.EqualFold(s, c) {
			return c, true
		}
	}
	return "", false
}

// RegisteredModel is MLflow's RegisteredModel entity.
type RegisteredModel struct {
	Name                 string         `json:"name"`
	CreationTimestamp    int64          `json:"creation_timestamp"`
	LastUpdatedTimestamp int64          `json:"last_updated_timestamp"`
	UserID               string         `json:"user_id,omitempty"`
	Description          string         `json:"description,omitempty"`
	LatestVersions       []ModelVersion `json:"latest_versions,omitempty"`
	Tags                 []Tag          `json:"tags,omitempty"`
	Aliases              []ModelAlias   `json:"aliases,omitempty"`
}

// ModelAlias is an alias → version pair.
type ModelAlias struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

// ModelVersion is MLflow's ModelVersion entity.
type ModelVersion struct {
	Name                 string   `json:"name"`
	Version              string   `json:"version"`
	CreationTimestamp    int64    `json:"creation_timestamp"`
	LastUpdatedTimestamp int64    `json:"last_updated_timestamp"`
	UserID               string   `json:"user_id,omitempty"`
	CurrentStage         string   `json:"current_stage"`
	Description          string   `json:"description"` // always: MLflow answers "" for none
	Source               string   `json:"source"`
	RunID                string   `json:"run_id,omitempty"`
	Status               string   `json:"status"`
	StatusMessage        string   `json:"status_message,omitempty"`
	Tags                 []Tag    `json:"tags,omitempty"`
	RunLink              string   `json:"run_link,omitempty"`
	Aliases              []string `json:"aliases,omitempty"`
	ModelID              string   `json:"model_id,omitempty"`
}

// regModelRecord is the stored registered model.
type regModelRecord struct {
	RegisteredModel
	AliasMap    map[string]int64 `json:"alias_map,omitempty"`
	NextVersion int64            `json:"next_version"`
}

// versionRecord is the stored model version.
type versionRecord struct {
	ModelVersion
	StorageLocation string   `json:"storage_location,omitempty"`
	Deleted         bool     `json:"deleted,omitempty"`
	StagesVisited   []string `json:"stages_visited,omitempty"` // for the "was in Staging" gate
}

func versionKey(name string, v int64) []byte {
	b := make([]byte, 0, len(name)+9)
	b = append(append(b, name...), 0)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

func namePrefix(name string) []byte { return append([]byte(name), 0) }

func validateModelName(name string) error {
	if strings.TrimSpace(name) == "" {
		return Invalidf("Registered model name cannot be empty.")
	}
	if strings.ContainsAny(name, "/:\x00") || strings.HasPrefix(name, "..") {
		return Invalidf("Invalid name: '%s'. Registered model names may not contain '/' or ':' or start with '..'", name)
	}
	if runeLen(name) > 256 {
		return Invalidf("Registered model name exceeds the maximum length of 256 characters")
	}
	return nil
}

func parseVersion(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 1 {
		return 0, Invalidf("Parameter 'version' must be an integer, got '%s'.", v)
	}
	return n, nil
}

func getRegModelTx(tx *bolt.Tx, name string) (*regModelRecord, error) {
	v := tx.Bucket(bktRegModels).Get([]byte(name))
	if v == nil {
		return nil, NotFoundf("Registered Model with name=%s not found", name)
	}
	var r regModelRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func putRegModelTx(tx *bolt.Tx, r *regModelRecord) error {
	r.LatestVersions, r.Aliases = nil, nil
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bktRegModels).Put([]byte(r.Name), v)
}

func getVersionTx(tx *bolt.Tx, name, version string) (*versionRecord, error) {
	n, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	if _, err := getRegModelTx(tx, name); err != nil {
		return nil, err
	}
	v := tx.Bucket(bktModelVers).Get(versionKey(name, n))
	if v == nil {
		return nil, NotFoundf("Model Version (name=%s, version=%s) not found", name, version)
	}
	var r versionRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, NotFoundf("Model Version (name=%s, version=%s) not found", name, version)
	}
	return &r, nil
}

func putVersionTx(tx *bolt.Tx, r *versionRecord) error {
	n, _ := parseVersion(r.Version)
	r.Aliases = nil
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bktModelVers).Put(versionKey(r.Name, n), v)
}

// versionsTx returns the live versions of a model in version order.
func versionsTx(tx *bolt.Tx, name string) ([]*versionRecord, error) {
	var out []*versionRecord
	c := tx.Bucket(bktModelVers).Cursor()
	p := namePrefix(name)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p) && len(k) == len(p)+8; k, v = c.Next() {
		var r versionRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, err
		}
		if !r.Deleted {
			out = append(out, &r)
		}
	}
	return out, nil
}

// withAliases fills the computed fields of a registered model.
func (r *regModelRecord) view(tx *bolt.Tx) (*RegisteredModel, error) {
	m := r.RegisteredModel
	vs, err := versionsTx(tx, r.Name)
	if err != nil {
		return nil, err
	}
	latest := map[string]*versionRecord{}
	for _, v := range vs {
		if v.Status == "READY" {
			latest[v.CurrentStage] = v
		}
	}
	for _, st := range []string{StageNone, StageStaging, StageProduction, StageArchived} {
		if v := latest[st]; v != nil {
			mv := v.ModelVersion
			mv.Aliases = r.aliasesOf(v.Version)
			m.LatestVersions = append(m.LatestVersions, mv)
		}
	}
	m.Aliases = r.aliasList()
	return &m, nil
}

func (r *regModelRecord) aliasList() []ModelAlias {
	var out []ModelAlias
	for a, v := range r.AliasMap {
		out = append(out, ModelAlias{Alias: a, Version: strconv.FormatInt(v, 10)})
	}
	slices.SortFunc(out, func(a, b ModelAlias) int { return strings.Compare(a.Alias, b.Alias) })
	return out
}

func (r *regModelRecord) aliasesOf(version string) []string {
	n, _ := strconv.ParseInt(version, 10, 64)
	var out []string
	for a, v := range r.AliasMap {
		if v == n {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

func (v *versionRecord) view(rm *regModelRecord) ModelVersion {
	mv := v.ModelVersion
	if rm != nil {
		mv.Aliases = rm.aliasesOf(v.Version)
	}
	return mv
}

func validateRegistryTag(t Tag) error {
	if err := validateKey("tag", t.Key); err != nil {
		return err
	}
	if runeLen(t.Value) > 100000 {
		return Invalidf("Registered model or version tag value exceeds the maximum length of 100000 characters")
	}
	return nil
}

// Actor is who made a registry change, for the audit trail.
type Actor = string

// CreateRegisteredModel creates a model; an existing name is RESOURCE_ALREADY_EXISTS.
func (s *Store) CreateRegisteredModel(ctx context.Context, name, description string, tags []Tag, actor Actor) (*RegisteredModel, error) {
	if err := validateModelName(name); err != nil {
		return nil, err
	}
	for _, t := range tags {
		if err := validateRegistryTag(t); err != nil {
			return nil, err
		}
	}
	var out *RegisteredModel
	err := s.update(ctx, func(tx *wtx) error {
		if tx.Bucket(bktRegModels).Get([]byte(name)) != nil {
			return Existsf("Registered Model (name=%s) already exists.", name)
		}
		now := time.Now().UnixMilli()
		r := &regModelRecord{RegisteredModel: RegisteredModel{Name: name, CreationTimestamp: now, LastUpdatedTimestamp: now,
			Description: description, Tags: mergeTags(nil, tags)}, NextVersion: 1}
		if err := putRegModelTx(tx.Tx, r); err != nil {
			return err
		}
		m, err := r.view(tx.Tx)
		out = m
		tx.emit("registered_model.created", map[string]any{"name": name, "tags": tagMapOf(tags), "description": description})
		return err
	})
	return out, err
}

// GetRegisteredModel returns a model with its latest versions and aliases.
func (s *Store) GetRegisteredModel(ctx context.Context, name string) (*RegisteredModel, error) {
	if name == "" {
		return nil, Invalidf("Missing value for required parameter 'name'.")
	}
	var out *RegisteredModel
	err := s.view(ctx, func(tx *bolt.Tx) error {
		r, err := getRegModelTx(tx, name)
		if err != nil {
			return err
		}
		out, err = r.view(tx)
		return err
	})
	return out, err
}

func (s *Store) modifyRegModel(ctx context.Context, name string, fn func(tx *wtx, r *regModelRecord) error) (*RegisteredModel, error) {
	var out *RegisteredModel
	err := s.update(ctx, func(tx *wtx) error {
		r, err := getRegModelTx(tx.Tx, name)
		if err != nil {
			return err
		}
		if err := fn(tx, r); err != nil {
			return err
		}
		r.LastUpdatedTimestamp = time.Now().UnixMilli()
		if err := putRegModelTx(tx.Tx, r); err != nil {
			return err
		}
		out, err = r.view(tx.Tx)
		return err
	})
	return out, err
}

// UpdateRegisteredModel sets the description.
func (s *Store) UpdateRegisteredModel(ctx context.Context, name, description string) (*RegisteredModel, error) {
	return s.modifyRegModel(ctx, name, func(_ *wtx, r *regModelRecord) error {
		r.Description = description
		return nil
	})
}

// SetRegisteredModelTag upserts a model tag.
func (s *Store) SetRegisteredModelTag(ctx context.Context, name string, t Tag) error {
	if err := validateRegistryTag(t); err != nil {
		return err
	}
	_, err := s.modifyRegModel(ctx, name, func(_ *wtx, r *regModelRecord) error {
		r.Tags = mergeTags(r.Tags, []Tag{t})
		return nil
	})
	return err
}

// DeleteRegisteredModelTag removes a model tag (missing tags are fine, as in MLflow).
func (s *Store) DeleteRegisteredModelTag(ctx context.Context, name, key string) error {
	_, err := s.modifyRegModel(ctx, name, func(_ *wtx, r *regModelRecord) error {
		r.Tags = slices.DeleteFunc(r.Tags, func(t Tag) bool { return t.Key == key })
		return nil
	})
	return err
}

// RenameRegisteredModel renames a model, moving its versions, gates,
// approvals and audit trail.
func (s *Store) RenameRegisteredModel(ctx context.Context, name, newName string, actor Actor) (*RegisteredModel, error) {
	if err := validateModelName(newName); err != nil {
		return nil, err
	}
	var out *RegisteredModel
	err := s.update(ctx, func(tx *wtx) error {
		r, err := getRegModelTx(tx.Tx, name)
		if err != nil {
			return err
		}
		if newName == name {
			out, err = r.view(tx.Tx)
			return err
		}
		if tx.Bucket(bktRegModels).Get([]byte(newName)) != nil {
			return Existsf("Registered Model (name=%s) already exists.", newName)
		}
		if err := tx.Bucket(bktRegModels).Delete([]byte(name)); err != nil {
			return err
		}
		r.Name = newName
		r.LastUpdatedTimestamp = time.Now().UnixMilli()
		if err := putRegModelTx(tx.Tx, r); err != nil {
			return err
		}
		// move keyed records
		for _, bk := range [][]byte{bktModelVers, bktAudit, bktApprovals} {
			if err := rekeyPrefix(tx.Bucket(bk), namePrefix(name), namePrefix(newName), func(v []byte) []byte {
				if !bytes.Equal(bk, bktModelVers) {
					return v
				}
				var vr versionRecord
				if json.Unmarshal(v, &vr) != nil {
					return v
				}
				vr.Name = newName
				nv, _ := json.Marshal(&vr)
				return nv
			}); err != nil {
				return err
			}
		}
		if g := tx.Bucket(bktGates).Get([]byte(name)); g != nil {
			gv := bytes.Clone(g)
			if err := tx.Bucket(bktGates).Delete([]byte(name)); err != nil {
				return err
			}
			if err := tx.Bucket(bktGates).Put([]byte(newName), gv); err != nil {
				return err
			}
		}
		if err := s.auditTx(tx, AuditEntry{Model: newName, Action: "registered_model.renamed", Actor: actor, Before: name, After: newName}); err != nil {
			return err
		}
		out, err = r.view(tx.Tx)
		tx.emit("registered_model.renamed", map[string]any{"name": newName, "old_name": name})
		return err
	})
	return out, err
}

func rekeyPrefix(b *bolt.Bucket, from, to []byte, conv func([]byte) []byte) error {
	type kv struct{ k, v []byte }
	var moves []kv
	c := b.Cursor()
	for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, from); k, v = c.Next() {
		moves = append(moves, kv{bytes.Clone(k), bytes.Clone(v)})
	}
	for _, m := range moves {
		if err := b.Delete(m.k); err != nil {
			return err
		}
		nk := append(bytes.Clone(to), m.k[len(from):]...)
		if err := b.Put(nk, conv(m.v)); err != nil {
			return err
		}
	}
	return nil
}

// DeleteRegisteredModel deletes a model with its versions, tags and aliases.
// The audit trail is kept.
func (s *Store) DeleteRegisteredModel(ctx context.Context, name string, actor Actor) error {
	return s.update(ctx, func(tx *wtx) error {
		if _, err := getRegModelTx(tx.Tx, name); err != nil {
			return err
		}
		if err := tx.Bucket(bktRegModels).Delete([]byte(name)); err != nil {
			return err
		}
		vb := tx.Bucket(bktModelVers)
		var keys [][]byte
		c := vb.Cursor()
		p := namePrefix(name)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := vb.Delete(k); err != nil {
				return err
			}
		}
		_ = tx.Bucket(bktGates).Delete([]byte(name))
		tx.emit("registered_model.deleted", map[string]any{"name": name})
		return s.auditTx(tx, AuditEntry{Model: name, Action: "registered_model.deleted", Actor: actor})
	})
}

// SearchRegisteredModels implements registered-models/search.
func (s *Store) SearchRegisteredModels(ctx context.Context, filter string, max int, orderBy []string, token string) ([]*RegisteredModel, string, error) {
	if max == 0 {
		max = 100
	}
	if max < 1 || max > 1000 {
		return nil, "", Invalidf("Invalid value for request parameter max_results. It must be at most 1000, but got value %d", max)
	}
	conds, orders, offset, err := parseSearch(search.RegisteredModels, filter, orderBy, token)
	if err != nil {
		return nil, "", err
	}
	var hits []*RegisteredModel
	err = s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bktRegModels).ForEach(func(_, v []byte) error {
			var r regModelRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if !matchRegistryConds(conds, r.Name, r.Tags, nil) {
				return nil
			}
			m, err := r.view(tx)
			if err != nil {
				return err
			}
			hits = append(hits, m)
			return nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	slices.SortStableFunc(hits, func(a, b *RegisteredModel) int {
		for _, o := range orders {
			var c int
			if o.Key == "last_updated_timestamp" {
				c = cmpInt(a.LastUpdatedTimestamp, b.LastUpdatedTimestamp)
			} else {
				c = strings.Compare(a.Name, b.Name)
			}
			if !o.Ascending {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return strings.Compare(a.Name, b.Name)
	})
	res, next := page(hits, offset, max)
	return res, next, nil
}

// PromptTag marks registered models that are MLflow prompts.
const PromptTag = "mlflow.prompt.is_prompt"

// matchRegistryConds evaluates registry filters. For the prompt tag a
// missing tag counts as "false", since the 3.x client always adds
// tag.`mlflow.prompt.is_prompt` != 'true'.
func matchRegistryConds(conds []search.Comparison, name string, tags []Tag, mv *versionRecord) bool {
	for _, c := range conds {
		if c.Type == search.Tag {
			v, ok := tagValue(tags, c.Key)
			if !ok && c.Key == PromptTag && c.Op != "IS NULL" && c.Op != "IS NOT NULL" {
				v, ok = "false", true
			}
			if !c.MatchString(v, ok) {
				return false
			}
			continue
		}
		switch c.Key {
		case "name":
			if !c.MatchString(name, true) {
				return false
			}
		case "run_id":
			if mv == nil || !c.MatchString(mv.RunID, true) {
				return false
			}
		case "source_path":
			if mv == nil || !c.MatchString(mv.Source, true) {
				return false
			}
		case "version_number":
			n, _ := strconv.ParseFloat(mv.Version, 64)
			if mv == nil || !c.MatchNumber(n, true) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// CreateModelVersionRequest is the input of CreateModelVersion.
type CreateModelVersionRequest struct {
	Name, Source, RunID, RunLink, Description, ModelID string
	Tags                                               []Tag
}

var reAlias = regexp.MustCompile(`^[\w\-]+$`)

// checkSourceSyntax applies the rules that need no lookups (MLflow checks
// the source before the model exists): no NUL, no ".." segment even behind
// repeated URL-encoding, no local paths, no http(s) URLs.
func checkSourceSyntax(req *CreateModelVersionRequest) error {
	src := req.Source
	if strings.ContainsRune(src, 0) {
		return Invalidf("Invalid model version source: '%s'.", src)
	}
	dec := src
	for i := 0; i < 5; i++ {
		d, err := url.PathUnescape(dec)
		if err != nil || d == dec {
			break
		}
		dec = d
	}
	for _, seg := range strings.FieldsFunc(dec, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == ".." {
			return Invalidf("Invalid model version source: '%s'. Source paths cannot contain '..'.", src)
		}
	}
	scheme, _, hasScheme := strings.Cut(src, ":")
	switch {
	case !hasScheme || strings.HasPrefix(src, "/") || scheme == "file" || len(scheme) == 1:
		return Invalidf("Invalid model version source: '%s'. Local paths are not allowed; use a runs:/, models:/ or mlflow-artifacts: URI.", src)
	case scheme == "http" || scheme == "https":
		return Invalidf("Invalid model version source: '%s'. HTTP URLs are not allowed as sources.", src)
	case scheme == "runs" && req.RunID == "":
		return Invalidf("Invalid model version source: '%s'. A runs:/ source needs the run_id parameter.", src)
	case scheme == "mlflow-artifacts" && req.RunID == "":
		return Invalidf("Invalid model version source: '%s'. A proxied artifact source needs the run_id of the run that holds it.", src)
	case strings.HasPrefix(src, "models:/m-") && !strings.Contains(strings.TrimPrefix(src, "models:/"), "/") && req.ModelID == "":
		return Invalidf("Invalid model version source: '%s'. A logged-model source needs the model_id parameter.", src)
	}
	return nil
}

// resolveSourceTx finds a valid source's storage location.
func resolveSourceTx(tx *bolt.Tx, req *CreateModelVersionRequest) (string, error) {
	src := req.Source
	switch {
	case strings.HasPrefix(src, "models:/m-") && !strings.Contains(strings.TrimPrefix(src, "models:/"), "/"):
		id := strings.TrimPrefix(src, "models:/")
		lm, err := getLoggedModelTx(tx, id, false)
		if err != nil {
			return "", err
		}
		if req.RunID == "" {
			req.RunID = lm.Info.SourceRunID
		}
		return lm.Info.ArtifactURI, nil
	case strings.HasPrefix(src, "models:/"):
		rest := strings.TrimPrefix(src, "models:/")
		i := strings.LastIndex(rest, "/")
		if i < 0 {
			return "", Invalidf("Invalid model version source: '%s'.", src)
		}
		v, err := getVersionTx(tx, rest[:i], rest[i+1:])
		if err != nil {
			return "", err
		}
		if v.StorageLocation != "" {
			return v.StorageLocation, nil
		}
		return v.Source, nil
	case strings.HasPrefix(src, "runs:/"):
		runID, rel, _ := strings.Cut(strings.TrimPrefix(src, "runs:/"), "/")
		_, info, err := runBucket(tx, runID)
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(info.ArtifactURI+"/"+rel, "/"), nil
	case strings.HasPrefix(src, "mlflow-artifacts:"):
		_, info, err := runBucket(tx, req.RunID)
		if err != nil {
			return "", err
		}
		if src != info.ArtifactURI && !strings.HasPrefix(src, strings.TrimSuffix(info.ArtifactURI, "/")+"/") {
			return "", Invalidf("Invalid model version source: '%s'. It must be inside the artifacts of run %s (%s).", src, req.RunID, info.ArtifactURI)
		}
		return src, nil
	}
	return "", nil // another store (s3://, dbfs:/, ...): kept as given
}

// CreateModelVersion registers a new version (READY immediately).
func (s *Store) CreateModelVersion(ctx context.Context, req CreateModelVersionRequest, actor Actor) (*ModelVersion, error) {
	if req.Source == "" {
		return nil, Invalidf("Missing value for required parameter 'source'.")
	}
	for _, t := range req.Tags {
		if err := validateRegistryTag(t); err != nil {
			return nil, err
		}
	}
	if err := checkSourceSyntax(&req); err != nil {
		return nil, err
	}
	var out *ModelVersion
	err := s.update(ctx, func(tx *wtx) error {
		r := req // resolve on a copy: the function may run twice
		rm, err := getRegModelTx(tx.Tx, r.Name)
		if err != nil {
			return err
		}
		loc, err := resolveSourceTx(tx.Tx, &r)
		if err != nil {
			return err
		}
		if r.RunID != "" {
			if _, _, err := runBucket(tx.Tx, r.RunID); err != nil {
				return err
			}
		}
		now := time.Now().UnixMilli()
		n := rm.NextVersion
		if n < 1 {
			n = 1
		}
		rm.NextVersion = n + 1
		rm.LastUpdatedTimestamp = now
		vr := &versionRecord{ModelVersion: ModelVersion{Name: r.Name, Version: strconv.FormatInt(n, 10), CreationTimestamp: now,
			LastUpdatedTimestamp: now, CurrentStage: StageNone, Description: r.Description, Source: r.Source, RunID: r.RunID,
			Status: "READY", Tags: mergeTags(nil, r.Tags), RunLink: r.RunLink, ModelID: r.ModelID},
			StorageLocation: loc, StagesVisited: []string{StageNone}}
		if err := putVersionTx(tx.Tx, vr); err != nil {
			return err
		}
		if err := putRegModelTx(tx.Tx, rm); err != nil {
			return err
		}
		if r.ModelID != "" {
			if err := addLoggedModelRegistrationTx(tx.Tx, r.ModelID, r.Name, vr.Version); err != nil && KindOf(err) != KindNotFound {
				return err
			}
		}
		mv := vr.view(rm)
		out = &mv
		tx.emit("model_version.created", map[string]any{"name": r.Name, "version": vr.Version, "source": r.Source,
			"run_id": r.RunID, "tags": tagMapOf(r.Tags), "description": r.Description})
		return nil
	})
	return out, err
}

// GetModelVersion returns a live version.
func (s *Store) GetModelVersion(ctx context.Context, name, version string) (*ModelVersion, error) {
	var out *ModelVersion
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v, err := getVersionTx(tx, name, version)
		if err != nil {
			return err
		}
		rm, _ := getRegModelTx(tx, name)
		mv := v.view(rm)
		out = &mv
		return nil
	})
	return out, err
}

// GetModelVersionDownloadURI returns the version's storage location, else its source.
func (s *Store) GetModelVersionDownloadURI(ctx context.Context, name, version string) (string, error) {
	var out string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v, err := getVersionTx(tx, name, version)
		if err != nil {
			return err
		}
		out = v.StorageLocation
		if out == "" {
			out = v.Source
		}
		return nil
	})
	return out, err
}

func (s *Store) modifyVersion(ctx context.Context, name, version string, fn func(tx *wtx, rm *regModelRecord, v *versionRecord) error) (*ModelVersion, error) {
	var out *ModelVersion
	err := s.update(ctx, func(tx *wtx) error {
		v, err := getVersionTx(tx.Tx, name, version)
		if err != nil {
			return err
		}
		rm, err := getRegModelTx(tx.Tx, name)
		if err != nil {
			return err
		}
		if err := fn(tx, rm, v); err != nil {
			return err
		}
		now := time.Now().UnixMilli()
		v.LastUpdatedTimestamp = now
		if err := putVersionTx(tx.Tx, v); err != nil {
			return err
		}
		mv := v.view(rm)
		out = &mv
		return nil
	})
	return out, err
}

// UpdateModelVersion sets the description.
func (s *Store) UpdateModelVersion(ctx context.Context, name, version, description string) (*ModelVersion, error) {
	return s.modifyVersion(ctx, name, version, func(_ *wtx, _ *regModelRecord, v *versionRecord) error {
		v.Description = description
		return nil
	})
}

// SetModelVersionTag upserts a version tag.
func (s *Store) SetModelVersionTag(ctx context.Context, name, version string, t Tag) error {
	if err := validateRegistryTag(t); err != nil {
		return err
	}
	_, err := s.modifyVersion(ctx, name, version, func(tx *wtx, _ *regModelRecord, v *versionRecord) error {
		v.Tags = mergeTags(v.Tags, []Tag{t})
		tx.emit("model_version_tag.set", map[string]any{"name": name, "version": v.Version, "key": t.Key, "value": t.Value})
		return nil
	})
	return err
}

// DeleteModelVersionTag removes a version tag.
func (s *Store) DeleteModelVersionTag(ctx context.Context, name, version, key string) error {
	_, err := s.modifyVersion(ctx, name, version, func(tx *wtx, _ *regModelRecord, v *versionRecord) error {
		v.Tags = slices.DeleteFunc(v.Tags, func(t Tag) bool { return t.Key == key })
		tx.emit("model_version_tag.deleted", map[string]any{"name": name, "version": v.Version, "key": key})
		return nil
	})
	return err
}

// DeleteModelVersion soft-deletes a version and removes its aliases. The
// version number is never reused.
func (s *Store) DeleteModelVersion(ctx context.Context, name, version string, actor Actor) error {
	_, err := s.modifyVersion(ctx, name, version, func(tx *wtx, rm *regModelRecord, v *versionRecord) error {
		n, _ := parseVersion(v.Version)
		removed := rm.aliasesOf(v.Version)
		for a, av := range rm.AliasMap {
			if av == n {
				delete(rm.AliasMap, a)
			}
		}
		rm.LastUpdatedTimestamp = time.Now().UnixMilli()
		if err := putRegModelTx(tx.Tx, rm); err != nil {
			return err
		}
		before := v.CurrentStage
		v.Deleted = true
		v.CurrentStage = "Deleted_Internal"
		for _, a := range removed {
			tx.emit("model_version_alias.deleted", map[string]any{"name": name, "alias": a})
		}
		tx.emit("model_version.deleted", map[string]any{"name": name, "version": v.Version})
		return s.auditTx(tx, AuditEntry{Model: name, Version: v.Version, Action: "model_version.deleted", Actor: actor,
			Before: before, After: "deleted", Detail: strings.Join(removed, ",")})
	})
	return err
}

// GetLatestVersions returns the latest version per stage (all stages when empty).
func (s *Store) GetLatestVersions(ctx context.Context, name string, stages []string) ([]ModelVersion, error) {
	var want []string
	for _, st := range stages {
		c, ok := CanonicalStage(st)
		if !ok {
			return nil, Invalidf("Invalid Model Version stage: %s. Value must be one of None, Staging, Production, Archived.", st)
		}
		want = append(want, c)
	}
	var out []ModelVersion
	err := s.view(ctx, func(tx *bolt.Tx) error {
		rm, err := getRegModelTx(tx, name)
		if err != nil {
			return err
		}
		vs, err := versionsTx(tx, name)
		if err != nil {
			return err
		}
		latest := map[string]*versionRecord{}
		for _, v := range vs {
			latest[v.CurrentStage] = v
		}
		if len(want) == 0 {
			want = []string{StageNone, StageStaging, StageProduction, StageArchived}
		}
		for _, st := range want {
			if v := latest[st]; v != nil {
				out = append(out, v.view(rm))
			}
		}
		return nil
	})
	return out, err
}

// ListModelVersions returns every live version of a model (retention, serving).
func (s *Store) ListModelVersions(ctx context.Context, name string) ([]ModelVersion, error) {
	var out []ModelVersion
	err := s.view(ctx, func(tx *bolt.Tx) error {
		rm, err := getRegModelTx(tx, name)
		if err != nil {
			return err
		}
		vs, err := versionsTx(tx, name)
		for _, v := range vs {
			out = append(out, v.view(rm))
		}
		return err
	})
	return out, err
}

// ListRegisteredModelNames returns every model name.
func (s *Store) ListRegisteredModelNames(ctx context.Context) ([]string, error) {
	var out []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bktRegModels).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// SearchModelVersions implements model-versions/search.
func (s *Store) SearchModelVersions(ctx context.Context, filter string, max int, orderBy []string, token string) ([]ModelVersion, string, error) {
	if max == 0 {
		max = 10000
	}
	if max < 1 || max > 200000 {
		return nil, "", Invalidf("Invalid value for request parameter max_results. It must be at most 200000, but got value %d", max)
	}
	conds, orders, offset, err := parseSearch(search.ModelVersions, filter, orderBy, token)
	if err != nil {
		return nil, "", err
	}
	var hits []ModelVersion
	err = s.view(ctx, func(tx *bolt.Tx) error {
		models := map[string]*regModelRecord{}
		return tx.Bucket(bktModelVers).ForEach(func(_, v []byte) error {
			var r versionRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if r.Deleted {
				return nil
			}
			rm := models[r.Name]
			if rm == nil {
				rm, _ = getRegModelTx(tx, r.Name)
				models[r.Name] = rm
			}
			var modelTags []Tag
			if rm != nil {
				modelTags = rm.Tags
			}
			// version tags are what tags.* filters on; the prompt rule reads the model's tag
			tags := r.Tags
			if _, ok := tagValue(tags, PromptTag); !ok {
				if v, ok := tagValue(modelTags, PromptTag); ok {
					tags = append(slices.Clone(tags), Tag{Key: PromptTag, Value: v})
				}
			}
			if matchRegistryConds(conds, r.Name, tags, &r) {
				hits = append(hits, r.view(rm))
			}
			return nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	vnum := func(m *ModelVersion) int64 { n, _ := strconv.ParseInt(m.Version, 10, 64); return n }
	slices.SortStableFunc(hits, func(a, b ModelVersion) int {
		for _, o := range orders {
			var c int
			switch o.Key {
			case "name":
				c = strings.Compare(a.Name, b.Name)
			case "version_number":
				c = cmpInt(vnum(&a), vnum(&b))
			case "creation_timestamp":
				c = cmpInt(a.CreationTimestamp, b.CreationTimestamp)
			case "last_updated_timestamp":
				c = cmpInt(a.LastUpdatedTimestamp, b.LastUpdatedTimestamp)
			}
			if !o.Ascending {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		if len(orders) == 0 {
			if c := cmpInt(b.LastUpdatedTimestamp, a.LastUpdatedTimestamp); c != 0 {
				return c
			}
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return cmpInt(vnum(&b), vnum(&a))
	})
	res, next := page(hits, offset, max)
	return res, next, nil
}

func validateAlias(alias string) error {
	if alias == "" {
		return Invalidf("Registered model alias name cannot be empty.")
	}
	if !reAlias.MatchString(alias) {
		return Invalidf("Invalid alias name: '%s'. Alias names may only contain alphanumerics, underscores (_) and dashes (-).", alias)
	}
	if runeLen(alias) > 255 {
		return Invalidf("Alias name exceeds the maximum length of 255 characters")
	}
	if strings.EqualFold(alias, "latest") {
		return Invalidf("'%s' alias name (case insensitive) is reserved.", alias)
	}
	if (alias[0] == 'v' || alias[0] == 'V') && len(alias) > 1 {
		if _, err := strconv.Atoi(alias[1:]); err == nil {
			return Invalidf("Version alias name '%s' is reserved.", alias)
		}
	}
	return nil
}

// GetModelVersionByAlias resolves an alias ("latest" is the newest version).
func (s *Store) GetModelVersionByAlias(ctx context.Context, name, alias string) (*ModelVersion, error) {
	var out *ModelVersion
	err := s.view(ctx, func(tx *bolt.Tx) error {
		rm, err := getRegModelTx(tx, name)
		if err != nil {
			return err
		}
		if strings.EqualFold(alias, "latest") {
			vs, err := versionsTx(tx, name)
			if err != nil {
				return err
			}
			if len(vs) == 0 {
				return Invalidf("Registered model alias %s not found.", alias)
			}
			mv := vs[len(vs)-1].view(rm)
			out = &mv
			return nil
		}
		n, ok := rm.AliasMap[alias]
		if !ok {
			return Invalidf("Registered model alias %s not found.", alias)
		}
		v, err := getVersionTx(tx, name, strconv.FormatInt(n, 10))
		if err != nil {
			return err
		}
		mv := v.view(rm)
		out = &mv
		return nil
	})
	return out, err
}
