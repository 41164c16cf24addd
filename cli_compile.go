package main

// `mlbox models compile`: the server's model compiler, offline — an
// MLflow model directory (as mlflow.sklearn.save_model or `mlbox models
// download` writes it) to a wasm module of mlbox's ABI, for CI and
// air-gapped hand-offs. See docs/serving.md.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mlbox/serve"
	"mlbox/serve/compile"
	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/wasmgen"
)

func init() { extraModelCommands["compile"] = cmdModelsCompile }

const modelsCompileUsage = `Usage:
  mlbox models compile [-o model.wasm] [--max-batch-rows N] MODEL_DIR

Compiles the model in MODEL_DIR (an MLflow model directory: MLmodel and the
model file, as mlflow.sklearn, mlflow.xgboost, mlflow.lightgbm or
mlflow.onnx save_model or "mlbox models download" write it) to a WebAssembly module of mlbox's
model ABI (docs/wasm-abi.md), the same module the server compiles when
such a version is registered. The
module is loaded and warmed as the server would before it is written.
Prints what it compiled: inputs, task, labels.

A model the compiler does not handle exits with status 3 and says why
("unsupported: ..."); a malformed model file exits with status 1.
`

func cmdModelsCompile(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlbox models compile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, modelsCompileUsage) }
	out := fs.String("o", "model.wasm", "write the module to this file")
	maxRows := fs.Int("max-batch-rows", 0, "rows per call the module's buffers hold (0: 1024, fewer for wide models)")
	// Flags may also follow the directory (mlbox models compile DIR -o x).
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	dir := pos[0]
	start := time.Now()
	mlm, err := os.ReadFile(filepath.Join(dir, "MLmodel"))
	if err != nil {
		fmt.Fprintf(stderr, "mlbox models compile: %v\n", err)
		return 1
	}
	src, err := compile.Read(mlm, func(name string, limit int64) ([]byte, error) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if fi.Size() > limit {
			return nil, fmt.Errorf("%s is %d bytes, over the limit of %d", name, fi.Size(), limit)
		}
		return os.ReadFile(p)
	})
	var mod *compile.Module
	if err == nil {
		mod, err = src.Compile(wasmgen.Options{MaxBatchRows: *maxRows, Name: filepath.Base(filepath.Clean(dir))})
	}
	if err != nil {
		fmt.Fprintf(stderr, "mlbox models compile: %s: %s\n", dir, compile.State(err))
		var ue *ir.UnsupportedError
		if errors.As(err, &ue) {
			return 3
		}
		return 1
	}
	took := time.Since(start)
	ctx := context.Background()
	rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
	if err != nil {
		fmt.Fprintf(stderr, "mlbox models compile: %v\n", err)
		return 1
	}
	defer rt.Close(ctx)
	meta, err := rt.Inspect(ctx, mod.Wasm)
	if err != nil {
		fmt.Fprintf(stderr, "mlbox models compile: the generated module does not load (a compiler bug; please report it): %v\n", err)
		return 1
	}
	if err := os.WriteFile(*out, mod.Wasm, 0o644); err != nil {
		fmt.Fprintf(stderr, "mlbox models compile: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s, %d bytes, compiled in %s\n", *out, meta.Task, len(mod.Wasm), took.Round(time.Millisecond))
	var cols []string
	for _, c := range meta.Columns {
		s := c.Name + " (" + c.Type
		if c.Optional {
			s += ", optional"
		}
		if c.Categories != nil {
			s += fmt.Sprintf(", %d categories", len(c.Categories))
		}
		cols = append(cols, s+")")
	}
	fmt.Fprintf(stdout, "inputs: %s\n", strings.Join(cols, ", "))
	if meta.Task == serve.Classification {
		var labels []string
		for _, l := range meta.Labels {
			labels = append(labels, string(l))
		}
		fmt.Fprintf(stdout, "labels: %s\n", strings.Join(labels, ", "))
	} else {
		fmt.Fprintf(stdout, "outputs: %d\n", meta.NOutputs)
	}
	fmt.Fprintf(stdout, "predict_fn: %s\n", meta.PredictFn)
	return 0
}
