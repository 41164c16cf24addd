package compile

import "mlbox/serve/compile/lightgbm"

func init() {
	register(FrontEnd{Name: "lightgbm", Handles: lightgbm.Handles, Files: lightgbm.Files, Build: lightgbm.Build, MaxBytes: lightgbm.MaxModelBytes})
}
