// Command gomodel is a test model for serve's ABI conformance tests: a Go
// (GOOS=wasip1, -buildmode=c-shared) module that misbehaves on request,
// to check how real Go failures surface. serve's tests build it on the fly.
//
// Its prediction is out[i] = sum of row i. The first value of a batch picks
// a behaviour: 1 panics, 2 loops forever, 3 allocates until memory runs
// out, 4 returns a Go-reported error.
package main

func main() {}
