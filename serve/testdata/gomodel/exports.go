//go:build wasip1

package main

import "unsafe"

const (
	maxRows = 64
	nf      = 2
)

var (
	input  [maxRows * nf]float64
	output [maxRows]float64
	errMsg string
	sink   [][]byte
)

const meta = `{"abi_version":1,"name":"gomodel","task":"regression","dtype":"f64","output_dtype":"f64",` +
	`"n_features":2,"n_outputs":1,"max_batch_rows":64}`

func addr[T any](p *T) int32 { return int32(uintptr(unsafe.Pointer(p))) }

//go:wasmexport mlbox_abi_version
func abiVersion() int32 { return 1 }

//go:wasmexport mlbox_metadata_ptr
func metadataPtr() int32 { return addr(unsafe.StringData(meta)) }

//go:wasmexport mlbox_metadata_len
func metadataLen() int32 { return int32(len(meta)) }

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
	switch int(input[0]) {
	case 1:
		var m map[string]int
		m["boom"] = 1 // panics: assignment to entry in nil map
	case 2:
		for i := 0; ; i++ {
			output[i%maxRows] = float64(i)
		}
	case 3:
		for {
			sink = append(sink, make([]byte, 1<<20))
		}
	case 4:
		errMsg = "go says no"
		return -3
	}
	for i := 0; i < int(rows); i++ {
		output[i] = input[i*nf] + input[i*nf+1]
	}
	return rows
}
