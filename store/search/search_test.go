package search

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func str(s string) Value      { return Value{Kind: String, Str: s} }
func num(f float64) Value     { return Value{Kind: Number, Num: f} }
func list(xs ...string) Value { return Value{Kind: List, List: xs} }
func null() Value             { return Value{Kind: Null} }
func cmp(t KeyType, k, op string, v Value) Comparison {
	return Comparison{Type: t, Key: k, Op: op, Value: v}
}

type filterCase struct {
	name    string
	e       Entity
	filter  string
	want    []Comparison
	wantErr string // substring of the *Error message; "" means success
}

var filterCases = []filterCase{
	// --- empty ---
	{name: "empty", e: Runs, filter: ""},
	{name: "blank", e: Runs, filter: " \t\n "},

	// --- runs: metrics ---
	{name: "metric gt", e: Runs, filter: "metrics.acc > 0.9",
		want: []Comparison{cmp(Metric, "acc", ">", num(0.9))}},
	{name: "metric singular prefix", e: Runs, filter: "metric.acc>=1",
		want: []Comparison{cmp(Metric, "acc", ">=", num(1))}},
	{name: "metric negative int", e: Runs, filter: "metrics.loss < -2",
		want: []Comparison{cmp(Metric, "loss", "<", num(-2))}},
	{name: "metric exponent", e: Runs, filter: "metrics.lr <= 1e-3",
		want: []Comparison{cmp(Metric, "lr", "<=", num(0.001))}},
	{name: "metric exponent signs", e: Runs, filter: "metrics.x = -1.5E+2",
		want: []Comparison{cmp(Metric, "x", "=", num(-150))}},
	{name: "metric leading dot", e: Runs, filter: "metrics.x != .5",
		want: []Comparison{cmp(Metric, "x", "!=", num(0.5))}},
	{name: "metric trailing dot", e: Runs, filter: "metrics.x = 3.",
		want: []Comparison{cmp(Metric, "x", "=", num(3))}},
	{name: "metric dotted key", e: Runs, filter: "metrics.a.b.c = 1",
		want: []Comparison{cmp(Metric, "a.b.c", "=", num(1))}},
	{name: "metric backticked key", e: Runs, filter: "metrics.`my acc` > 0",
		want: []Comparison{cmp(Metric, "my acc", ">", num(0))}},
	{name: "metric double-quoted key", e: Runs, filter: `metrics."error-rate" < 0.1`,
		want: []Comparison{cmp(Metric, "error-rate", "<", num(0.1))}},
	{name: "metric key starting with digit", e: Runs, filter: `metrics."2019-04-02 error" < 1`,
		want: []Comparison{cmp(Metric, "2019-04-02 error", "<", num(1))}},
	{name: "metric unicode key", e: Runs, filter: "metrics.précision > 0.5",
		want: []Comparison{cmp(Metric, "précision", ">", num(0.5))}},
	{name: "metric no spaces", e: Runs, filter: "metrics.a>-1",
		want: []Comparison{cmp(Metric, "a", ">", num(-1))}},
	{name: "metric huge overflows to inf", e: Runs, filter: "metrics.a < 1e999",
		want: []Comparison{{Type: Metric, Key: "a", Op: "<", Value: Value{Kind: Number, Num: inf()}}}},

	// --- runs: params and tags ---
	{name: "param eq single quotes", e: Runs, filter: "params.model = 'LogisticRegression'",
		want: []Comparison{cmp(Param, "model", "=", str("LogisticRegression"))}},
	{name: "param eq double quotes", e: Runs, filter: `params.model = "LogisticRegression"`,
		want: []Comparison{cmp(Param, "model", "=", str("LogisticRegression"))}},
	{name: "param aliases", e: Runs, filter: "param.a = 'x' and parameter.b = 'y' AND parameters.c = 'z'",
		want: []Comparison{cmp(Param, "a", "=", str("x")), cmp(Param, "b", "=", str("y")), cmp(Param, "c", "=", str("z"))}},
	{name: "param like lowercase", e: Runs, filter: "params.m like 'Log%'",
		want: []Comparison{cmp(Param, "m", "LIKE", str("Log%"))}},
	{name: "param ilike mixed case", e: Runs, filter: "params.m iLiKe '%reg%'",
		want: []Comparison{cmp(Param, "m", "ILIKE", str("%reg%"))}},
	{name: "param is null", e: Runs, filter: "params.a IS NULL",
		want: []Comparison{cmp(Param, "a", "IS NULL", null())}},
	{name: "tag is not null lowercase", e: Runs, filter: "tags.b is  not\tnull",
		want: []Comparison{cmp(Tag, "b", "IS NOT NULL", null())}},
	{name: "tag backticked dotted key", e: Runs, filter: "tags.`mlflow.source.name` != 'x'",
		want: []Comparison{cmp(Tag, "mlflow.source.name", "!=", str("x"))}},
	{name: "tag bare dotted key", e: Runs, filter: "tag.mlflow.runName = 'r1'",
		want: []Comparison{cmp(Tag, "mlflow.runName", "=", str("r1"))}},
	{name: "empty string value", e: Runs, filter: "tags.a = ''",
		want: []Comparison{cmp(Tag, "a", "=", str(""))}},
	{name: "doubled quote in value", e: Runs, filter: "tags.a = 'it''s'",
		want: []Comparison{cmp(Tag, "a", "=", str("it's"))}},
	{name: "backslash-escaped quote in value", e: Runs, filter: `tags.a = 'it\'s' and tags.b = "say \"hi\""`,
		want: []Comparison{cmp(Tag, "a", "=", str("it's")), cmp(Tag, "b", "=", str(`say "hi"`))}},
	{name: "other backslashes literal", e: Runs, filter: `tags.p = 'C:\data\x' AND tags.q = 'a\\b'`,
		want: []Comparison{cmp(Tag, "p", "=", str(`C:\data\x`)), cmp(Tag, "q", "=", str(`a\b`))}},
	{name: "other quote inside string", e: Runs, filter: `tags.a = "it's" and tags.b = 'a "b"'`,
		want: []Comparison{cmp(Tag, "a", "=", str("it's")), cmp(Tag, "b", "=", str(`a "b"`))}},
	{name: "keywords inside strings", e: Runs, filter: "tags.a = 'x AND y OR z'",
		want: []Comparison{cmp(Tag, "a", "=", str("x AND y OR z"))}},

	// --- runs: attributes ---
	{name: "bare attribute", e: Runs, filter: "status = 'FINISHED'",
		want: []Comparison{cmp(Attribute, "status", "=", str("FINISHED"))}},
	{name: "attribute prefixes", e: Runs, filter: "attributes.status = 'A' and attribute.user_id = 'u' and attr.artifact_uri LIKE 's3%' and run.run_name = 'n'",
		want: []Comparison{
			cmp(Attribute, "status", "=", str("A")), cmp(Attribute, "user_id", "=", str("u")),
			cmp(Attribute, "artifact_uri", "LIKE", str("s3%")), cmp(Attribute, "run_name", "=", str("n")),
		}},
	{name: "numeric attributes", e: Runs, filter: "start_time >= 1700000000000 AND attributes.end_time < 1.7e12",
		want: []Comparison{cmp(Attribute, "start_time", ">=", num(1700000000000)), cmp(Attribute, "end_time", "<", num(1.7e12))}},
	{name: "created alias", e: Runs, filter: "created > 5 and attributes.Created < 10",
		want: []Comparison{cmp(Attribute, "start_time", ">", num(5)), cmp(Attribute, "start_time", "<", num(10))}},
	{name: "run name aliases", e: Runs, filter: "`run name` = 'a' AND \"Run name\" = 'b' AND attributes.`Run Name` ILIKE 'c%'",
		want: []Comparison{cmp(Attribute, "run_name", "=", str("a")), cmp(Attribute, "run_name", "=", str("b")), cmp(Attribute, "run_name", "ILIKE", str("c%"))}},
	{name: "run_id in list", e: Runs, filter: "attributes.run_id IN ('a', 'b')",
		want: []Comparison{cmp(Attribute, "run_id", "IN", list("a", "b"))}},
	{name: "run_id not in list tight", e: Runs, filter: "run_id not in('a',\"b\",)",
		want: []Comparison{cmp(Attribute, "run_id", "NOT IN", list("a", "b"))}},
	{name: "run_id in single", e: Runs, filter: "run_id IN ( 'a' )",
		want: []Comparison{cmp(Attribute, "run_id", "IN", list("a"))}},

	// --- runs: datasets ---
	{name: "dataset fields", e: Runs, filter: "datasets.name = 'd' AND dataset.digest IN ('x','y') AND datasets.context NOT IN ('train') AND datasets.name ILIKE 'D%'",
		want: []Comparison{
			cmp(Dataset, "name", "=", str("d")), cmp(Dataset, "digest", "IN", list("x", "y")),
			cmp(Dataset, "context", "NOT IN", list("train")), cmp(Dataset, "name", "ILIKE", str("D%")),
		}},

	// --- runs: whitespace and keyword case ---
	{name: "newlines and tabs", e: Runs, filter: "\n\tmetrics.a\t>\n1\n\tAnD\tparams.b='c'  \n",
		want: []Comparison{cmp(Metric, "a", ">", num(1)), cmp(Param, "b", "=", str("c"))}},
	{name: "three clauses", e: Runs, filter: "metrics.a > 1 and metrics.b < 2 and tags.c = 'd'",
		want: []Comparison{cmp(Metric, "a", ">", num(1)), cmp(Metric, "b", "<", num(2)), cmp(Tag, "c", "=", str("d"))}},
	{name: "backticked prefix", e: Runs, filter: "`metrics`.a > 1",
		want: []Comparison{cmp(Metric, "a", ">", num(1))}},

	// --- runs: errors ---
	{name: "or", e: Runs, filter: "metrics.a > 1 OR metrics.b < 2", wantErr: "Invalid clause(s) in filter string: 'OR metrics.b < 2'"},
	{name: "or before bad key", e: Runs, filter: "a = 1 or b = 2", wantErr: "Invalid clause(s)"},
	{name: "not prefix", e: Runs, filter: "NOT metrics.a > 1", wantErr: "Invalid clause(s) in filter string: 'NOT metrics.a > 1'"},
	{name: "grouping parens", e: Runs, filter: "(metrics.a > 1)", wantErr: "Parentheses are only allowed around IN lists"},
	{name: "grouping parens second clause", e: Runs, filter: "metrics.a > 1 AND (metrics.b > 1)", wantErr: "Parentheses"},
	{name: "trailing and", e: Runs, filter: "metrics.a > 1 AND", wantErr: "Expected a comparison after 'AND'"},
	{name: "leading and", e: Runs, filter: "AND metrics.a > 1", wantErr: "Invalid clause(s)"},
	{name: "double and", e: Runs, filter: "metrics.a > 1 AND AND metrics.b > 1", wantErr: "Invalid clause(s) in filter string: 'AND metrics.b > 1'"},
	{name: "missing and", e: Runs, filter: "metrics.a > 1 metrics.b > 1", wantErr: "Invalid clause(s) in filter string: 'metrics.b > 1'"},
	{name: "semicolon", e: Runs, filter: "metrics.a > 1; metrics.b > 1", wantErr: "Search filter contained multiple expression"},
	{name: "unknown prefix", e: Runs, filter: "foo.a = 'x'", wantErr: "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"},
	{name: "prefix case-sensitive", e: Runs, filter: "Metrics.a > 1", wantErr: "Invalid entity type 'Metrics'"},
	{name: "unknown attribute", e: Runs, filter: "foo = 'x'", wantErr: "Invalid attribute key 'foo' specified. Valid keys are ["},
	{name: "lifecycle_stage not searchable", e: Runs, filter: "lifecycle_stage = 'active'", wantErr: "Invalid attribute key 'lifecycle_stage'"},
	{name: "attribute case-sensitive", e: Runs, filter: "Status = 'x'", wantErr: "Invalid attribute key 'Status'"},
	{name: "unknown dataset key", e: Runs, filter: "datasets.foo = 'x'", wantErr: "Invalid dataset key 'foo' specified"},
	{name: "metric with string", e: Runs, filter: "metrics.a = '1'", wantErr: "Expected numeric value type for metric. Found '1'"},
	{name: "metric with word", e: Runs, filter: "metrics.a = abc", wantErr: "Expected numeric value type for metric. Found abc"},
	{name: "metric like", e: Runs, filter: "metrics.a LIKE 1", wantErr: "Invalid comparator 'LIKE' not one of ['=', '!=', '<', '<=', '>', '>=']"},
	{name: "metric in", e: Runs, filter: "metrics.a IN ('1')", wantErr: "Invalid comparator 'IN'"},
	{name: "metric is null", e: Runs, filter: "metrics.a IS NULL", wantErr: "IS NULL / IS NOT NULL is only supported for tags and params, not for metric 'a'"},
	{name: "attribute is null", e: Runs, filter: "run_name IS NOT NULL", wantErr: "only supported for tags and params"},
	{name: "param with number", e: Runs, filter: "params.a = 1", wantErr: "Expected a quoted string value for parameter (e.g. 'my-value'). Got value 1"},
	{name: "tag with number", e: Runs, filter: "tags.a != 1.5", wantErr: "Expected a quoted string value for tag"},
	{name: "param unquoted", e: Runs, filter: "params.a = abc", wantErr: "Parameter value is either not quoted or unidentified quote types used for string value abc"},
	{name: "param backticked value", e: Runs, filter: "params.a = `abc`", wantErr: "not quoted or unidentified quote types"},
	{name: "param greater", e: Runs, filter: "params.a > 'x'", wantErr: "Invalid comparator '>' not one of ['=', '!=', 'LIKE', 'ILIKE', 'IS NULL', 'IS NOT NULL']"},
	{name: "param in", e: Runs, filter: "params.a IN ('x')", wantErr: "Invalid comparator 'IN'"},
	{name: "string attribute with number", e: Runs, filter: "status = 1", wantErr: "Expected a quoted string value for attributes"},
	{name: "numeric attribute with string", e: Runs, filter: "start_time > '5'", wantErr: "Expected numeric value type for numeric attribute: start_time. Found '5'"},
	{name: "numeric attribute like", e: Runs, filter: "end_time LIKE 5", wantErr: "Invalid comparator 'LIKE'"},
	{name: "list on non-list attribute", e: Runs, filter: "status IN ('a')", wantErr: "Only ['run_id'] attributes support comparison with a list of quoted string values."},
	{name: "list with equals", e: Runs, filter: "run_id = ('a')", wantErr: "only supported with the IN and NOT IN comparators"},
	{name: "in without list", e: Runs, filter: "run_id IN 'a'", wantErr: "Expected a list of quoted string values after IN"},
	{name: "empty list", e: Runs, filter: "run_id IN ()", wantErr: "got empty list"},
	{name: "list of numbers", e: Runs, filter: "run_id IN (1, 2)", wantErr: "expected string value, punctuation, or whitespace"},
	{name: "list missing comma", e: Runs, filter: "run_id IN ('a' 'b')", wantErr: "ill-formed list"},
	{name: "list double comma", e: Runs, filter: "run_id IN ('a',,'b')", wantErr: "ill-formed list"},
	{name: "list unclosed", e: Runs, filter: "run_id IN ('a'", wantErr: "ill-formed list"},
	{name: "not like", e: Runs, filter: "params.a NOT LIKE 'x'", wantErr: "Invalid comparator 'NOT LIKE'"},
	{name: "between", e: Runs, filter: "metrics.a BETWEEN 1 AND 2", wantErr: "Invalid comparator 'BETWEEN'"},
	{name: "sql not-equal", e: Runs, filter: "metrics.a <> 1", wantErr: "Invalid comparator '<>'"},
	{name: "double equals", e: Runs, filter: "metrics.a == 1", wantErr: "Invalid comparator '=='"},
	{name: "is without null", e: Runs, filter: "tags.a IS 'x'", wantErr: "Invalid comparator 'IS'"},
	{name: "missing operator", e: Runs, filter: "metrics.a", wantErr: "Expected a comparator"},
	{name: "missing value", e: Runs, filter: "metrics.a >", wantErr: "Expected a value"},
	{name: "missing value before and", e: Runs, filter: "metrics.a > AND tags.b = 'c'", wantErr: "Expected a value after 'metrics.a >'"},
	{name: "hex number", e: Runs, filter: "metrics.a > 0x1F", wantErr: "Invalid numeric value '0x1F'"},
	{name: "number glued to word", e: Runs, filter: "metrics.a > 1AND tags.b = 'c'", wantErr: "Invalid numeric value"},
	{name: "two dots number", e: Runs, filter: "metrics.a > 1.2.3", wantErr: "Invalid numeric value"},
	{name: "bare minus", e: Runs, filter: "metrics.a > -", wantErr: "Invalid numeric value '-'"},
	{name: "plus sign", e: Runs, filter: "metrics.a > +1", wantErr: "Expected a value"},
	{name: "exponent without digits", e: Runs, filter: "metrics.a > 1e", wantErr: "Invalid numeric value"},
	{name: "nan word", e: Runs, filter: "metrics.a > NaN", wantErr: "Expected numeric value type for metric. Found NaN"},
	{name: "unterminated string", e: Runs, filter: "params.a = 'abc", wantErr: "Unterminated quoted string at position 11"},
	{name: "unterminated backtick key", e: Runs, filter: "metrics.`abc > 1", wantErr: "Unterminated quoted string"},
	{name: "unquoted dash key", e: Runs, filter: "metrics.my-acc > 1", wantErr: "Expected a comparator after 'metrics.my'. Quote keys"},
	{name: "unquoted space key", e: Runs, filter: "metrics.my acc > 1", wantErr: "Invalid comparator 'acc'"},
	{name: "empty key", e: Runs, filter: "metrics.`` > 1", wantErr: "The key is empty"},
	{name: "missing key", e: Runs, filter: "metrics. > 1", wantErr: "Expected a key after the '.'"},
	{name: "single-quoted key", e: Runs, filter: "'metrics.a' > 1", wantErr: "not single quotes"},
	{name: "quote glued to key", e: Runs, filter: "tags.a`b` = 'x'", wantErr: "Quote keys that contain special characters"},
	{name: "dot after quoted key", e: Runs, filter: "tags.`a`.b = 'x'", wantErr: "Invalid identifier"},
	{name: "operator first", e: Runs, filter: "> 1", wantErr: "Expected an identifier"},
	{name: "sql comment", e: Runs, filter: "metrics.a > 1 -- c", wantErr: "Invalid clause(s)"},

	// --- experiments ---
	{name: "exp name like", e: Experiments, filter: "name LIKE 'my-%'",
		want: []Comparison{cmp(Attribute, "name", "LIKE", str("my-%"))}},
	{name: "exp attribute prefix and times", e: Experiments, filter: "attribute.creation_time > 1 and attributes.last_update_time <= 2",
		want: []Comparison{cmp(Attribute, "creation_time", ">", num(1)), cmp(Attribute, "last_update_time", "<=", num(2))}},
	{name: "exp id in", e: Experiments, filter: "experiment_id IN ('1', '2')",
		want: []Comparison{cmp(Attribute, "experiment_id", "IN", list("1", "2"))}},
	{name: "exp tags", e: Experiments, filter: "tags.`team.name` = 'a' and tag.x ILIKE '%b' AND tags.y IS NULL AND tags.z IS NOT NULL",
		want: []Comparison{cmp(Tag, "team.name", "=", str("a")), cmp(Tag, "x", "ILIKE", str("%b")), cmp(Tag, "y", "IS NULL", null()), cmp(Tag, "z", "IS NOT NULL", null())}},
	{name: "exp params prefix", e: Experiments, filter: "params.a = 'x'", wantErr: "Invalid entity type 'params'. Valid values are ['attribute', 'tag', 'tags']"},
	{name: "exp metrics prefix", e: Experiments, filter: "metrics.a > 1", wantErr: "Invalid entity type 'metrics'"},
	{name: "exp unknown attribute", e: Experiments, filter: "artifact_location = 'x'", wantErr: "Invalid attribute key 'artifact_location'"},
	{name: "exp name in", e: Experiments, filter: "name IN ('a')", wantErr: "Only ['experiment_id'] attributes support comparison with a list"},
	{name: "exp creation_time string", e: Experiments, filter: "creation_time > 'x'", wantErr: "Expected numeric value type for numeric attribute: creation_time"},
	{name: "exp tag gt", e: Experiments, filter: "tags.a > 'x'", wantErr: "Invalid comparator '>'"},
	{name: "exp is null attribute", e: Experiments, filter: "name IS NULL", wantErr: "IS NULL / IS NOT NULL is only supported for tags, not for attribute 'name'"},

	// --- registered models ---
	{name: "rm prompt filter", e: RegisteredModels, filter: "name = 'm' AND tag.`mlflow.prompt.is_prompt` != 'true'",
		want: []Comparison{cmp(Attribute, "name", "=", str("m")), cmp(Tag, "mlflow.prompt.is_prompt", "!=", str("true"))}},
	{name: "rm prompt filter alone", e: RegisteredModels, filter: "tags.`mlflow.prompt.is_prompt` = 'false'",
		want: []Comparison{cmp(Tag, "mlflow.prompt.is_prompt", "=", str("false"))}},
	{name: "rm name like and in", e: RegisteredModels, filter: "name ILIKE '%Model%' and attribute.name IN ('a','b')",
		want: []Comparison{cmp(Attribute, "name", "ILIKE", str("%Model%")), cmp(Attribute, "name", "IN", list("a", "b"))}},
	{name: "rm unknown attribute", e: RegisteredModels, filter: "creation_timestamp > 1", wantErr: "Invalid attribute key 'creation_timestamp' specified. Valid keys are ['name']"},
	{name: "rm tag is null", e: RegisteredModels, filter: "tags.a IS NULL", wantErr: "IS NULL / IS NOT NULL is not supported when searching registered models"},
	{name: "rm run prefix", e: RegisteredModels, filter: "run.name = 'x'", wantErr: "Invalid entity type 'run'"},
	{name: "rm tag number", e: RegisteredModels, filter: "tags.a = 1", wantErr: "Expected a quoted string value for tag"},

	// --- model versions ---
	{name: "mv typical", e: ModelVersions, filter: "name = 'm' and version_number >= 2 and run_id IN ('r1','r2') and source_path LIKE 's3://%'",
		want: []Comparison{
			cmp(Attribute, "name", "=", str("m")), cmp(Attribute, "version_number", ">=", num(2)),
			cmp(Attribute, "run_id", "IN", list("r1", "r2")), cmp(Attribute, "source_path", "LIKE", str("s3://%")),
		}},
	{name: "mv quoted version", e: ModelVersions, filter: "version_number = '3'",
		want: []Comparison{cmp(Attribute, "version_number", "=", num(3))}},
	{name: "mv tags", e: ModelVersions, filter: "tags.`mlflow.prompt.is_prompt` != 'true' and tags.stage LIKE 'prod%'",
		want: []Comparison{cmp(Tag, "mlflow.prompt.is_prompt", "!=", str("true")), cmp(Tag, "stage", "LIKE", str("prod%"))}},
	{name: "mv float version", e: ModelVersions, filter: "version_number = 1.5", wantErr: "Invalid value for numeric attribute 'version_number': 1.5"},
	{name: "mv word version", e: ModelVersions, filter: "version_number = 'x'", wantErr: "Invalid value for numeric attribute 'version_number'"},
	{name: "mv source in", e: ModelVersions, filter: "source_path IN ('x')", wantErr: "Only ['name', 'run_id'] attributes support comparison with a list"},
	{name: "mv unknown attribute", e: ModelVersions, filter: "current_stage = 'Production'", wantErr: "Invalid attribute key 'current_stage'"},
	{name: "mv version like", e: ModelVersions, filter: "version_number LIKE '1'", wantErr: "Invalid comparator 'LIKE'"},

	// --- logged models ---
	{name: "lm name", e: LoggedModels, filter: "name = 'model'",
		want: []Comparison{cmp(Attribute, "name", "=", str("model"))}},
	{name: "lm mixed", e: LoggedModels, filter: "attributes.status IN ('READY') AND metrics.acc > 0.5 AND params.lr = '0.1' AND tags.t IN ('a') AND creation_time > 4 AND last_updated_time < 9",
		want: []Comparison{
			cmp(Attribute, "status", "IN", list("READY")), cmp(Metric, "acc", ">", num(0.5)),
			cmp(Param, "lr", "=", str("0.1")), cmp(Tag, "t", "IN", list("a")),
			cmp(Attribute, "creation_timestamp", ">", num(4)), cmp(Attribute, "last_updated_timestamp", "<", num(9)),
		}},
	{name: "lm singular prefix", e: LoggedModels, filter: "metric.acc > 0.5", wantErr: "Invalid entity type 'metric'. Valid values are ['attributes', 'metrics', 'params', 'tags']"},
	{name: "lm datasets prefix", e: LoggedModels, filter: "datasets.name = 'x'", wantErr: "Invalid entity type 'datasets'"},
	{name: "lm unknown attribute", e: LoggedModels, filter: "artifact_uri = 'x'", wantErr: "Invalid attribute key 'artifact_uri'"},
	{name: "lm tag is null", e: LoggedModels, filter: "tags.a IS NULL", wantErr: "not supported when searching logged models"},
	{name: "lm metric string", e: LoggedModels, filter: "metrics.acc > 'x'", wantErr: "Expected numeric value type for metric"},
}

