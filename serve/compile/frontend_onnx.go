package compile

import "mlbox/serve/compile/onnx"

func init() {
	register(FrontEnd{Name: "onnx", Handles: onnx.Handles, Files: onnx.Files, More: onnx.ExternalFiles, Build: onnx.Build, MaxBytes: onnx.MaxModelBytes})
}
