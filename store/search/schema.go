package search

import (
	"sort"
	"strings"
)

// Operator sets. Each slice is in the order used in error messages.
var (
	numericOps = []string{"=", "!=", "<", "<=", ">", ">="}
	stringOps  = []string{"=", "!=", "LIKE", "ILIKE"}
	listOps    = []string{"IN", "NOT IN"}
	nullOps    = []string{"IS NULL", "IS NOT NULL"}
)

// attrSpec describes one attribute key of an entity.
type attrSpec struct {
	name    string // canonical name reported in Comparison.Key
	numeric bool   // numeric attribute: numeric ops, unquoted numbers
	list    bool   // string attribute that accepts IN / NOT IN lists
	intOnly bool   // numeric values must be integers; a quoted integer is accepted too
}

// entitySpec holds the key tables and rules of one searchable entity.
type entitySpec struct {
	// prefixes maps every accepted identifier prefix to its KeyType.
	prefixes map[string]KeyType
	// prefixNames is the list shown in "invalid entity type" errors.
	prefixNames []string
	// attrs maps every accepted attribute key (aliases included) to its spec.
	attrs map[string]attrSpec
	// nullTypes are the key types that accept IS NULL / IS NOT NULL.
	nullTypes map[KeyType]bool
	// listTypes are the non-attribute key types that accept IN / NOT IN lists.
	listTypes map[KeyType]bool
	// datasetKeys are the valid dataset.<key> names (Runs only).
	datasetKeys map[string]bool

	// orderAttrs maps every accepted order_by attribute key to its canonical name.
	orderAttrs map[string]string
	// orderTypes are the non-attribute key types allowed in order_by.
	orderTypes map[KeyType]bool
}

