package compile

import "mlbox/serve/compile/xgboost"

func init() {
	register(FrontEnd{Name: "xgboost", Handles: xgboost.Handles, Files: xgboost.Files, Build: xgboost.Build, MaxBytes: xgboost.MaxModelBytes})
}
