package compile

import "mlbox/serve/compile/sklearn"

func init() {
	register(FrontEnd{Name: "sklearn", Handles: sklearn.Handles, Files: sklearn.Files, Build: sklearn.Build, MaxBytes: sklearn.MaxModelBytes})
}
