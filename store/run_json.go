package store

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends r as encoding/json would marshal it, byte for byte
// (TestRunAppendJSONMatchesMarshal), without reflection: runs/search
// answers with up to thousands of full runs, and encoding/json spent most
// of a 100-run page's time there (re-compacting every Metric's JSON).
func (r *Run) AppendJSON(b []byte) []byte {
	i := &r.Info
	b = append(b, `{"info":{"run_id":`...)
	b = AppendJSONString(b, i.RunID)
	b = append(b, `,"run_uuid":`...)
	b = AppendJSONString(b, i.RunUUID)
	if i.RunName != "" {
		b = append(b, `,"run_name":`...)
		b = AppendJSONString(b, i.RunName)
	}
	b = append(b, `,"experiment_id":`...)
	b = AppendJSONString(b, i.ExperimentID)
	if i.UserID != "" {
		b = append(b, `,"user_id":`...)
		b = AppendJSONString(b, i.UserID)
	}
	b = append(b, `,"status":`...)
	b = AppendJSONString(b, i.Status)
	b = append(b, `,"start_time":`...)
	b = strconv.AppendInt(b, i.StartTime, 10)
	if i.EndTime != nil {
		b = append(b, `,"end_time":`...)
		b = strconv.AppendInt(b, *i.EndTime, 10)
	}
	if i.ArtifactURI != "" {
		b = append(b, `,"artifact_uri":`...)
		b = AppendJSONString(b, i.ArtifactURI)
	}
	b = append(b, `,"lifecycle_stage":`...)
	b = AppendJSONString(b, i.LifecycleStage)
	if i.DeletedTime != 0 {
		b = append(b, `,"deleted_time":`...)
		b = strconv.AppendInt(b, i.DeletedTime, 10)
	}
	b = append(b, `},"data":{`...)
	sep := false
	if len(r.Data.Metrics) > 0 {
		b = append(b, `"metrics":[`...)
		for k := range r.Data.Metrics {
			if k > 0 {
				b = append(b, ',')
			}
			b = r.Data.Metrics[k].AppendJSON(b)
		}
		b = append(b, ']')
		sep = true
	}
	for _, l := range []struct {
		name string
		kv   []Tag
	}{{"params", r.Data.Params}, {"tags", r.Data.Tags}} {
		if len(l.kv) == 0 {
			continue
		}
		if sep {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, l.name...)
		b = append(b, `":[`...)
		for k, t := range l.kv {
			if k > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"key":`...)
			b = AppendJSONString(b, t.Key)
			b = append(b, `,"value":`...)
			b = AppendJSONString(b, t.Value)
			b = append(b, '}')
		}
		b = append(b, ']')
		sep = true
	}
	b = append(b, `},"inputs":`...)
	if len(r.Inputs.DatasetInputs) == 0 && len(r.Inputs.ModelInputs) == 0 {
		b = append(b, `{}`...)
	} else {
		b = appendMarshal(b, &r.Inputs) // rare and small
	}
	if r.Outputs != nil {
		b = append(b, `,"outputs":`...)
		b = appendMarshal(b, r.Outputs)
	}
	return append(b, '}')
}

func appendMarshal(b []byte, v any) []byte {
	raw, err := json.Marshal(v)
	if err != nil { // plain structs of strings and ints: cannot fail
		panic("store: marshal: " + err.Error())
	}
	return append(b, raw...)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s quoted as encoding/json does: HTML-safe
// (<, > and & as \u003c…), U+2028/U+2029 escaped, invalid UTF-8 as U+FFFD.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