func inf() float64 { var z float64; return 1 / z }

func TestParseFilter(t *testing.T) {
	for _, tc := range filterCases {
		t.Run(tc.e.String()+"/"+tc.name, func(t *testing.T) {
			got, err := ParseFilter(tc.e, tc.filter)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseFilter(%q) = %+v, want error containing %q", tc.filter, got, tc.wantErr)
				}
				var se *Error
				if !errors.As(err, &se) {
					t.Fatalf("error %T is not *Error", err)
				}
				if !strings.Contains(se.Message, tc.wantErr) {
					t.Fatalf("ParseFilter(%q) error = %q, want it to contain %q", tc.filter, se.Message, tc.wantErr)
				}
				if got != nil {
					t.Fatalf("got %+v alongside an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFilter(%q) error: %v", tc.filter, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseFilter(%q)\n got  %+v\n want %+v", tc.filter, got, tc.want)
			}
			if err := checkComparisons(tc.e, got); err != "" {
				t.Fatal(err)
			}
		})
	}
}

type orderCase struct {
	name    string
	e       Entity
	clause  string
	want    OrderBy
	wantErr string
}

var orderCases = []orderCase{
	{name: "attr default asc", e: Runs, clause: "start_time", want: OrderBy{Attribute, "start_time", true}},
	{name: "attr desc", e: Runs, clause: "attributes.start_time DESC", want: OrderBy{Attribute, "start_time", false}},
	{name: "lowercase asc", e: Runs, clause: "  end_time   asc ", want: OrderBy{Attribute, "end_time", true}},
	{name: "created alias", e: Runs, clause: "created desc", want: OrderBy{Attribute, "start_time", false}},
	{name: "run attributes", e: Runs, clause: "attr.run_id", want: OrderBy{Attribute, "run_id", true}},
	{name: "run_name", e: Runs, clause: "run_name DESC", want: OrderBy{Attribute, "run_name", false}},
	{name: "status user artifact", e: Runs, clause: "artifact_uri", want: OrderBy{Attribute, "artifact_uri", true}},
	{name: "metric backticks", e: Runs, clause: "metrics.`my acc` DESC", want: OrderBy{Metric, "my acc", false}},
	{name: "metric double quotes", e: Runs, clause: `metric."a-b"`, want: OrderBy{Metric, "a-b", true}},
	{name: "metric dotted", e: Runs, clause: "metrics.a.b DESC", want: OrderBy{Metric, "a.b", false}},
	{name: "param", e: Runs, clause: "params.lr ASC", want: OrderBy{Param, "lr", true}},
	{name: "fully quoted identifier", e: Runs, clause: "`metrics.my acc` DESC", want: OrderBy{Metric, "my acc", false}},
	{name: "fully quoted attribute alias", e: Runs, clause: `"Run name"`, want: OrderBy{Attribute, "run_name", true}},
	{name: "fully quoted unknown prefix", e: Runs, clause: "`foo.bar`", wantErr: "Invalid attribute key 'foo.bar'"},
	{name: "tag", e: Runs, clause: "tags.`mlflow.runName` DESC", want: OrderBy{Tag, "mlflow.runName", false}},
	{name: "bad attr", e: Runs, clause: "foo", wantErr: "Invalid attribute key 'foo' specified"},
	{name: "dataset", e: Runs, clause: "datasets.name", wantErr: "Invalid order_by entity: dataset"},
	{name: "bad direction", e: Runs, clause: "start_time DOWN", wantErr: "Invalid ordering key in order_by clause 'start_time DOWN'."},
	{name: "extra token", e: Runs, clause: "start_time DESC x", wantErr: "Could not be parsed"},
	{name: "empty", e: Runs, clause: "", wantErr: "Could not be parsed"},
	{name: "comma", e: Runs, clause: "start_time, end_time", wantErr: "Could not be parsed"},
	{name: "bad prefix", e: Runs, clause: "foo.bar", wantErr: "Invalid entity type 'foo'"},

	{name: "exp name", e: Experiments, clause: "name", want: OrderBy{Attribute, "name", true}},
	{name: "exp id desc", e: Experiments, clause: "experiment_id DESC", want: OrderBy{Attribute, "experiment_id", false}},
	{name: "exp times", e: Experiments, clause: "attribute.last_update_time desc", want: OrderBy{Attribute, "last_update_time", false}},
	{name: "exp creation", e: Experiments, clause: "creation_time", want: OrderBy{Attribute, "creation_time", true}},
	{name: "exp tag", e: Experiments, clause: "tags.a", wantErr: "Invalid order_by entity: tag"},
	{name: "exp bad", e: Experiments, clause: "artifact_location", wantErr: "Invalid attribute key 'artifact_location'"},

	{name: "rm name", e: RegisteredModels, clause: "name ASC", want: OrderBy{Attribute, "name", true}},
	{name: "rm timestamp", e: RegisteredModels, clause: "timestamp DESC", want: OrderBy{Attribute, "last_updated_timestamp", false}},
	{name: "rm last_updated", e: RegisteredModels, clause: "last_updated_timestamp", want: OrderBy{Attribute, "last_updated_timestamp", true}},
	{name: "rm creation", e: RegisteredModels, clause: "creation_timestamp", wantErr: "Invalid order by key 'creation_timestamp' specified. Valid keys are ['name', 'timestamp', 'last_updated_timestamp']"},
	{name: "rm tag", e: RegisteredModels, clause: "tags.x", wantErr: "Invalid order_by entity: tag"},

	{name: "mv version", e: ModelVersions, clause: "version_number DESC", want: OrderBy{Attribute, "version_number", false}},
	{name: "mv creation", e: ModelVersions, clause: "creation_timestamp", want: OrderBy{Attribute, "creation_timestamp", true}},
	{name: "mv last updated", e: ModelVersions, clause: "last_updated_timestamp DESC", want: OrderBy{Attribute, "last_updated_timestamp", false}},
	{name: "mv name", e: ModelVersions, clause: "name", want: OrderBy{Attribute, "name", true}},
	{name: "mv run_id", e: ModelVersions, clause: "run_id", wantErr: "Invalid attribute key 'run_id'"},

	{name: "lm metric verbatim", e: LoggedModels, clause: "metrics.my acc", want: OrderBy{Metric, "my acc", true}},
	{name: "lm metric backticks", e: LoggedModels, clause: "metrics.`a.b`", want: OrderBy{Metric, "a.b", true}},
	{name: "lm creation_time alias", e: LoggedModels, clause: "creation_time", want: OrderBy{Attribute, "creation_timestamp", true}},
	{name: "lm model_id", e: LoggedModels, clause: " model_id ", want: OrderBy{Attribute, "model_id", true}},
	{name: "lm params", e: LoggedModels, clause: "params.x", wantErr: "Invalid order by field name: params, only `metrics.<name>` is allowed."},
	{name: "lm bad attribute", e: LoggedModels, clause: "foo", wantErr: "Invalid order by field name: foo."},
	{name: "lm empty metric", e: LoggedModels, clause: "metrics.", wantErr: "Invalid order by field name"},
}

