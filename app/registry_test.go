package app

import (
	"strings"
	"testing"
)

// runWithAccuracy creates a run with metrics.accuracy and returns its id.
func runWithAccuracy(t *testing.T, s *testServer, acc float64) string {
	r := createRun(t, s, "0")
	s.must(t, "POST", api+"/runs/log-metric", map[string]any{"run_id": r, "key": "accuracy", "value": acc, "timestamp": 1})
	return r
}

func TestGatesApprovalsAudit(t *testing.T) {
	s := startServer(t)
	s.must(t, "POST", api+"/registered-models/create", map[string]any{"name": "iris"})
	weak := runWithAccuracy(t, s, 0.8)
	strong := runWithAccuracy(t, s, 0.95)
	s.must(t, "POST", api+"/model-versions/create", map[string]any{"name": "iris", "source": "runs:/" + weak + "/model", "run_id": weak})
	s.must(t, "POST", api+"/model-versions/create", map[string]any{"name": "iris", "source": "runs:/" + strong + "/model", "run_id": strong})
	s.must(t, "PUT", "/api/mlbox/v1/models/iris/gates", map[string]any{"gates": []any{
		map[string]any{"name": "min-accuracy", "targets": []string{"stage:Production", "alias:champion"}, "metric": "metrics.accuracy >= 0.9"},
		map[string]any{"name": "staged-first", "targets": []string{"stage:Production"}, "require_stage": "Staging"},
		map[string]any{"name": "two-approvals", "targets": []string{"alias:champion"}, "approvals": 2},
	}})
	auditLen := func() int {
		return len(s.must(t, "GET", "/api/mlbox/v1/models/iris/audit", nil)["entries"].([]any))
	}
	before := auditLen()

	// the weak version is blocked by the metric rule, and nothing changes but the audit
	st, m, raw := s.call(t, "POST", api+"/model-versions/transition-stage", map[string]any{"name": "iris", "version": "1", "stage": "Production", "archive_existing_versions": false})
	if st != 400 || m["error_code"] != "INVALID_PARAMETER_VALUE" || !strings.Contains(raw, "min-accuracy") {
		t.Fatalf("weak to Production: %d %s", st, raw)
	}
	mv := s.must(t, "GET", api+"/model-versions/get?name=iris&version=1", nil)["model_version"].(map[string]any)
	if mv["current_stage"] != "None" {
		t.Fatalf("blocked move changed the stage: %v", mv["current_stage"])
	}
	entries := s.must(t, "GET", "/api/mlbox/v1/models/iris/audit", nil)["entries"].([]any)
	if len(entries) != before+1 || entries[len(entries)-1].(map[string]any)["action"] != "gate.blocked" || entries[len(entries)-1].(map[string]any)["rule"] != "min-accuracy" {
		t.Fatalf("audit after block: %v", entries[before:])
	}

	// the strong version still needs Staging first
	st, _, raw = s.call(t, "POST", api+"/model-versions/transition-stage", map[string]any{"name": "iris", "version": "2", "stage": "Production"})
	if st != 400 || !strings.Contains(raw, "staged-first") {
		t.Fatalf("strong to Production without Staging: %d %s", st, raw)
	}
	s.must(t, "POST", api+"/model-versions/transition-stage", map[string]any{"name": "iris", "version": "2", "stage": "Staging"})
	s.must(t, "POST", api+"/model-versions/transition-stage", map[string]any{"name": "iris", "version": "2", "stage": "production", "archive_existing_versions": true})

	// alias needs two distinct approvers
	for i, approver := range []string{"alice", "alice", "bob"} {
		st, m, raw := s.call(t, "POST", api+"/registered-models/alias", map[string]any{"name": "iris", "alias": "champion", "version": "2"})
		if st != 403 || m["error_code"] != "PERMISSION_DENIED" || !strings.Contains(raw, "two-approvals") {
			t.Fatalf("alias with %d approvals: %d %s", i, st, raw)
		}
		s.must(t, "POST", "/api/mlbox/v1/models/iris/versions/2/approvals", map[string]any{"approver": approver, "comment": "ok"})
	}
	s.must(t, "POST", api+"/registered-models/alias", map[string]any{"name": "iris", "alias": "champion", "version": "2"})
	got := s.must(t, "GET", api+"/registered-models/alias?name=iris&alias=champion", nil)["model_version"].(map[string]any)
	if got["version"] != "2" || got["current_stage"] != "Production" {
		t.Fatalf("alias target: %v", got)
	}
	aps := s.must(t, "GET", "/api/mlbox/v1/models/iris/versions/2/approvals", nil)["approvals"].([]any)
	if len(aps) != 3 {
		t.Fatalf("approvals: %v", aps)
	}
	// the weak version can't take the alias either (metric rule)
	st, _, raw = s.call(t, "POST", api+"/registered-models/alias", map[string]any{"name": "iris", "alias": "champion", "version": "1"})
	if st != 400 || !strings.Contains(raw, "min-accuracy") {
		t.Fatalf("weak alias: %d %s", st, raw)
	}
	actions := map[string]int{}
	for _, e := range s.must(t, "GET", "/api/mlbox/v1/models/iris/audit", nil)["entries"].([]any) {
		actions[e.(map[string]any)["action"].(string)]++
	}
	if actions["alias.set"] != 1 || actions["model_version.approved"] != 3 || actions["model_version.stage_transitioned"] != 2 || actions["gate.blocked"] != 6 {
		t.Fatalf("audit actions: %v", actions)
	}
}

