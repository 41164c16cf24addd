package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestModelsRollback(t *testing.T) {
	url := startInProcess(t)
	api := url + "/api/2.0/mlflow"
	mustJSON(t, "POST", api+"/registered-models/create", map[string]any{"name": "iris"})
	for i := 0; i < 2; i++ {
		run := mustJSON(t, "POST", api+"/runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
		mustJSON(t, "PUT", url+"/api/2.0/mlflow-artifacts/artifacts/0/"+run+"/artifacts/model/MLmodel", "flavors: {}\n")
		mustJSON(t, "POST", api+"/model-versions/create", map[string]any{"name": "iris", "source": "runs:/" + run + "/model", "run_id": run})
	}
	var out, errb bytes.Buffer
	if code := run2(&out, &errb, "models", "rollback", "--tracking-uri", url, "iris"); code != 1 || !strings.Contains(errb.String(), "not found") {
		t.Fatalf("without alias: exit %d: %s", code, errb.String())
	}
	mustJSON(t, "POST", api+"/registered-models/alias", map[string]any{"name": "iris", "alias": "champion", "version": "1"})
	mustJSON(t, "POST", api+"/registered-models/alias", map[string]any{"name": "iris", "alias": "champion", "version": "2"})
	out.Reset()
	errb.Reset()
	if code := run2(&out, &errb, "models", "rollback", "iris", "--alias", "champion", "--tracking-uri", url); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "rolled back iris@champion: version 2 -> 1") || !strings.Contains(out.String(), "not_servable") {
		t.Fatalf("output %q", out.String())
	}
	alias := mustJSON(t, "GET", api+"/registered-models/alias?name=iris&alias=champion", "")
	if v := alias["model_version"].(map[string]any)["version"]; v != "1" {
		t.Fatalf("alias at %v", v)
	}
	if code := run2(&out, &errb, "models", "rollback"); code != 2 {
		t.Fatalf("no name: exit %d", code)
	}
}