func TestParseOrderBy(t *testing.T) {
	for _, tc := range orderCases {
		t.Run(tc.e.String()+"/"+tc.name, func(t *testing.T) {
			got, err := ParseOrderBy(tc.e, tc.clause)
			if tc.wantErr != "" {
				var se *Error
				if err == nil || !errors.As(err, &se) {
					t.Fatalf("ParseOrderBy(%q) = %+v, %v; want *Error containing %q", tc.clause, got, err, tc.wantErr)
				}
				if !strings.Contains(se.Message, tc.wantErr) {
					t.Fatalf("ParseOrderBy(%q) error = %q, want it to contain %q", tc.clause, se.Message, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOrderBy(%q) error: %v", tc.clause, err)
			}
			if got != tc.want {
				t.Fatalf("ParseOrderBy(%q) = %+v, want %+v", tc.clause, got, tc.want)
			}
		})
	}
}

func TestUnknownEntity(t *testing.T) {
	if _, err := ParseFilter(Entity(99), "a = 'b'"); err == nil {
		t.Fatal("want an error for an unknown entity")
	}
	if _, err := ParseOrderBy(Entity(-1), "a"); err == nil {
		t.Fatal("want an error for an unknown entity")
	}
	if AllowedOps(Entity(99), Tag, "x") != nil {
		t.Fatal("AllowedOps for an unknown entity should be nil")
	}
}

func TestAllowedOps(t *testing.T) {
	cases := []struct {
		e    Entity
		t    KeyType
		key  string
		want []string
	}{
		{Runs, Metric, "x", []string{"=", "!=", "<", "<=", ">", ">="}},
		{Runs, Param, "x", []string{"=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"}},
		{Runs, Attribute, "run_id", []string{"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}},
		{Runs, Attribute, "created", []string{"=", "!=", "<", "<=", ">", ">="}},
		{Runs, Attribute, "nope", nil},
		{Runs, Dataset, "digest", []string{"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}},
		{Runs, Dataset, "nope", nil},
		{Experiments, Tag, "x", []string{"=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"}},
		{Experiments, Param, "x", nil},
		{RegisteredModels, Tag, "x", []string{"=", "!=", "LIKE", "ILIKE"}},
		{ModelVersions, Attribute, "version_number", []string{"=", "!=", "<", "<=", ">", ">="}},
		{LoggedModels, Tag, "x", []string{"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}},
		{LoggedModels, Dataset, "name", nil},
	}
	for _, c := range cases {
		if got := AllowedOps(c.e, c.t, c.key); !reflect.DeepEqual(got, c.want) {
			t.Errorf("AllowedOps(%v, %s, %q) = %q, want %q", c.e, c.t, c.key, got, c.want)
		}
	}
}

func TestErrorMessageIsShortened(t *testing.T) {
	long := "metrics.a > 1 OR " + strings.Repeat("é", 1000)
	_, err := ParseFilter(Runs, long)
	if err == nil {
		t.Fatal("want error")
	}
	if n := len(err.Error()); n > 400 {
		t.Fatalf("message is %d bytes; want it shortened", n)
	}
	if !strings.HasSuffix(strings.TrimSuffix(err.Error(), ". Only AND-ed comparisons are supported; OR is not."), "...'") {
		t.Fatalf("message %q should end with an ellipsis inside the quotes", err.Error())
	}
}

// checkComparisons returns a description of the first invariant a parse
// result breaks, or "".
func checkComparisons(e Entity, cs []Comparison) string {
	for _, c := range cs {
		ops := AllowedOps(e, c.Type, c.Key)
		if !contains(ops, c.Op) {
			return "op " + c.Op + " not allowed for " + string(c.Type) + " " + c.Key
		}
		if c.Type == Attribute {
			if a := specFor(e).attrs[c.Key]; a.name != c.Key {
				return "attribute key not canonical: " + c.Key
			}
		}
		numeric := c.Type == Metric || (c.Type == Attribute && specFor(e).attrs[c.Key].numeric)
		var want ValueKind
		switch {
		case c.Op == "IS NULL" || c.Op == "IS NOT NULL":
			want = Null
		case c.Op == "IN" || c.Op == "NOT IN":
			want = List
			if len(c.Value.List) == 0 {
				return "empty list for " + c.Key
			}
		case numeric:
			want = Number
		default:
			want = String
		}
		if c.Value.Kind != want {
			return "wrong value kind for " + string(c.Type) + " " + c.Key + " " + c.Op
		}
		if c.Key == "" {
			return "empty key"
		}
	}
	return ""
}