func TestRegistryErrors(t *testing.T) {
	s := startServer(t)
	s.must(t, "POST", api+"/registered-models/create", map[string]any{"name": "m"})
	r := createRun(t, s, "0")
	s.must(t, "POST", api+"/model-versions/create", map[string]any{"name": "m", "source": "runs:/" + r + "/model", "run_id": r})
	scenarios := []struct {
		name, method, path string
		body               any
		status             int
		code, contains     string
	}{
		{"duplicate model", "POST", api + "/registered-models/create", map[string]any{"name": "m"}, 400, "RESOURCE_ALREADY_EXISTS", "m"},
		{"missing model", "GET", api + "/registered-models/get?name=nope", nil, 404, "RESOURCE_DOES_NOT_EXIST", "nope"},
		{"bad name", "POST", api + "/registered-models/create", map[string]any{"name": "a/b"}, 400, "INVALID_PARAMETER_VALUE", ""},
		{"version of missing model", "POST", api + "/model-versions/create", map[string]any{"name": "nope", "source": "runs:/" + r + "/model", "run_id": r}, 404, "RESOURCE_DOES_NOT_EXIST", ""},
		{"source with ..", "POST", api + "/model-versions/create", map[string]any{"name": "m", "source": "mlflow-artifacts:/0/%2E%2E/x"}, 400, "INVALID_PARAMETER_VALUE", ".."},
		{"local path source", "POST", api + "/model-versions/create", map[string]any{"name": "m", "source": "/etc/passwd"}, 400, "INVALID_PARAMETER_VALUE", "Local paths"},
		{"missing version", "GET", api + "/model-versions/get?name=m&version=9", nil, 404, "RESOURCE_DOES_NOT_EXIST", ""},
		{"bad version", "GET", api + "/model-versions/get?name=m&version=x", nil, 400, "INVALID_PARAMETER_VALUE", ""},
		{"bad stage", "POST", api + "/model-versions/transition-stage", map[string]any{"name": "m", "version": "1", "stage": "Prod"}, 400, "INVALID_PARAMETER_VALUE", "stage"},
		{"archive_existing to Archived", "POST", api + "/model-versions/transition-stage", map[string]any{"name": "m", "version": "1", "stage": "Archived", "archive_existing_versions": true}, 400, "INVALID_PARAMETER_VALUE", "Active stage"},
		{"reserved alias latest", "POST", api + "/registered-models/alias", map[string]any{"name": "m", "alias": "Latest", "version": "1"}, 400, "INVALID_PARAMETER_VALUE", "reserved"},
		{"reserved alias v1", "POST", api + "/registered-models/alias", map[string]any{"name": "m", "alias": "v1", "version": "1"}, 400, "INVALID_PARAMETER_VALUE", "reserved"},
		{"alias to missing version", "POST", api + "/registered-models/alias", map[string]any{"name": "m", "alias": "a", "version": "7"}, 404, "RESOURCE_DOES_NOT_EXIST", ""},
		{"unknown alias", "GET", api + "/registered-models/alias?name=m&alias=zzz", nil, 400, "INVALID_PARAMETER_VALUE", "zzz"},
		{"latest alias", "GET", api + "/registered-models/alias?name=m&alias=latest", nil, 200, "", `"version":"1"`},
		{"search with prompt filter", "GET", api + "/registered-models/search?filter=" + "tag.%60mlflow.prompt.is_prompt%60+%21%3D+%27true%27", nil, 200, "", `"name":"m"`},
		{"search versions bad filter", "GET", api + "/model-versions/search?filter=foo+%3D+1", nil, 400, "INVALID_PARAMETER_VALUE", ""},
		{"bad gate", "PUT", "/api/mlbox/v1/models/m/gates", map[string]any{"gates": []any{map[string]any{"name": "g", "targets": []string{"stage:Prod"}, "approvals": 1}}}, 400, "INVALID_PARAMETER_VALUE", "stage"},
		{"gate bad metric", "PUT", "/api/mlbox/v1/models/m/gates", map[string]any{"gates": []any{map[string]any{"name": "g", "targets": []string{"*"}, "metric": "metrics.a >"}}}, 400, "INVALID_PARAMETER_VALUE", "metric"},
		{"approval without approver", "POST", "/api/mlbox/v1/models/m/versions/1/approvals", map[string]any{}, 400, "INVALID_PARAMETER_VALUE", "approver"},
		{"download uri", "GET", api + "/model-versions/get-download-uri?name=m&version=1", nil, 200, "", "/artifacts/model"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			st, m, raw := s.call(t, sc.method, sc.path, sc.body)
			checkScenario(t, st, m, raw, sc.status, sc.code, sc.contains)
		})
	}
	// delete a version: number not reused, aliases dropped
	s.must(t, "POST", api+"/registered-models/alias", map[string]any{"name": "m", "alias": "a", "version": "1"})
	s.must(t, "DELETE", api+"/model-versions/delete", map[string]any{"name": "m", "version": "1"})
	mv := s.must(t, "POST", api+"/model-versions/create", map[string]any{"name": "m", "source": "runs:/" + r + "/model", "run_id": r})["model_version"].(map[string]any)
	if mv["version"] != "2" {
		t.Fatalf("version number reused: %v", mv["version"])
	}
	rm := s.must(t, "GET", api+"/registered-models/get?name=m", nil)["registered_model"].(map[string]any)
	if _, ok := rm["aliases"]; ok {
		t.Fatalf("alias of deleted version survived: %v", rm["aliases"])
	}
	// rename keeps versions and audit
	s.must(t, "POST", api+"/registered-models/rename", map[string]any{"name": "m", "new_name": "m2"})
	s.must(t, "GET", api+"/model-versions/get?name=m2&version=2", nil)
	if n := len(s.must(t, "GET", "/api/mlbox/v1/models/m2/audit", nil)["entries"].([]any)); n < 3 {
		t.Fatalf("audit after rename has %d entries", n)
	}
}

