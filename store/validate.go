package store

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MLflow's limits (mlflow/utils/validation.py, MLflow 3.17.2).
const (
	MaxEntityKeyLength      = 250
	MaxParamValueLength     = 6000
	MaxTagValueLength       = 8000
	MaxExperimentTagValue   = 20000 // MAX_EXPERIMENT_TAG_VAL_LENGTH
	MaxExperimentNameLength = 500
	MaxRunNameLength        = 500
	MaxBatchMetrics         = 1000
	MaxBatchParams          = 100
	MaxBatchTags            = 100
	MaxBatchEntities        = 1000
	MaxDatasetNameLength    = 500
	MaxDatasetDigestLength  = 36
	MaxDatasetSourceLength  = 65535
	MaxDatasetSchemaLength  = 1048575
	MaxDatasetProfileLength = 16777215
	MaxInputTagKeyLength    = 255
	MaxInputTagValueLength  = 500
	MaxRegistryTagValue     = 100000 // MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH
	MaxAliasLength          = 255    // MAX_REGISTERED_MODEL_ALIAS_LENGTH
)

// mlbox's own bounds, where MLflow has none (docs/operations.md, "Input
// limits"). Every string that becomes (part of) a bbolt key is bounded,
// far below bbolt's 32 KiB key limit.
const (
	// MaxIDLength bounds ids a client sends: run ids, logged model ids,
	// webhook and delivery ids. mlbox makes 32-character ids (logged
	// models: 34); MLflow's run-id pattern allows 1-256 characters.
	MaxIDLength = 256
	// MaxRegisteredModelNameLength bounds registered model names (MLflow
	// checks none; its database column is String(256), which SQLite does
	// not enforce).
	MaxRegisteredModelNameLength = 256
)

// TooLong is MLflow's message for a value over its limit
// (mlflow.utils.validation.exceeds_maximum_length).
func TooLong(field string, limit int) error {
	return Invalidf("'%s' exceeds the maximum length of %d characters", field, limit)
}

// ValidateID checks an id a client sent: at most MaxIDLength characters.
// An empty id is left to the caller (required or optional).
func ValidateID(field, id string) error {
	if len(id) > MaxIDLength && runeLen(id) > MaxIDLength {
		return TooLong(field, MaxIDLength)
	}
	return nil
}

// validKeyChars: alphanumerics (Unicode), _ - . space / and :.
func validKeyChars(s string) bool {
	for _, r := range s {
		switch {
		case r == '_' || r == '-' || r == '.' || r == ' ' || r == '/' || r == ':':
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
		default:
			return false
		}
	}
	return true
}

// validateKey checks a metric, param or tag name the way MLflow does.
func validateKey(kind, key string) error {
	if key == "" {
		return Invalidf("Missing value for required parameter 'key'. See the API docs for more information about request parameters.")
	}
	if !validKeyChars(key) {
		return Invalidf("Invalid %s name: '%s'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).", kind, key)
	}
	if path.Clean(key) != key || strings.HasPrefix(key, "/") || key == "." || key == ".." || strings.HasPrefix(key, "../") {
		return Invalidf("Invalid %s name: '%s'. Names cannot contain leading or trailing slashes, consecutive slashes, or resolve to the current directory ('.') or traverse up ('..').", kind, key)
	}
	if n := utf8.RuneCountInString(key); n > MaxEntityKeyLength {
		return Invalidf("'%s' exceeds the maximum length of %d characters", kind+" name", MaxEntityKeyLength)
	}
	return nil
}

// truncate cuts s to max runes; MLflow truncates long param and tag values
// by default (MLFLOW_TRUNCATE_LONG_VALUES=true).
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i]
		}
		n++
	}
	return s
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }
