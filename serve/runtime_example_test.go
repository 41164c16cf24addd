package serve_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"mlbox/serve"
)

func Example() {
	ctx := context.Background()
	rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(ctx)

	wasm, err := os.ReadFile("../examples/iris-go/model.wasm")
	if err != nil {
		log.Fatal(err)
	}
	m, err := rt.Load(ctx, wasm)
	if err != nil {
		log.Fatal(err) // wraps serve.ErrInvalidModule, naming what is wrong
	}
	defer m.Close()

	meta := m.Meta()
	rows := []float64{
		5.1, 3.5, 1.4, 0.2,
		6.7, 3.1, 5.6, 2.4,
	}
	probs, err := m.Predict(ctx, rows, 2)
	if err != nil {
		log.Fatal(err) // a *serve.ModelError if the module failed
	}
	for i := 0; i < 2; i++ {
		p := probs[i*meta.NOutputs : (i+1)*meta.NOutputs]
		best := 0
		for k := range p {
			if p[k] > p[best] {
				best = k
			}
		}
		fmt.Printf("row %d: %s (%.2f)\n", i, meta.OutputNames[best], p[best])
	}
	// Output:
	// row 0: setosa (1.00)
	// row 1: virginica (1.00)
}