// TestConfigGates: [[registry.gates]] from the config file guard moves on
// top of the API's rules.
func TestConfigGates(t *testing.T) {
	toml := `[[registry.gates]]
model = "*"
name = "min-acc"
targets = ["alias:champion"]
metric = "metrics.accuracy >= 0.9"
`
	cfg, err := cfgTestLoad(t, toml, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *Config) { c.Registry = cfg.Registry })
	s.must(t, "POST", api+"/registered-models/create", map[string]any{"name": "m"})
	weak := runWithAccuracy(t, s, 0.5)
	s.must(t, "POST", api+"/model-versions/create", map[string]any{"name": "m", "source": "runs:/" + weak + "/model", "run_id": weak})
	st, _, raw := s.call(t, "POST", api+"/registered-models/alias", map[string]any{"name": "m", "alias": "champion", "version": "1"})
	if st != 400 || !strings.Contains(raw, "min-acc") {
		t.Fatalf("config gate did not block: %d %s", st, raw)
	}
	s.must(t, "POST", api+"/registered-models/alias", map[string]any{"name": "m", "alias": "other", "version": "1"})
	g := s.must(t, "GET", "/api/mlbox/v1/models/m/gates", nil)
	if len(g["config_gates"].([]any)) != 1 {
		t.Fatalf("gates: %v", g)
	}
	// a bad gate in the file is a config error naming the entry
	if _, err := cfgTestLoad(t, "[[registry.gates]]\nname = \"x\"\ntargets = [\"stage:Prod\"]\napprovals = 1\n", nil); err == nil || !strings.Contains(err.Error(), "registry.gates[1]") {
		t.Fatalf("bad gate config: %v", err)
	}
}
