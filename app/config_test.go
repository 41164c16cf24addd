package app

import (
	"mlbox/scheduler"

	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"
)

// Regenerate the config fixtures' expected output with
//
//	go test -run TestConfigFixtures ./app/ -update-config-golden
var cfgUpdateGolden = flag.Bool("update-config-golden", false, "rewrite app/testdata/config/*.golden and *.err")

// cfgTestLoad runs LoadConfig the way main does: a FlagSet with
// RegisterFlags, parsed from args, plus an environ slice. tomlText, when not
// empty, is written to a temp file and passed with --config.
func cfgTestLoad(t testing.TB, tomlText string, environ []string, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("mlbox", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	RegisterFlags(fs)
	if tomlText != "" {
		p := filepath.Join(t.TempDir(), "mlbox.toml")
		if err := os.WriteFile(p, []byte(tomlText), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", p}, args...)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse flags %q: %v", args, err)
	}
	return LoadConfig(fs, environ)
}

func TestConfigDefaults(t *testing.T) {
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	want := Config{
		Listen:  "127.0.0.1:5000",
		DataDir: "./mlbox-data",
		Log:     LogConfig{Level: "info", Format: "text"},
		HTTP: HTTPConfig{ReadHeaderTimeout: 10 * time.Second, ReadBodyTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, ShutdownTimeout: 30 * time.Second,
			MaxRequestBytes: 16777216, MaxConnsPerClient: 256, AuthMaxFailures: 10, AuthFailureWindow: time.Minute, AuthLockout: time.Minute,
			CORSAllowedOrigins: []string{}},
		Store:     StoreConfig{OpenTimeout: 5 * time.Second, MaxBatch: 512, MetricLog: true},
		Artifacts: ArtifactsConfig{Backend: "local", S3: S3Config{Secure: true, Timeout: 10 * time.Second}},
		Webhooks:  DefaultWebhookConfig(),
		Scheduler: scheduler.DefaultConfig(),
		Serve:     DefaultServeConfig(),
		Auth: AuthConfig{AdminUsername: "admin", DefaultPermission: "READ", SessionLifetime: 7 * 24 * time.Hour, Proxy: ProxyConfig{TrustedCIDRs: []string{}, AdminGroups: []string{},
			UserHeader: "X-Forwarded-User", EmailHeader: "X-Forwarded-Email", GroupsHeader: "X-Forwarded-Groups"}},
	}
	if !reflect.DeepEqual(def, want) {
		t.Fatalf("DefaultConfig() = %+v\nwant %+v", def, want)
	}
	for name, load := range map[string]func() (Config, error){
		"nil flagset":  func() (Config, error) { return LoadConfig(nil, nil) },
		"no flags set": func() (Config, error) { return cfgTestLoad(t, "", nil) },
		"unrelated env": func() (Config, error) {
			return cfgTestLoad(t, "", []string{"HOME=/root", "PATH=/bin", "MLBOXFOO=1", "mlbox_listen=x"})
		},
		"unregistered fs":  func() (Config, error) { return LoadConfig(flag.NewFlagSet("x", flag.ContinueOnError), nil) },
		"empty config env": func() (Config, error) { return cfgTestLoad(t, "", []string{"MLBOX_CONFIG="}) },
	} {
		got, err := load()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v\nwant %+v", name, got, want)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	const fileTOML = `
listen = "127.0.0.1:6000"
data_dir = "/from/toml"
[log]
level = "warn"
format = "json"
[store]
max_batch = 100
[artifacts.s3]
secure = false
`
	scenarios := []struct {
		name    string
		toml    string
		env     []string
		args    []string
		check   func(c Config) bool
		explain string
	}{
		{
			name: "toml overrides defaults, untouched keys keep defaults",
			toml: fileTOML,
			check: func(c Config) bool {
				return c.Listen == "127.0.0.1:6000" && c.DataDir == "/from/toml" && c.Log.Level == "warn" &&
					c.Log.Format == "json" && c.Store.MaxBatch == 100 && !c.Artifacts.S3.Secure &&
					reflect.DeepEqual(c.HTTP, DefaultConfig().HTTP) && c.Store.OpenTimeout == 5*time.Second
			},
		},
		{
			name: "env overrides toml",
			toml: fileTOML,
			env: []string{
				"MLBOX_LISTEN=127.0.0.1:7000", "MLBOX_LOG_LEVEL=error", "MLBOX_STORE_MAX_BATCH=7",
				"MLBOX_ARTIFACTS_S3_SECURE=true", "MLBOX_HTTP_IDLE_TIMEOUT=15s", "MLBOX_HTTP_MAX_REQUEST_BYTES=1024",
			},
			check: func(c Config) bool {
				return c.Listen == "127.0.0.1:7000" && c.Log.Level == "error" && c.Store.MaxBatch == 7 &&
					c.Artifacts.S3.Secure && c.HTTP.IdleTimeout == 15*time.Second && c.HTTP.MaxRequestBytes == 1024 &&
					c.DataDir == "/from/toml" && c.Log.Format == "json"
			},
		},
		{
			name: "flags override env",
			toml: fileTOML,
			env:  []string{"MLBOX_LISTEN=127.0.0.1:7000", "MLBOX_DATA_DIR=/from/env", "MLBOX_LOG_LEVEL=error"},
			args: []string{"--listen", "127.0.0.1:8000", "-data-dir=/from/flag", "--log-format", "text"},
			check: func(c Config) bool {
				return c.Listen == "127.0.0.1:8000" && c.DataDir == "/from/flag" && c.Log.Format == "text" &&
					c.Log.Level == "error"
			},
		},
		{
			name: "a flag that was not set does not override toml or env",
			toml: fileTOML,
			env:  []string{"MLBOX_DATA_DIR=/from/env"},
			args: []string{"--log-level", "debug"},
			check: func(c Config) bool {
				return c.Listen == "127.0.0.1:6000" && c.DataDir == "/from/env" && c.Log.Level == "debug" &&
					c.Log.Format == "json"
			},
		},
		{
			name: "a flag set to its default value still overrides",
			toml: fileTOML,
			args: []string{"--listen", "127.0.0.1:5000"},
			check: func(c Config) bool {
				return c.Listen == "127.0.0.1:5000" && c.DataDir == "/from/toml"
			},
		},
		{
			name: "MLBOX_CONFIG names the file when --config is absent",
			env:  []string{"MLBOX_CONFIG=" + cfgTestWrite(t, fileTOML)},
			check: func(c Config) bool {
				return c.Listen == "127.0.0.1:6000" && c.Log.Level == "warn"
			},
		},
		{
			name: "--config wins over MLBOX_CONFIG",
			toml: fileTOML,
			env:  []string{"MLBOX_CONFIG=/does/not/exist.toml"},
			check: func(c Config) bool {
				return c.Listen == "127.0.0.1:6000"
			},
		},
		{
			name: "env strings convert to every type; allow-listed variables are ignored",
			env: []string{
				"MLBOX_ARTIFACTS_BACKEND=s3", "MLBOX_ARTIFACTS_S3_ENDPOINT=127.0.0.1:9000",
				"MLBOX_ARTIFACTS_S3_BUCKET=mlbox", "MLBOX_ARTIFACTS_S3_ACCESS_KEY=minioadmin",
				"MLBOX_ARTIFACTS_S3_SECRET_KEY=minio=admin", "MLBOX_ARTIFACTS_S3_SECURE=0",
				"MLBOX_ARTIFACTS_S3_CREATE_BUCKET=true", "MLBOX_ARTIFACTS_S3_TIMEOUT=1m30s",
				"MLBOX_STORE_OPEN_TIMEOUT= 250ms ", "MLBOX_ARTIFACTS_ROOT=",
				"MLBOX_BIN=/tmp/mlbox", "MLBOX_MINIO_BIN=/usr/bin/minio", "MLBOX_CACHE=/tmp/c",
				"MLBOX_REQUIRE_MINIO=1", "MLBOX_REQUIRE_TMPFS=1", "MLBOX_BENCH_MODELS=x", "MLBOX_COMPAT_TARGET=mlflow", "MLBOX_TEST_ANYTHING=x",
			},
			check: func(c Config) bool {
				s3 := c.Artifacts.S3
				return c.Artifacts.Backend == "s3" && s3.Endpoint == "127.0.0.1:9000" && s3.Bucket == "mlbox" &&
					s3.AccessKey == "minioadmin" && s3.SecretKey == "minio=admin" && !s3.Secure && s3.CreateBucket &&
					s3.Timeout == 90*time.Second && c.Store.OpenTimeout == 250*time.Millisecond
			},
		},
		{
			name: "later duplicate env entry wins",
			env:  []string{"MLBOX_LOG_LEVEL=debug", "MLBOX_LOG_LEVEL=warn"},
			check: func(c Config) bool {
				return c.Log.Level == "warn"
			},
		},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			c, err := cfgTestLoad(t, s.toml, s.env, s.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !s.check(c) {
				t.Fatalf("unexpected config: %+v", c)
			}
		})
	}
}

func cfgTestWrite(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mlbox.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFixtures loads each testdata/config/*.toml through LoadConfig.
// good_*.toml must load; the masked effective config is compared with
// good_*.golden. bad_*.toml must fail with exactly the text in bad_*.err.
func TestConfigFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "config", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range files {
		base := strings.TrimSuffix(filepath.Base(path), ".toml")
		t.Run(base, func(t *testing.T) {
			fs := flag.NewFlagSet("mlbox", flag.ContinueOnError)
			RegisterFlags(fs)
			if err := fs.Parse([]string{"--config", filepath.ToSlash(path)}); err != nil {
				t.Fatal(err)
			}
			c, err := LoadConfig(fs, nil)
			var got []byte
			var golden string
			switch {
			case strings.HasPrefix(base, "good_"):
				if err != nil {
					t.Fatalf("want success, got:\n%v", err)
				}
				got, _ = c.Masked().MarshalTOML()
				golden = strings.TrimSuffix(path, ".toml") + ".golden"
			case strings.HasPrefix(base, "bad_"):
				if err == nil {
					t.Fatalf("want an error, got config %+v", c)
				}
				if !errors.Is(err, ErrInvalidConfig) {
					t.Errorf("error does not match ErrInvalidConfig: %v", err)
				}
				got = []byte(err.Error() + "\n")
				golden = strings.TrimSuffix(path, ".toml") + ".err"
			default:
				t.Fatalf("fixture name must start with good_ or bad_")
			}
			if *cfgUpdateGolden {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update-config-golden to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("output differs from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestConfigEnvAndFlagErrors(t *testing.T) {
	scenarios := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{
			name: "typo in variable name",
			env:  []string{"MLBOX_DATADIR=/x"},
			want: "environment: unknown variable MLBOX_DATADIR (did you mean MLBOX_DATA_DIR?)",
		},
		{
			name: "variable names are upper case",
			env:  []string{"MLBOX_Log_Level=debug"},
			want: "environment: unknown variable MLBOX_Log_Level (did you mean MLBOX_LOG_LEVEL?)",
		},
		{
			name: "unknown variable far from any key",
			env:  []string{"MLBOX_WEBHOOKS_QUEUE=1"},
			want: "environment: unknown variable MLBOX_WEBHOOKS_QUEUE",
		},
		{
			name: "a table is not a variable",
			env:  []string{"MLBOX_ARTIFACTS_S3=x"},
			want: "environment: unknown variable MLBOX_ARTIFACTS_S3",
		},
		{
			name: "bad bool",
			env:  []string{"MLBOX_ARTIFACTS_S3_SECURE=yes"},
			want: `environment: MLBOX_ARTIFACTS_S3_SECURE: artifacts.s3.secure: must be true or false (got "yes")`,
		},
		{
			name: "bad int",
			env:  []string{"MLBOX_STORE_MAX_BATCH=lots"},
			want: `environment: MLBOX_STORE_MAX_BATCH: store.max_batch: must be an integer (got "lots")`,
		},
		{
			name: "int overflow",
			env:  []string{"MLBOX_HTTP_MAX_REQUEST_BYTES=99999999999999999999"},
			want: `environment: MLBOX_HTTP_MAX_REQUEST_BYTES: http.max_request_bytes: must be an integer (got "99999999999999999999")`,
		},
		{
			name: "bad duration",
			env:  []string{"MLBOX_HTTP_SHUTDOWN_TIMEOUT=30"},
			want: `environment: MLBOX_HTTP_SHUTDOWN_TIMEOUT: http.shutdown_timeout: must be a duration such as "10s" or "1m30s" (got "30")`,
		},
		{
			name: "value converts but does not validate",
			env:  []string{"MLBOX_STORE_MAX_BATCH=0", "MLBOX_LOG_LEVEL=INFO"},
			want: "log.level: must be one of debug, info, warn, error (got \"INFO\")\nstore.max_batch: must be between 1 and 100000 (got 0)",
		},
		{
			name: "empty value is a value",
			env:  []string{"MLBOX_DATA_DIR="},
			want: "data_dir: must not be empty",
		},
		{
			name: "several problems are all reported",
			env:  []string{"MLBOX_LISTEN_ADDR=x", "MLBOX_STORE_OPEN_TIMEOUT=soon"},
			args: []string{"--log-level", "verbose"},
			want: "environment: unknown variable MLBOX_LISTEN_ADDR\n" +
				`environment: MLBOX_STORE_OPEN_TIMEOUT: store.open_timeout: must be a duration such as "10s" or "1m30s" (got "soon")` + "\n" +
				`log.level: must be one of debug, info, warn, error (got "verbose")`,
		},
		{
			name: "bad flag value",
			args: []string{"--listen", "5000"},
			want: `listen: must be host:port (got "5000")`,
		},
		{
			name: "missing config file",
			args: []string{"--config", "/nonexistent/mlbox.toml"},
			want: "config file: open /nonexistent/mlbox.toml: no such file or directory",
		},
		{
			name: "missing config file from MLBOX_CONFIG",
			env:  []string{"MLBOX_CONFIG=/nonexistent/env.toml"},
			want: "config file: open /nonexistent/env.toml: no such file or directory",
		},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			c, err := cfgTestLoad(t, "", s.env, s.args...)
			if err == nil {
				t.Fatalf("want error %q, got config %+v", s.want, c)
			}
			if err.Error() != s.want {
				t.Fatalf("error:\n%s\nwant:\n%s", err, s.want)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error does not match ErrInvalidConfig")
			}
		})
	}
}

func TestConfigSecretValuesStayOutOfErrors(t *testing.T) {
	const secret = "s3cr3t-value-do-not-print"
	// A secret that is badly typed in TOML, and a partial secret in the env
	// with a valid value while another key fails.
	_, err := cfgTestLoad(t, "[artifacts.s3]\nsecret_key = 12345\n", []string{"MLBOX_ARTIFACTS_S3_ACCESS_KEY=" + secret})
	if err == nil || strings.Contains(err.Error(), "12345") || strings.Contains(err.Error(), secret) {
		t.Fatalf("error leaks a secret or is missing: %v", err)
	}
	if !strings.Contains(err.Error(), "artifacts.s3.secret_key: must be a string (got integer)") {
		t.Fatalf("error does not name the key: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	scenarios := []struct {
		name   string
		mutate func(c *Config)
		want   string // "" means valid
	}{
		{"defaults", func(c *Config) {}, ""},
		{"listen all interfaces", func(c *Config) { c.Listen = ":5000" }, ""},
		{"listen ipv6 port 0", func(c *Config) { c.Listen = "[::1]:0" }, ""},
		{"listen no port", func(c *Config) { c.Listen = "127.0.0.1" }, `listen: must be host:port (got "127.0.0.1")`},
		{"listen named port", func(c *Config) { c.Listen = "localhost:http" }, `listen: port must be a number from 0 to 65535 (got "localhost:http")`},
		{"listen port range", func(c *Config) { c.Listen = "localhost:70000" }, `listen: port must be a number from 0 to 65535 (got "localhost:70000")`},
		{"listen url", func(c *Config) { c.Listen = "http://localhost:5000" }, `listen: must be host:port (got "http://localhost:5000")`},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir: must not be empty"},
		{"log level", func(c *Config) { c.Log.Level = "loud" }, `log.level: must be one of debug, info, warn, error (got "loud")`},
		{"log format", func(c *Config) { c.Log.Format = "yaml" }, `log.format: must be one of text, json (got "yaml")`},
		{"zero read header timeout", func(c *Config) { c.HTTP.ReadHeaderTimeout = 0 }, "http.read_header_timeout: must be a positive duration (got 0s)"},
		{"negative idle timeout", func(c *Config) { c.HTTP.IdleTimeout = -time.Second }, "http.idle_timeout: must be a positive duration (got -1s)"},
		{"zero shutdown timeout", func(c *Config) { c.HTTP.ShutdownTimeout = 0 }, "http.shutdown_timeout: must be a positive duration (got 0s)"},
		{"negative max request bytes", func(c *Config) { c.HTTP.MaxRequestBytes = -1 }, "http.max_request_bytes: must be positive (got -1)"},
		{"zero open timeout", func(c *Config) { c.Store.OpenTimeout = 0 }, "store.open_timeout: must be a positive duration (got 0s)"},
		{"max batch low", func(c *Config) { c.Store.MaxBatch = 0 }, "store.max_batch: must be between 1 and 100000 (got 0)"},
		{"max batch edge", func(c *Config) { c.Store.MaxBatch = 100000 }, ""},
		{"backend", func(c *Config) { c.Artifacts.Backend = "gcs" }, `artifacts.backend: must be one of local, s3 (got "gcs")`},
		{"s3 timeout", func(c *Config) { c.Artifacts.S3.Timeout = 0 }, "artifacts.s3.timeout: must be a positive duration (got 0s)"},
		{"s3 settings ignored for local", func(c *Config) { c.Artifacts.S3.Endpoint = "https://x" }, ""},
		{"s3 ok", cfgTestS3, ""},
		{"s3 anonymous", func(c *Config) { cfgTestS3(c); c.Artifacts.S3.AccessKey, c.Artifacts.S3.SecretKey = "", "" }, ""},
		{"s3 bare host endpoint", func(c *Config) { cfgTestS3(c); c.Artifacts.S3.Endpoint = "s3.amazonaws.com" }, ""},
		{"s3 no endpoint", func(c *Config) { cfgTestS3(c); c.Artifacts.S3.Endpoint = "" }, `artifacts.s3.endpoint: must be set when artifacts.backend is "s3"`},
		{"s3 scheme", func(c *Config) { cfgTestS3(c); c.Artifacts.S3.Endpoint = "http://127.0.0.1:9000" }, `artifacts.s3.endpoint: must be host:port without a scheme; use artifacts.s3.secure to choose TLS (got "http://127.0.0.1:9000")`},
		{"s3 path", func(c *Config) { cfgTestS3(c); c.Artifacts.S3.Endpoint = "127.0.0.1:9000/bucket" }, `artifacts.s3.endpoint: must be host:port (got "127.0.0.1:9000/bucket")`},
		{"s3 no host", func(c *Config) { cfgTestS3(c); c.Artifacts.S3.Endpoint = ":9000" }, `artifacts.s3.endpoint: must be host:port with a host (got ":9000")`},
		{"s3 no bucket", func(c *Config) { cfgTestS3(c); c.Artifacts.S3.Bucket = "" }, `artifacts.s3.bucket: must be set when artifacts.backend is "s3"`},
		{"s3 bucket chars", func(c *Config) { cfgTestS3(c); c.Artifacts.S3.Bucket = "My_Bucket" }, `artifacts.s3.bucket: may only contain lower-case letters, digits, '.' and '-' (got "My_Bucket")`},
		{"s3 bucket short", func(c *Config) { cfgTestS3(c); c.Artifacts.S3.Bucket = "ab" }, `artifacts.s3.bucket: must be 3 to 63 characters (got "ab")`},
		{"s3 bucket edge", func(c *Config) { cfgTestS3(c); c.Artifacts.S3.Bucket = "-abc" }, `artifacts.s3.bucket: must start and end with a letter or digit (got "-abc")`},
		{"s3 secret without access", func(c *Config) { cfgTestS3(c); c.Artifacts.S3.AccessKey = "" }, "artifacts.s3.access_key: must be set when artifacts.s3.secret_key is set"},
		{"s3 access without secret", func(c *Config) { cfgTestS3(c); c.Artifacts.S3.SecretKey = "" }, "artifacts.s3.secret_key: must be set when artifacts.s3.access_key is set"},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			c := DefaultConfig()
			s.mutate(&c)
			err := c.Validate()
			switch {
			case s.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case s.want != "" && (err == nil || err.Error() != s.want):
				t.Fatalf("error:\n%v\nwant:\n%s", err, s.want)
			case err != nil && !errors.Is(err, ErrInvalidConfig):
				t.Fatalf("error does not match ErrInvalidConfig")
			}
		})
	}
}

func cfgTestS3(c *Config) {
	c.Artifacts.Backend = "s3"
	c.Artifacts.S3.Endpoint = "127.0.0.1:9000"
	c.Artifacts.S3.Bucket = "mlbox"
	c.Artifacts.S3.AccessKey = "minioadmin"
	c.Artifacts.S3.SecretKey = "minioadmin"
}

func TestConfigMasked(t *testing.T) {
	scenarios := []struct {
		access, secret         string
		wantAccess, wantSecret string
	}{
		{"", "", "", ""},
		{"minioadmin", "minioadmin", "******", "******"},
		{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AKIA******", "******"},
		{"ÄÖÜßäöüéèêëà", "x", "ÄÖÜß******", "******"},
	}
	for _, s := range scenarios {
		c := DefaultConfig()
		c.Artifacts.S3.AccessKey, c.Artifacts.S3.SecretKey = s.access, s.secret
		m := c.Masked()
		if m.Artifacts.S3.AccessKey != s.wantAccess || m.Artifacts.S3.SecretKey != s.wantSecret {
			t.Errorf("Masked(%q, %q) = %q, %q; want %q, %q", s.access, s.secret,
				m.Artifacts.S3.AccessKey, m.Artifacts.S3.SecretKey, s.wantAccess, s.wantSecret)
		}
		if c.Artifacts.S3.AccessKey != s.access || c.Artifacts.S3.SecretKey != s.secret {
			t.Errorf("Masked modified its receiver")
		}
		m.Artifacts.S3 = c.Artifacts.S3
		if !reflect.DeepEqual(m, c) {
			t.Errorf("Masked changed a field that is not a secret")
		}
	}
	// Every string key whose name suggests a secret must carry a mask tag,
	// so a new "token" or "password" key cannot be printed by accident.
	for _, f := range cfgSchema().leaves {
		if f.mask == "" && f.typ.Kind() == reflect.String &&
			(strings.Contains(f.name, "secret") || strings.Contains(f.name, "password") || strings.Contains(f.name, "token")) {
			t.Errorf("key %s looks secret but has no mask tag", f.key)
		}
	}
}

func TestConfigMarshalRoundTrip(t *testing.T) {
	c := DefaultConfig()
	cfgTestS3(&c)
	c.DataDir = "C:\\data \"quoted\"\ttab\n\x01ü"
	c.HTTP.IdleTimeout = 90*time.Minute + 1500*time.Millisecond
	c.Artifacts.S3.Secure = false
	out, err := c.MarshalTOML()
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfgTestLoad(t, string(out), nil)
	if err != nil {
		t.Fatalf("MarshalTOML output does not load: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip changed the config:\n got %+v\nwant %+v\n%s", got, c, out)
	}
	// The printed form of `mlbox config check` hides the secret.
	masked, _ := c.Masked().MarshalTOML()
	if bytes.Contains(masked, []byte(`secret_key = "minioadmin"`)) || !bytes.Contains(masked, []byte(`secret_key = "******"`)) {
		t.Fatalf("masked output shows the secret:\n%s", masked)
	}
}

// cfgTestExamplePath is the documented example config at the repo root.
const cfgTestExamplePath = "../config.example.toml"

// TestConfigExample keeps config.example.toml in step with Config: it loads,
// it equals the defaults, its key set equals Config's, and every key has a
// comment line right above it.
func TestConfigExample(t *testing.T) {
	fs := flag.NewFlagSet("mlbox", flag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--config", cfgTestExamplePath}); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(fs, nil)
	if err != nil {
		t.Fatalf("example does not load: %v", err)
	}
	if !reflect.DeepEqual(c, DefaultConfig()) {
		t.Errorf("example values differ from DefaultConfig():\n got %+v\nwant %+v", c, DefaultConfig())
	}

	raw, err := os.ReadFile(cfgTestExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := toml.Parser().Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var inExample []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(cfgJoinKey(prefix, k), sub)
				continue
			}
			inExample = append(inExample, cfgJoinKey(prefix, k))
		}
	}
	walk("", m)
	var inStruct []string
	for _, f := range cfgSchema().leaves {
		inStruct = append(inStruct, f.key)
	}
	slices.Sort(inExample)
	slices.Sort(inStruct)
	if !slices.Equal(inExample, inStruct) {
		t.Errorf("keys in config.example.toml differ from Config:\n example: %v\n  struct: %v", inExample, inStruct)
	}

	sc := bufio.NewScanner(bytes.NewReader(raw))
	prev, n := "", 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "[") && !strings.HasPrefix(prev, "#") {
			t.Errorf("config.example.toml:%d: key without a comment line above it: %s", n, line)
		}
		prev = line
	}
}

// TestConfigDocs checks that docs/configuration.md mentions every key, its
// variable, and every allow-listed non-key variable.
func TestConfigDocs(t *testing.T) {
	raw, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, f := range cfgSchema().leaves {
		if !strings.Contains(doc, "`"+f.key+"`") {
			t.Errorf("docs/configuration.md does not document key `%s`", f.key)
		}
		if f.env != "" && !strings.Contains(doc, "`"+f.env+"`") {
			t.Errorf("docs/configuration.md does not document variable `%s`", f.env)
		}
	}
	for _, name := range cfgEnvNotKeys {
		if !strings.Contains(doc, "`"+name) {
			t.Errorf("docs/configuration.md does not list the non-key variable `%s`", name)
		}
	}
	for _, f := range cfgFlags {
		if !strings.Contains(doc, "`--"+f.name) {
			t.Errorf("docs/configuration.md does not document flag `--%s`", f.name)
		}
	}
}

