package store

import (
	"encoding/base64"
	"encoding/json"
)

// Page tokens are opaque to clients; like MLflow's they are base64(JSON
// {"offset": N}).
func encodePageToken(offset int) string {
	b, _ := json.Marshal(struct {
		Offset int `json:"offset"`
	}{offset})
	return base64.StdEncoding.EncodeToString(b)
}

func decodePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		raw, err = base64.URLEncoding.DecodeString(tok)
	}
	var v struct {
		Offset *int `json:"offset"`
	}
	if err != nil || json.Unmarshal(raw, &v) != nil || v.Offset == nil || *v.Offset < 0 {
		return 0, Invalidf("Invalid page token, could not base64-decode or parse it: %q", tok)
	}
	return *v.Offset, nil
}

// page cuts items [offset, offset+max) and returns the next token ("" at the end).
func page[T any](items []T, offset, max int) ([]T, string) {
	if offset >= len(items) {
		return nil, ""
	}
	end := offset + max
	if end >= len(items) {
		return items[offset:], ""
	}
	return items[offset:end], encodePageToken(end)
}
