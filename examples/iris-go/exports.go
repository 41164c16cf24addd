//go:build wasip1

package main

import (
	"math"
	"strconv"
	"unsafe"

	"mlbox/examples/iris-go/iris"
)

// maxRows is the batch capacity announced in the metadata.
const maxRows = 1024

// The buffers are package-level arrays: their addresses never change, which
// is what the ABI asks of mlbox_input_ptr and mlbox_output_ptr.
var (
	input  [maxRows * iris.NFeatures]float64
	output [maxRows * iris.NClasses]float64
	errMsg string
)

// metadata is built by hand rather than with encoding/json, which would add
// about a megabyte to the module.
var metadata = func() string {
	list := func(names []string) string {
		s := "["
		for i, n := range names {
			if i > 0 {
				s += ","
			}
			s += strconv.Quote(n)
		}
		return s + "]"
	}
	return `{"abi_version":1,"name":"iris-go","task":"classification",` +
		`"dtype":"f64","output_dtype":"f64",` +
		`"n_features":` + strconv.Itoa(iris.NFeatures) + `,"feature_names":` + list(iris.FeatureNames[:]) + `,` +
		`"n_outputs":` + strconv.Itoa(iris.NClasses) + `,"output_names":` + list(iris.Classes[:]) + `,` +
		`"max_batch_rows":` + strconv.Itoa(maxRows) + `,"producer":"mlbox examples/iris-go (Go)"}`
}()

func addr[T any](p *T) int32 { return int32(uintptr(unsafe.Pointer(p))) }

//go:wasmexport mlbox_abi_version
func abiVersion() int32 { return 1 }

//go:wasmexport mlbox_metadata_ptr
func metadataPtr() int32 { return addr(unsafe.StringData(metadata)) }

//go:wasmexport mlbox_metadata_len
func metadataLen() int32 { return int32(len(metadata)) }

//go:wasmexport mlbox_input_ptr
func inputPtr() int32 { return addr(&input[0]) }

//go:wasmexport mlbox_output_ptr
func outputPtr() int32 { return addr(&output[0]) }

//go:wasmexport mlbox_error_ptr
func errorPtr() int32 {
	if errMsg == "" {
		return 0
	}
	return addr(unsafe.StringData(errMsg))
}

//go:wasmexport mlbox_error_len
func errorLen() int32 { return int32(len(errMsg)) }

//go:wasmexport mlbox_predict
func predict(rows int32) int32 {
	if rows < 1 || rows > maxRows {
		errMsg = "rows " + strconv.Itoa(int(rows)) + " out of range [1, " + strconv.Itoa(maxRows) + "]"
		return -1
	}
	for i := 0; i < int(rows); i++ {
		x := input[i*iris.NFeatures : (i+1)*iris.NFeatures]
		// v-v is 0 for a finite v and NaN for NaN or ±Inf: one branch per
		// row instead of a loop (loops are costly, see iris.Logits).
		if (x[0]-x[0])+(x[1]-x[1])+(x[2]-x[2])+(x[3]-x[3]) != 0 {
			return notFinite(i, x)
		}
		iris.Fitted.Predict(x, output[i*iris.NClasses:(i+1)*iris.NClasses])
	}
	return rows * iris.NClasses
}

// notFinite reports the first non-finite feature of row i.
func notFinite(i int, x []float64) int32 {
	for j, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			errMsg = "row " + strconv.Itoa(i) + ": " + iris.FeatureNames[j] + " is not a finite number"
			break
		}
	}
	return -2
}
