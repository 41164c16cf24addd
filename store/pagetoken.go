package store

import (
	"encoding/base64"
	"encoding/json"

	"mlbox/store/search"
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

// parseSearch parses what every search takes: a filter, order_by clauses and
// a page token, for one entity. Parse errors are INVALID_PARAMETER_VALUE.
func parseSearch(e search.Entity, filter string, orderBy []string, token string) ([]search.Comparison, []search.OrderBy, int, error) {
	conds, err := search.ParseFilter(e, filter)
	if err != nil {
		return nil, nil, 0, Invalidf("%s", err.Error())
	}
	orders := make([]search.OrderBy, 0, len(orderBy))
	for _, o := range orderBy {
		ob, err := search.ParseOrderBy(e, o)
		if err != nil {
			return nil, nil, 0, Invalidf("%s", err.Error())
		}
		orders = append(orders, ob)
	}
	offset, err := decodePageToken(token)
	if err != nil {
		return nil, nil, 0, err
	}
	return conds, orders, offset, nil
}