func set[T comparable](xs ...T) map[T]bool {
	m := make(map[T]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

var runPrefixes = map[string]KeyType{
	"metric": Metric, "metrics": Metric,
	"parameter": Param, "parameters": Param, "param": Param, "params": Param,
	"tag": Tag, "tags": Tag,
	"attribute": Attribute, "attributes": Attribute, "attr": Attribute, "run": Attribute,
	"dataset": Dataset, "datasets": Dataset,
}

// registryPrefixes are the prefixes MLflow accepts for experiments, registered
// models and model versions. MLflow itself takes only the singular
// "attribute"; the plural is accepted here as well because it is unambiguous.
var registryPrefixes = map[string]KeyType{
	"attribute": Attribute, "attributes": Attribute,
	"tag": Tag, "tags": Tag,
}

var specs = map[Entity]*entitySpec{
	Runs: {
		prefixes:    runPrefixes,
		prefixNames: []string{"metric", "parameter", "tag", "attribute", "dataset"},
		attrs: map[string]attrSpec{
			"run_id":       {name: "run_id", list: true},
			"run_name":     {name: "run_name"},
			"user_id":      {name: "user_id"},
			"status":       {name: "status"},
			"artifact_uri": {name: "artifact_uri"},
			"start_time":   {name: "start_time", numeric: true},
			"end_time":     {name: "end_time", numeric: true},
			"created":      {name: "start_time", numeric: true},
			"Created":      {name: "start_time", numeric: true},
			"run name":     {name: "run_name"},
			"Run name":     {name: "run_name"},
			"Run Name":     {name: "run_name"},
		},
		nullTypes:   set(Param, Tag),
		datasetKeys: set("name", "digest", "context"),
		orderAttrs: map[string]string{
			"run_id": "run_id", "run_name": "run_name", "user_id": "user_id",
			"status": "status", "artifact_uri": "artifact_uri",
			"start_time": "start_time", "end_time": "end_time",
			"created": "start_time", "Created": "start_time",
			// MLflow does not list the run-name aliases as order keys; they are
			// accepted here because they can only mean run_name.
			"run name": "run_name", "Run name": "run_name", "Run Name": "run_name",
		},
		orderTypes: set(Metric, Param, Tag),
	},
	Experiments: {
		prefixes:    registryPrefixes,
		prefixNames: []string{"attribute", "tag", "tags"},
		attrs: map[string]attrSpec{
			"name":             {name: "name"},
			"experiment_id":    {name: "experiment_id", list: true},
			"creation_time":    {name: "creation_time", numeric: true},
			"last_update_time": {name: "last_update_time", numeric: true},
		},
		nullTypes: set(Tag),
		orderAttrs: map[string]string{
			"name": "name", "experiment_id": "experiment_id",
			"creation_time": "creation_time", "last_update_time": "last_update_time",
		},
	},
	RegisteredModels: {
		prefixes:    registryPrefixes,
		prefixNames: []string{"attribute", "tag", "tags"},
		attrs: map[string]attrSpec{
			"name": {name: "name", list: true},
		},
		orderAttrs: map[string]string{
			"name": "name",
			// Both mean the last-updated time (MLflow's SQL store); creation
			// time is not an order key for registered models.
			"timestamp":              "last_updated_timestamp",
			"last_updated_timestamp": "last_updated_timestamp",
		},
	},
	ModelVersions: {
		prefixes:    registryPrefixes,
		prefixNames: []string{"attribute", "tag", "tags"},
		attrs: map[string]attrSpec{
			"name":           {name: "name", list: true},
			"run_id":         {name: "run_id", list: true},
			"source_path":    {name: "source_path"},
			"version_number": {name: "version_number", numeric: true, intOnly: true},
		},
		orderAttrs: map[string]string{
			"name": "name", "version_number": "version_number",
			"creation_timestamp": "creation_timestamp", "last_updated_timestamp": "last_updated_timestamp",
		},
	},
	LoggedModels: {
		prefixes: map[string]KeyType{
			"attributes": Attribute, "metrics": Metric, "params": Param, "tags": Tag,
		},
		prefixNames: []string{"attributes", "metrics", "params", "tags"},
		attrs: map[string]attrSpec{
			"name":                   {name: "name", list: true},
			"model_id":               {name: "model_id", list: true},
			"model_type":             {name: "model_type", list: true},
			"status":                 {name: "status", list: true},
			"source_run_id":          {name: "source_run_id", list: true},
			"creation_timestamp":     {name: "creation_timestamp", numeric: true},
			"creation_time":          {name: "creation_timestamp", numeric: true},
			"last_updated_timestamp": {name: "last_updated_timestamp", numeric: true},
			"last_updated_time":      {name: "last_updated_timestamp", numeric: true},
		},
		// MLflow's SQL store applies the string operators, IN included, to
		// logged-model params and tags.
		listTypes: set(Param, Tag),
		orderAttrs: map[string]string{
			"name": "name", "model_id": "model_id", "model_type": "model_type",
			"status": "status", "source_run_id": "source_run_id",
			"creation_timestamp": "creation_timestamp", "creation_time": "creation_timestamp",
			"last_updated_timestamp": "last_updated_timestamp", "last_updated_time": "last_updated_timestamp",
		},
		orderTypes: set(Metric),
	},
}

func specFor(e Entity) *entitySpec {
	if s, ok := specs[e]; ok {
		return s
	}
	return nil
}

// attrNames lists the attribute keys of s (aliases included), sorted, for error messages.
func (s *entitySpec) attrNames() []string {
	out := make([]string, 0, len(s.attrs))
	for k := range s.attrs {
		out = append(out, k)
	}
	sortFold(out)
	return out
}

func (s *entitySpec) orderNames() []string {
	out := make([]string, 0, len(s.orderAttrs))
	for k := range s.orderAttrs {
		out = append(out, k)
	}
	sortFold(out)
	return out
}

// sortFold sorts names case-insensitively (then case-sensitively), so that
// aliases such as "Created" sit next to "created".
func sortFold(xs []string) {
	sort.Slice(xs, func(i, j int) bool {
		a, b := strings.ToLower(xs[i]), strings.ToLower(xs[j])
		if a != b {
			return a < b
		}
		return xs[i] < xs[j]
	})
}

// allowedOps returns the operators valid for a key of type t (and, for
// attributes, the attribute spec a) in entity s.
func (s *entitySpec) allowedOps(t KeyType, a attrSpec) []string {
	var ops []string
	switch t {
	case Metric:
		ops = append(ops, numericOps...)
	case Param, Tag:
		ops = append(ops, stringOps...)
		if s.listTypes[t] {
			ops = append(ops, listOps...)
		}
		if s.nullTypes[t] {
			ops = append(ops, nullOps...)
		}
	case Attribute:
		if a.numeric {
			ops = append(ops, numericOps...)
		} else {
			ops = append(ops, stringOps...)
			if a.list {
				ops = append(ops, listOps...)
			}
		}
	case Dataset:
		ops = append(ops, stringOps...)
		ops = append(ops, listOps...)
	}
	return ops
}

// AllowedOps returns the canonical operators that ParseFilter accepts for the
// given entity, key type and key (the key matters only for attributes, and may
// be an alias). It returns nil when the key is not searchable.
func AllowedOps(e Entity, t KeyType, key string) []string {
	s := specFor(e)
	if s == nil {
		return nil
	}
	var a attrSpec
	switch t {
	case Attribute:
		var ok bool
		if a, ok = s.attrs[key]; !ok {
			return nil
		}
	case Dataset:
		if !s.datasetKeys[key] {
			return nil
		}
	default:
		found := false
		for _, pt := range s.prefixes {
			if pt == t {
				found = true
				break
			}
		}
		if !found {
			return nil
		}
	}
	return s.allowedOps(t, a)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// quoteList formats xs like a Python list of strings: ['a', 'b'].
func quoteList(xs []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('\'')
		b.WriteString(x)
		b.WriteByte('\'')
	}
	b.WriteByte(']')
	return b.String()
}
