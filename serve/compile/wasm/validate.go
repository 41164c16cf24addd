package wasm

import (
	"context"

	"github.com/tetratelabs/wazero"
)

// Validate decodes, validates and compiles a module with wazero's
// compiler (the interpreter where the compiler is not supported), the way
// mlbox will load it, and returns the first error.
func Validate(b []byte) error {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, b)
	if err != nil {
		return err
	}
	return cm.Close(ctx)
}
