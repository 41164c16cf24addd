package pyobj

import (
	"fmt"
	"math"
	"slices"
)

const (
	// smallDict is the size up to which dict and set keys are looked up
	// without an index.
	smallDict = 8
	// maxKeyBytes is the longest string or bytes key that is compared with
	// the others, which keeps the work per insertion bounded.
	maxKeyBytes = 256
)

// containers fills dicts and sets with Python's rules for equal keys,
// keeping an index for the larger ones so that each insertion costs the
// same whatever the size.
type containers struct {
	dictKeys map[*Dict]map[any]int // key index of the larger dicts
	setKeys  map[*Set]map[any]bool // item index of the larger sets
}

func newContainers() containers {
	return containers{dictKeys: make(map[*Dict]map[any]int), setKeys: make(map[*Set]map[any]bool)}
}

// get looks a string key up in a dict filled by c.
func (c *containers) get(dict *Dict, key string) (Value, bool) {
	if idx := c.dictKeys[dict]; idx != nil && len(key) <= maxKeyBytes {
		if i, ok := idx[key]; ok {
			return dict.Values[i], true
		}
		return nil, false
	}
	return dict.Get(key)
}

// setItem stores dict[k] = v with Python's rules for equal keys.
func (c *containers) setItem(dict *Dict, k, v Value) error {
	if !hashable(k) {
		return fmt.Errorf("unhashable dict key (%s)", typeName(k))
	}
	key, ok := hashKey(k)
	if ok {
		if idx := c.dictKeys[dict]; idx != nil {
			if i, found := idx[key]; found {
				dict.Values[i] = v
				return nil
			}
			idx[key] = len(dict.Keys)
		} else {
			for i, k2 := range dict.Keys {
				if key2, ok := hashKey(k2); ok && key2 == key {
					dict.Values[i] = v
					return nil
				}
			}
			if len(dict.Keys) >= smallDict {
				idx := make(map[any]int, 2*len(dict.Keys))
				for i, k2 := range dict.Keys {
					if key2, ok := hashKey(k2); ok {
						idx[key2] = i
					}
				}
				idx[key] = len(dict.Keys)
				c.dictKeys[dict] = idx
			}
		}
	}
	dict.Keys = append(dict.Keys, k)
	dict.Values = append(dict.Values, v)
	return nil
}

// addToSet adds items to set, dropping equal ones as Python does.
func (c *containers) addToSet(set *Set, items []Value) error {
	for _, v := range items {
		if !hashable(v) {
			return fmt.Errorf("unhashable set item (%s)", typeName(v))
		}
		key, ok := hashKey(v)
		if ok {
			idx := c.setKeys[set]
			if idx == nil && len(set.Items) >= smallDict {
				idx = make(map[any]bool, 2*len(set.Items))
				for _, v2 := range set.Items {
					if key2, ok := hashKey(v2); ok {
						idx[key2] = true
					}
				}
				c.setKeys[set] = idx
			}
			if idx != nil {
				if idx[key] {
					continue
				}
				idx[key] = true
			} else if slices.ContainsFunc(set.Items, func(v2 Value) bool {
				key2, ok := hashKey(v2)
				return ok && key2 == key
			}) {
				continue
			}
		}
		set.Items = append(set.Items, v)
	}
	return nil
}

// hashable reports whether Python could use v as a dict key.
func hashable(v Value) bool {
	switch v := v.(type) {
	case *List, *Dict:
		return false
	case *Array:
		return len(v.Shape) == 0 // a numpy scalar (np.int64(1), np.str_("a"))
	}
	return true
}

// Key types for hashKey, kept apart from plain strings.
type (
	noneKey   struct{}
	bytesKey  string
	globalKey string
)

// hashKey returns a comparable Go value such that two keys Python treats
// as equal map to the same value (True == 1 == 1.0). ok is false for keys
// compared by identity or too costly to compare here (tuples, objects, NaN,
// integers beyond int64, strings longer than maxKeyBytes); such keys are
// never merged.
func hashKey(v Value) (key any, ok bool) {
	switch v := v.(type) {
	case nil:
		return noneKey{}, true
	case bool:
		if v {
			return int64(1), true
		}
		return int64(0), true
	case int64:
		return v, true
	case float64:
		if v != v {
			return nil, false
		}
		if v == math.Trunc(v) && v >= -(1<<63) && v < 1<<63 {
			return int64(v), true
		}
		return v, true
	case string:
		if len(v) > maxKeyBytes {
			return nil, false
		}
		return v, true
	case []byte:
		if len(v) > maxKeyBytes {
			return nil, false
		}
		return bytesKey(v), true
	case *Global:
		return globalKey(v.String()), true
	case *Array:
		// A numpy scalar equals the Python scalar of its value.
		if len(v.Shape) != 0 {
			return nil, false
		}
		if f, err := v.Float64s(); err == nil && len(f) == 1 {
			return hashKey(f[0])
		}
		if s, err := v.Strings(); err == nil && len(s) == 1 {
			return hashKey(s[0])
		}
	}
	return nil, false
}
