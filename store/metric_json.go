package store

import (
	"math"
	"strconv"
)

// AppendJSON appends m as MLflow's Metric JSON. Written by hand: metric
// histories are large and NaN/Inf must be the strings "NaN", "Infinity",
// "-Infinity".
func (m *Metric) AppendJSON(b []byte) []byte {
	b = append(b, `{"key":`...)
	b = strconv.AppendQuote(b, m.Key)
	b = append(b, `,"value":`...)
	b = AppendFloat(b, m.Value)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, m.Timestamp, 10)
	b = append(b, `,"step":`...)
	b = strconv.AppendInt(b, m.Step, 10)
	if m.DatasetName != "" {
		b = append(b, `,"dataset_name":`...)
		b = strconv.AppendQuote(b, m.DatasetName)
	}
	if m.DatasetDigest != "" {
		b = append(b, `,"dataset_digest":`...)
		b = strconv.AppendQuote(b, m.DatasetDigest)
	}
	if m.ModelID != "" {
		b = append(b, `,"model_id":`...)
		b = strconv.AppendQuote(b, m.ModelID)
	}
	if m.RunID != "" {
		b = append(b, `,"run_id":`...)
		b = strconv.AppendQuote(b, m.RunID)
	}
	return append(b, '}')
}

// MarshalJSON implements json.Marshaler.
func (m Metric) MarshalJSON() ([]byte, error) { return m.AppendJSON(make([]byte, 0, 96)), nil }

// AppendFloat appends v as JSON the way MLflow emits doubles.
func AppendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...)
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		// Integral values as "1.0"-free integers are valid JSON numbers.
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
