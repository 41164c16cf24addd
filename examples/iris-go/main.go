// Command iris-go is the mlbox example model: an iris classifier fitted in Go
// (see train/) and compiled to a WebAssembly reactor that implements the
// mlbox model ABI v1 (docs/wasm-abi.md):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o model.wasm .
//
// The exports live in exports.go, which only builds for wasip1; on other
// platforms this package is an empty command so `go vet ./...` stays happy.
package main

//go:generate go run ./train

func main() {}