func TestConfigSchema(t *testing.T) {
	s := cfgSchema()
	if len(s.leaves) != 90 {
		t.Errorf("schema has %d keys, want 90 (update this count when adding keys)", len(s.leaves))
	}
	for _, key := range []string{"data_dir", "artifacts.s3.secret_key", "http.max_request_bytes"} {
		if s.leaf(key) == nil {
			t.Errorf("schema misses %s", key)
		}
	}
	if f := s.byEnv["MLBOX_ARTIFACTS_S3_SECRET_KEY"]; f == nil || f.key != "artifacts.s3.secret_key" {
		t.Errorf("MLBOX_ARTIFACTS_S3_SECRET_KEY maps to %v", f)
	}
	if f := s.byEnv["MLBOX_DATA_DIR"]; f == nil || f.key != "data_dir" {
		t.Errorf("MLBOX_DATA_DIR maps to %v", f)
	}
	fs := flag.NewFlagSet("mlbox", flag.ContinueOnError)
	RegisterFlags(fs)
	for _, name := range []string{"config", "listen", "data-dir", "log-level", "log-format"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s is not registered", name)
		}
	}
	if got := fs.Lookup("listen").DefValue; got != "127.0.0.1:5000" {
		t.Errorf("--listen default shown as %q", got)
	}
}

// FuzzLoadConfigTOML feeds arbitrary TOML text through the whole loader. It
// must never panic; a success must validate and survive a MarshalTOML round
// trip unchanged.
func FuzzLoadConfigTOML(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "config", "*.toml"))
	files = append(files, cfgTestExamplePath)
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("listen = \":0\"\n[http]\nidle_timeout = \"1h\"\n"))
	f.Add([]byte("artifacts.s3 = 1"))
	f.Add([]byte("[artifacts]\nbackend = \"s3\"\ns3.endpoint = \"h:1\"\ns3.bucket = \"abc\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := cfgLoad(cfgSources{tomlPath: "fuzz.toml", toml: data})
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error does not match ErrInvalidConfig: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("loaded config does not validate: %v", err)
		}
		out, err := c.MarshalTOML()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := cfgLoad(cfgSources{tomlPath: "roundtrip.toml", toml: out})
		if err != nil {
			t.Fatalf("MarshalTOML output does not load: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, c2)
		}
	})
}
