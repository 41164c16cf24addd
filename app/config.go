package app

// Configuration: one typed Config built from four layers, lowest first:
//
//	built-in defaults (DefaultConfig)
//	< TOML file (--config FILE, or $MLBOX_CONFIG when the flag is absent)
//	< environment (MLBOX_<KEY>, dots and case folded: log.level → MLBOX_LOG_LEVEL)
//	< command-line flags that were actually set
//
// The set of keys is derived by reflection from the koanf tags of Config,
// so adding a key means adding a struct field, its default in DefaultConfig
// and a documented line in config.example.toml (a test keeps the example and
// docs/configuration.md in step with the struct).
//
// Every layer is checked against that key set before it is merged: unknown
// keys (TOML) and unknown MLBOX_ variables are errors, and every value is
// converted to the field's type up front, so no layer can smuggle a wrong
// type past the decoder. Errors name the key (and the variable or flag).

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"mlbox/scheduler"
)

// Config is the effective server configuration. Components receive their own
// sub-struct (Log, HTTP, Store, Artifacts) from the composition root.
//
// Field tags: `koanf` names the key; `mask:"secret"` hides the value in
// Masked, `mask:"partial"` keeps a short prefix visible.
type Config struct {
	Listen    string           `koanf:"listen"`   // default "127.0.0.1:5000"
	DataDir   string           `koanf:"data_dir"` // default "./mlbox-data"
	Log       LogConfig        `koanf:"log"`
	HTTP      HTTPConfig       `koanf:"http"`
	Store     StoreConfig      `koanf:"store"`
	Artifacts ArtifactsConfig  `koanf:"artifacts"`
	Webhooks  WebhookConfig    `koanf:"webhooks"`
	Serve     ServeConfig      `koanf:"serve"`
	Registry  RegistryConfig   `koanf:"registry"`
	Auth      AuthConfig       `koanf:"auth"`
	Scheduler scheduler.Config `koanf:"scheduler"`
}

// LogConfig configures the process logger.
type LogConfig struct {
	Level  string `koanf:"level"`  // debug|info|warn|error; default "info"
	Format string `koanf:"format"` // text|json; default "text"
}

// HTTPConfig configures the HTTP server.
type HTTPConfig struct {
	ReadHeaderTimeout  time.Duration `koanf:"read_header_timeout"`      // default 10s; total time to read a request's headers
	ReadBodyTimeout    time.Duration `koanf:"read_body_timeout"`        // default 30s; a request body that sends nothing for this long is dropped (an idle timeout: long uploads go on while bytes arrive; slowclient.go)
	IdleTimeout        time.Duration `koanf:"idle_timeout"`             // default 120s
	ShutdownTimeout    time.Duration `koanf:"shutdown_timeout"`         // default 30s; how long graceful shutdown waits for in-flight requests
	MaxRequestBytes    int64         `koanf:"max_request_bytes"`        // default 16 MiB; limit for JSON API request bodies (not artifact uploads)
	MaxConnsPerClient  int           `koanf:"max_conns_per_client"`     // default 256; open connections allowed from one client address (IPv6: one /64); more are closed at accept; 0 = no limit
	AuthToken          string        `koanf:"auth_token" mask:"secret"` // default "" (no authentication); when set, every request but the health checks must carry it (auth.go)
	AuthMaxFailures    int           `koanf:"auth_max_failures"`        // default 10; wrong credentials from one client address within auth_failure_window before it is locked out (ratelimit.go); 0 = never
	AuthFailureWindow  time.Duration `koanf:"auth_failure_window"`      // default 1m; window over which auth_max_failures counts
	AuthLockout        time.Duration `koanf:"auth_lockout"`             // default 1m; first lockout; doubled for each further one of the same address, up to 1h
	CORSAllowedOrigins []string      `koanf:"cors_allowed_origins"`     // default []; origins ("https://app.example.com", or "*") allowed to send state-changing requests from a browser (origin.go)
	TLSCertFile        string        `koanf:"tls_cert_file"`            // default "" (plain HTTP); PEM certificate (chain) to serve HTTPS with, TLS 1.2 or newer; reloaded on SIGHUP (tls.go)
	TLSKeyFile         string        `koanf:"tls_key_file"`             // default ""; its PEM private key
}

// AuthConfig configures accounts and permissions (accounts.go, authz.go).
type AuthConfig struct {
	Enabled           bool          `koanf:"enabled"`                      // default false; users, passwords and per-resource permissions, compatible with MLflow's basic-auth app
	AdminUsername     string        `koanf:"admin_username"`               // default "admin"; the admin the first start creates
	AdminPassword     string        `koanf:"admin_password" mask:"secret"` // default ""; that admin's password (12+ characters), needed only while the account does not exist
	DefaultPermission string        `koanf:"default_permission"`           // default "READ"; what users may do with resources nobody granted them anything on
	SessionLifetime   time.Duration `koanf:"session_lifetime"`             // default 168h; how long a UI login lasts (then log in again); logging out ends it at once
	Proxy             ProxyConfig   `koanf:"proxy"`
}

// ProxyConfig configures the trusted-proxy mode (proxyauth.go): an
// authenticating reverse proxy (OAuth2 Proxy, Keycloak's gatekeeper) names
// the user in a header.
type ProxyConfig struct {
	TrustedCIDRs []string `koanf:"trusted_cidrs"` // default []; addresses (CIDRs or IPs) of the proxy; off when empty. From anywhere else the headers are ignored
	UserHeader   string   `koanf:"user_header"`   // default "X-Forwarded-User"; the user name
	EmailHeader  string   `koanf:"email_header"`  // default "X-Forwarded-Email"; the user name when the user header is absent
	GroupsHeader string   `koanf:"groups_header"` // default "X-Forwarded-Groups"; comma-separated groups
	AdminGroups  []string `koanf:"admin_groups"`  // default []; members of any of these groups are admins (users the proxy created follow the groups at every request)
}

// StoreConfig configures the bbolt metadata store.
type StoreConfig struct {
	OpenTimeout time.Duration `koanf:"open_timeout"` // default 5s; how long to wait for the bbolt file lock
	MaxBatch    int           `koanf:"max_batch"`    // default 512; max writes grouped into one commit (1..100000)
	MetricLog   bool          `koanf:"metric_log"`   // default true; small metric-only writes go to a write-ahead log (one fdatasync per group) and reach mlbox.db within a second
}

// ArtifactsConfig selects and configures the artifact backend.
type ArtifactsConfig struct {
	Backend string   `koanf:"backend"` // "local" (default) or "s3"
	Root    string   `koanf:"root"`    // local backend directory; "" means <data_dir>/artifacts
	S3      S3Config `koanf:"s3"`
}

// S3Config configures the S3 artifact backend (used when Backend is "s3").
type S3Config struct {
	Endpoint     string        `koanf:"endpoint"` // host:port, no scheme
	Bucket       string        `koanf:"bucket"`
	Prefix       string        `koanf:"prefix"`
	AccessKey    string        `koanf:"access_key" mask:"partial"`
	SecretKey    string        `koanf:"secret_key" mask:"secret"`
	Secure       bool          `koanf:"secure"` // default true (TLS)
	Region       string        `koanf:"region"`
	CreateBucket bool          `koanf:"create_bucket"` // default false
	Timeout      time.Duration `koanf:"timeout"`       // default 10s; bound on each S3 metadata request
}

// DefaultConfig returns the built-in defaults, the lowest configuration layer.
func DefaultConfig() Config {
	return Config{
		Listen:  "127.0.0.1:5000",
		DataDir: "./mlbox-data",
		Log:     LogConfig{Level: "info", Format: "text"},
		HTTP: HTTPConfig{
			ReadHeaderTimeout:  10 * time.Second,
			ReadBodyTimeout:    30 * time.Second,
			IdleTimeout:        120 * time.Second,
			ShutdownTimeout:    30 * time.Second,
			MaxRequestBytes:    16 << 20,
			MaxConnsPerClient:  256,
			AuthMaxFailures:    10,
			AuthFailureWindow:  time.Minute,
			AuthLockout:        time.Minute,
			CORSAllowedOrigins: []string{},
		},
		Store: StoreConfig{OpenTimeout: 5 * time.Second, MaxBatch: 512, MetricLog: true},
		Artifacts: ArtifactsConfig{
			Backend: "local",
			S3:      S3Config{Secure: true, Timeout: 10 * time.Second},
		},
		Auth: AuthConfig{AdminUsername: "admin", DefaultPermission: "READ", SessionLifetime: 7 * 24 * time.Hour, Proxy: ProxyConfig{
			TrustedCIDRs: []string{}, AdminGroups: []string{},
			UserHeader: "X-Forwarded-User", EmailHeader: "X-Forwarded-Email", GroupsHeader: "X-Forwarded-Groups"}},
		Webhooks:  DefaultWebhookConfig(),
		Serve:     DefaultServeConfig(),
		Scheduler: scheduler.DefaultConfig(),
	}
}

// ErrInvalidConfig is matched (errors.Is) by every error LoadConfig and
// Validate return, so main can tell a configuration problem from a runtime one.
var ErrInvalidConfig = errors.New("invalid configuration")

// ConfigError lists every problem found while loading or validating a
// configuration, one per line. Each line names the key, and for the
// environment and flags also the variable or flag it came from.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string { return strings.Join(e.Problems, "\n") }

// Is reports ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

func cfgErr(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return &ConfigError{Problems: problems}
}

// EnvPrefix is the prefix of configuration variables: MLBOX_ + the key in
// upper case with dots as underscores.
const EnvPrefix = "MLBOX_"

// envConfigFile names the config file when no --config flag was given.
const envConfigFile = EnvPrefix + "CONFIG"

// cfgEnvNotKeys lists MLBOX_ variables that are not configuration keys and so
// are not reported as unknown: tools and the test harness use them. Entries
// ending in "_" are prefixes. Any other MLBOX_ variable that matches no key is
// an error, so a typo such as MLBOX_DATADIR does not pass silently.
// Keep docs/configuration.md in step.
var cfgEnvNotKeys = []string{
	envConfigFile,
	"MLBOX_BIN",
	"MLBOX_MINIO_BIN",
	"MLBOX_CACHE",
	"MLBOX_REQUIRE_", // MINIO, CHROMIUM, TMPFS
	"MLBOX_BENCH_",
	"MLBOX_CHROMIUM",
	"MLBOX_UI_URL",
	"MLBOX_COMPAT_",
	"MLBOX_TEST_",
	"MLBOX_JOB_",
}

func cfgEnvIgnored(name string) bool {
	for _, a := range cfgEnvNotKeys {
		if name == a || strings.HasSuffix(a, "_") && strings.HasPrefix(name, a) {
			return true
		}
	}
	return false
}

// cfgFlags maps command-line flags (dashes) to configuration keys. A flag for
// a new key is one more line here. A `quoted` word in the usage names the
// flag's argument in -help output.
var cfgFlags = []struct{ name, key, usage string }{
	{"listen", "listen", "`host:port` to listen on"},
	{"data-dir", "data_dir", "`directory` holding mlbox.db and local artifacts"},
	{"log-level", "log.level", "log `level`: debug, info, warn or error"},
	{"log-format", "log.format", "log `format`: text or json"},
}

// RegisterFlags defines the server flags on fs: --config (path of the TOML
// file), --listen, --data-dir, --log-level, --log-format. Flag names use
// dashes; they map to the keys listen, data_dir, log.level, log.format. The
// defaults shown in usage are the built-in ones; a flag overrides the lower
// layers only when it is set on the command line.
func RegisterFlags(fs *flag.FlagSet) {
	fs.String("config", "", "TOML configuration `file` (if not given: $"+envConfigFile+")")
	defaults := cfgFlatten(DefaultConfig())
	for _, f := range cfgFlags {
		fld := cfgSchema().leaf(f.key)
		if fld == nil {
			panic("app: flag --" + f.name + " names unknown config key " + f.key)
		}
		v := &cfgFlagValue{val: cfgFormatPlain(defaults[f.key]), isBool: fld.typ.Kind() == reflect.Bool}
		fs.Var(v, f.name, f.usage)
	}
}

// cfgFlagValue holds the raw text of a config flag; LoadConfig converts it so
// that the error names the key like the other layers do.
type cfgFlagValue struct {
	val    string
	isBool bool
}

func (v *cfgFlagValue) String() string     { return v.val }
func (v *cfgFlagValue) Set(s string) error { v.val = s; return nil }
func (v *cfgFlagValue) IsBoolFlag() bool   { return v.isBool }

// LoadConfig builds the effective config: defaults < TOML file at the path
// given by fs's --config flag (or $MLBOX_CONFIG when the flag is empty)
// < environment entries (environ, like os.Environ()) with prefix MLBOX_
// < flags that were set on fs (fs already parsed; nil means no flags).
// It returns a validated config, or an error (matching ErrInvalidConfig)
// that names each offending key.
func LoadConfig(fs *flag.FlagSet, environ []string) (Config, error) {
	src := cfgSources{environ: environ}
	if fs != nil {
		if f := fs.Lookup("config"); f != nil {
			src.tomlPath = f.Value.String()
		}
		fs.Visit(func(f *flag.Flag) {
			for _, cf := range cfgFlags {
				if cf.name == f.Name {
					src.flags = append(src.flags, cfgFlagSet{name: f.Name, key: cf.key, val: f.Value.String()})
				}
			}
		})
	}
	if src.tomlPath == "" {
		src.tomlPath = cfgLookupEnv(environ, envConfigFile)
	}
	if src.tomlPath != "" {
		b, err := file.Provider(src.tomlPath).ReadBytes()
		if err != nil {
			return Config{}, cfgErr([]string{"config file: " + err.Error()})
		}
		src.toml = b
	}
	return cfgLoad(src)
}

type cfgSources struct {
	tomlPath string // for messages; toml holds the content
	toml     []byte
	environ  []string
	flags    []cfgFlagSet
}

type cfgFlagSet struct{ name, key, val string }

func cfgLookupEnv(environ []string, name string) string {
	v := ""
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// cfgLoad merges the layers with koanf, decodes into Config and validates.
func cfgLoad(src cfgSources) (Config, error) {
	k := koanf.New(".")
	var problems []string
	load := func(p koanf.Provider) {
		if err := k.Load(p, nil); err != nil {
			problems = append(problems, err.Error())
		}
	}

	load(confmap.Provider(cfgFlatten(DefaultConfig()), "."))

	if src.toml != nil {
		flat, probs := cfgParseTOML(src.toml)
		for _, p := range probs {
			problems = append(problems, src.tomlPath+": "+p)
		}
		if flat != nil {
			load(confmap.Provider(flat, "."))
		}
	}

	schema := cfgSchema()
	load(env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return src.environ },
		TransformFunc: func(name, val string) (string, any) {
			fld := schema.byEnv[name]
			if fld == nil {
				if !cfgEnvIgnored(name) {
					problems = append(problems, "environment: unknown variable "+name+cfgSuggest(name, schema.envNames))
				}
				return "", nil
			}
			v, err := fld.fromString(val)
			if err != nil {
				problems = append(problems, "environment: "+name+": "+fld.key+": "+err.Error())
				return "", nil
			}
			return fld.key, v
		},
	}))

	flagFlat := map[string]any{}
	for _, f := range src.flags {
		fld := schema.leaf(f.key)
		v, err := fld.fromString(f.val)
		if err != nil {
			problems = append(problems, "flag --"+f.name+": "+f.key+": "+err.Error())
			continue
		}
		flagFlat[f.key] = v
	}
	load(confmap.Provider(flagFlat, "."))

	// Values that failed to convert were left out above, so the rest can
	// still be decoded and validated: one run reports every problem.
	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		// Unreachable while every value is converted above; kept as a guard.
		problems = append(problems, "decode: "+err.Error())
	} else if err := c.Validate(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			problems = append(problems, ce.Problems...)
		}
	}
	if len(problems) > 0 {
		return Config{}, cfgErr(problems)
	}
	return c, nil
}

// cfgParseTOML parses TOML text and checks it against the schema: it returns
// the flat key → typed value map and one problem per unknown key or bad value.
func cfgParseTOML(b []byte) (map[string]any, []string) {
	m, err := toml.Parser().Unmarshal(b)
	if err != nil {
		var pe interface{ Position() (int, int) }
		if errors.As(err, &pe) {
			row, col := pe.Position()
			return nil, []string{fmt.Sprintf("line %d, column %d: %v", row, col, err)}
		}
		return nil, []string{err.Error()}
	}
	flat := map[string]any{}
	var problems []string
	cfgWalkTOML(cfgSchema().root, m, flat, &problems)
	return flat, problems
}

func cfgWalkTOML(table *cfgField, m map[string]any, flat map[string]any, problems *[]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, name := range keys {
		v := m[name]
		fld := table.child(name)
		if fld == nil {
			key := cfgJoinKey(table.key, name)
			*problems = append(*problems, fmt.Sprintf("unknown key %q%s", key, cfgSuggest(key, cfgSchema().keys)))
			continue
		}
		if fld.children != nil {
			sub, ok := v.(map[string]any)
			if !ok {
				*problems = append(*problems, fld.key+": must be a table (got "+cfgDescribe(v, false)+")")
				continue
			}
			cfgWalkTOML(fld, sub, flat, problems)
			continue
		}
		cv, err := fld.fromTOML(v)
		if err != nil {
			*problems = append(*problems, fld.key+": "+err.Error())
			continue
		}
		flat[fld.key] = cv
	}
}

func cfgJoinKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// Validate checks every value; the error (matching ErrInvalidConfig) has one
// line per problem, each naming its key, e.g.
// `log.level: must be one of debug, info, warn, error (got "loud")`.
func (c Config) Validate() error {
	var p []string
	add := func(key, format string, args ...any) { p = append(p, key+": "+fmt.Sprintf(format, args...)) }
	oneOf := func(key, v string, allowed ...string) {
		if !slices.Contains(allowed, v) {
			add(key, "must be one of %s (got %q)", strings.Join(allowed, ", "), v)
		}
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			add(key, "must be a positive duration (got %s)", d)
		}
	}

	if msg := cfgCheckHostPort(c.Listen, true); msg != "" {
		add("listen", "%s (got %q)", msg, c.Listen)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		add("data_dir", "must not be empty")
	}
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("auth.default_permission", c.Auth.DefaultPermission, "READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS")
	if c.Auth.Enabled && strings.TrimSpace(c.Auth.AdminUsername) == "" {
		add("auth.admin_username", "must not be empty when auth.enabled is true")
	}
	if c.Auth.AdminPassword != "" && len(c.Auth.AdminPassword) < minPasswordLen {
		add("auth.admin_password", "must be at least %d characters", minPasswordLen)
	}
	oneOf("log.format", c.Log.Format, "text", "json")
	positive("auth.session_lifetime", c.Auth.SessionLifetime)
	if px := c.Auth.Proxy; len(px.TrustedCIDRs) > 0 {
		if !c.Auth.Enabled {
			add("auth.proxy.trusted_cidrs", "needs auth.enabled = true (the proxy names users of mlbox's accounts)")
		}
		if _, err := parseCIDRs(px.TrustedCIDRs); err != nil {
			add("auth.proxy.trusted_cidrs", "%v", err)
		}
		for _, h := range [][2]string{{"auth.proxy.user_header", px.UserHeader}, {"auth.proxy.email_header", px.EmailHeader}, {"auth.proxy.groups_header", px.GroupsHeader}} {
			if h[1] != "" && !validHeaderName(h[1]) {
				add(h[0], "is not a header name (got %q)", h[1])
			}
		}
		if px.UserHeader == "" && px.EmailHeader == "" {
			add("auth.proxy.user_header", "and auth.proxy.email_header must not both be empty")
		}
	}

	positive("http.read_header_timeout", c.HTTP.ReadHeaderTimeout)
	positive("http.read_body_timeout", c.HTTP.ReadBodyTimeout)
	positive("http.idle_timeout", c.HTTP.IdleTimeout)
	positive("http.shutdown_timeout", c.HTTP.ShutdownTimeout)
	if (c.HTTP.TLSCertFile == "") != (c.HTTP.TLSKeyFile == "") {
		add("http.tls_cert_file", "and http.tls_key_file go together: set both or neither")
	}
	if n := len(c.HTTP.AuthToken); n > 0 && n < minAuthTokenLen {
		add("http.auth_token", "must be at least %d characters (got %d)", minAuthTokenLen, n)
	}
	if c.HTTP.MaxRequestBytes <= 0 {
		add("http.max_request_bytes", "must be positive (got %d)", c.HTTP.MaxRequestBytes)
	}
	if c.HTTP.MaxConnsPerClient < 0 {
		add("http.max_conns_per_client", "must not be negative (got %d)", c.HTTP.MaxConnsPerClient)
	}
	if c.HTTP.AuthMaxFailures < 0 {
		add("http.auth_max_failures", "must not be negative (got %d)", c.HTTP.AuthMaxFailures)
	}
	positive("http.auth_failure_window", c.HTTP.AuthFailureWindow)
	positive("http.auth_lockout", c.HTTP.AuthLockout)
	for _, o := range c.HTTP.CORSAllowedOrigins {
		if _, err := normalizeOrigin(o); err != nil && o != "*" {
			add("http.cors_allowed_origins", "%q: %v", o, err)
		}
	}

	positive("store.open_timeout", c.Store.OpenTimeout)
	if c.Store.MaxBatch < 1 || c.Store.MaxBatch > 100000 {
		add("store.max_batch", "must be between 1 and 100000 (got %d)", c.Store.MaxBatch)
	}

	oneOf("artifacts.backend", c.Artifacts.Backend, "local", "s3")
	s3 := c.Artifacts.S3
	positive("artifacts.s3.timeout", s3.Timeout)
	if c.Artifacts.Backend == "s3" {
		switch {
		case s3.Endpoint == "":
			add("artifacts.s3.endpoint", "must be set when artifacts.backend is \"s3\"")
		case strings.Contains(s3.Endpoint, "://"):
			add("artifacts.s3.endpoint", "must be host:port without a scheme; use artifacts.s3.secure to choose TLS (got %q)", s3.Endpoint)
		default:
			if msg := cfgCheckHostPort(s3.Endpoint, false); msg != "" {
				add("artifacts.s3.endpoint", "%s (got %q)", msg, s3.Endpoint)
			}
		}
		if s3.Bucket == "" {
			add("artifacts.s3.bucket", "must be set when artifacts.backend is \"s3\"")
		} else if msg := cfgCheckBucket(s3.Bucket); msg != "" {
			add("artifacts.s3.bucket", "%s (got %q)", msg, s3.Bucket)
		}
		if (s3.AccessKey == "") != (s3.SecretKey == "") {
			if s3.AccessKey == "" {
				add("artifacts.s3.access_key", "must be set when artifacts.s3.secret_key is set")
			} else {
				add("artifacts.s3.secret_key", "must be set when artifacts.s3.access_key is set")
			}
		}
	}
	p = append(p, c.Webhooks.Validate()...)
	p = append(p, c.Serve.Validate()...)
	p = append(p, c.Registry.Gates.Validate()...)
	p = append(p, c.Scheduler.Validate()...)
	return cfgErr(p)
}

// cfgCheckHostPort returns "" when s is host:port with a numeric port, else
// the problem. With needPort (a listen address) the host may be empty
// (":5000", all interfaces); without it (a remote endpoint) the host is
// required and the port may be left out.
func cfgCheckHostPort(s string, needPort bool) string {
	if strings.ContainsAny(s, "/ \t") {
		return "must be host:port"
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if !needPort && s != "" && !strings.Contains(s, ":") {
			return "" // bare host name, default port
		}
		return "must be host:port"
	}
	if !needPort && host == "" {
		return "must be host:port with a host"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "port must be a number from 0 to 65535"
	}
	return ""
}

// cfgCheckBucket applies the S3 bucket naming rules that matter in practice.
func cfgCheckBucket(b string) string {
	if len(b) < 3 || len(b) > 63 {
		return "must be 3 to 63 characters"
	}
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '-') {
			return "may only contain lower-case letters, digits, '.' and '-'"
		}
	}
	if first, last := b[0], b[len(b)-1]; first == '.' || first == '-' || last == '.' || last == '-' {
		return "must start and end with a letter or digit"
	}
	return ""
}

// cfgMasked is what Masked puts in place of a secret.
const cfgMasked = "******"

// Masked returns a copy with secrets replaced, for printing and logging:
// fields tagged mask:"secret" (artifacts.s3.secret_key) become "******" when
// non-empty; fields tagged mask:"partial" (artifacts.s3.access_key) keep
// their first 4 characters when at least 12 long ("AKIA******"), else
// become "******". Empty values stay empty, so "not set" remains visible.
func (c Config) Masked() Config {
	v := reflect.ValueOf(&c).Elem()
	for _, f := range cfgSchema().leaves {
		if f.tableArray {
			fv := v.FieldByIndex(f.index)
			if m := fv.MethodByName("Masked"); m.IsValid() && m.Type().NumIn() == 0 && m.Type().NumOut() == 1 && m.Type().Out(0) == f.typ {
				fv.Set(m.Call(nil)[0])
			}
			continue
		}
		if f.mask == "" {
			continue
		}
		fv := v.FieldByIndex(f.index)
		s := fv.String()
		if s == "" {
			continue
		}
		if f.mask == "partial" && utf8.RuneCountInString(s) >= 12 {
			fv.SetString(string([]rune(s)[:4]) + cfgMasked)
		} else {
			fv.SetString(cfgMasked)
		}
	}
	return c
}

// MarshalTOML renders the config as TOML in struct order (durations as
// strings such as "1m30s"); loading the output gives back the same Config.
// It does not mask: call Masked first to print it.
func (c Config) MarshalTOML() ([]byte, error) {
	var b strings.Builder
	flat := cfgFlatten(c)
	var write func(t *cfgField)
	write = func(t *cfgField) {
		wroteHeader := t.key == ""
		for _, f := range t.children {
			if f.children != nil {
				continue
			}
			if !wroteHeader {
				if b.Len() > 0 {
					b.WriteByte('\n')
				}
				b.WriteString("[" + t.key + "]\n")
				wroteHeader = true
			}
			b.WriteString(f.name + " = " + cfgFormatTOML(flat[f.key]) + "\n")
		}
		for _, f := range t.children {
			if f.children != nil {
				write(f)
			}
		}
	}
	write(cfgSchema().root)
	return []byte(b.String()), nil
}

// ---- schema: the key set, derived from Config's koanf tags ----

type cfgField struct {
	// tableArray: a value read from an array of tables ([[scheduler.jobs]])
	// through its DecodeTOML method; it has no variable and no flag.
	tableArray bool
	key        string       // full dotted key, "" for the root
	name       string       // last key segment (the koanf tag)
	env        string       // MLBOX_… variable (leaves only)
	index      []int        // reflect field index path from Config
	typ        reflect.Type // leaf type
	mask       string       // "", "secret" or "partial"
	children   []*cfgField  // non-nil for tables
}

func (f *cfgField) child(name string) *cfgField {
	for _, c := range f.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

type cfgSchemaT struct {
	root     *cfgField
	leaves   []*cfgField // in struct order
	byKey    map[string]*cfgField
	byEnv    map[string]*cfgField
	keys     []string // every key, tables included, for suggestions
	envNames []string
}

func (s *cfgSchemaT) leaf(key string) *cfgField {
	if f := s.byKey[key]; f != nil && f.children == nil {
		return f
	}
	return nil
}

var cfgDurationType = reflect.TypeFor[time.Duration]()

// cfgTableArray is implemented (on the pointer) by values read from an array
// of tables, such as scheduler.Jobs. EncodeTOML renders the value for
// MarshalTOML; an optional Masked method returning the same type hides
// secrets in it.
type cfgTableArray interface {
	DecodeTOML(v any) error
	EncodeTOML() string
}

var cfgTableArrayType = reflect.TypeFor[cfgTableArray]()

var cfgSchema = sync.OnceValue(func() *cfgSchemaT {
	s := &cfgSchemaT{byKey: map[string]*cfgField{}, byEnv: map[string]*cfgField{}}
	s.root = &cfgField{children: []*cfgField{}}
	var build func(parent *cfgField, t reflect.Type, index []int)
	build = func(parent *cfgField, t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			name := sf.Tag.Get("koanf")
			if !sf.IsExported() || name == "" || name == "-" || strings.ContainsAny(name, ". ") {
				panic(fmt.Sprintf("app: config field %s.%s needs a koanf tag without dots", t.Name(), sf.Name))
			}
			f := &cfgField{
				key:   cfgJoinKey(parent.key, name),
				name:  name,
				index: append(slices.Clip(index), i),
				mask:  sf.Tag.Get("mask"),
			}
			parent.children = append(parent.children, f)
			s.byKey[f.key] = f
			s.keys = append(s.keys, f.key)
			if sf.Type.Kind() == reflect.Struct && sf.Type != cfgDurationType {
				f.children = []*cfgField{}
				build(f, sf.Type, f.index)
				continue
			}
			f.typ = sf.Type
			if reflect.PointerTo(f.typ).Implements(cfgTableArrayType) {
				f.tableArray = true
				s.leaves = append(s.leaves, f)
				continue
			}
			if !cfgSupported(f.typ) {
				panic(fmt.Sprintf("app: config key %s has unsupported type %s", f.key, f.typ))
			}
			if f.mask != "" && (f.mask != "secret" && f.mask != "partial" || f.typ.Kind() != reflect.String) {
				panic(fmt.Sprintf("app: config key %s: bad mask tag %q", f.key, f.mask))
			}
			f.env = EnvPrefix + strings.ToUpper(strings.ReplaceAll(f.key, ".", "_"))
			if other := s.byEnv[f.env]; other != nil {
				panic(fmt.Sprintf("app: config keys %s and %s share the variable %s", other.key, f.key, f.env))
			}
			if cfgEnvIgnored(f.env) {
				panic(fmt.Sprintf("app: config key %s maps to %s, which is on the not-a-key list", f.key, f.env))
			}
			s.byEnv[f.env] = f
			s.envNames = append(s.envNames, f.env)
			s.leaves = append(s.leaves, f)
		}
	}
	build(s.root, reflect.TypeFor[Config](), nil)
	return s
})

func cfgSupported(t reflect.Type) bool {
	if t == cfgDurationType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

// cfgFlatten returns key → value for every leaf of c, with Go types as in
// the struct (time.Duration stays a Duration).
func cfgFlatten(c Config) map[string]any {
	v := reflect.ValueOf(c)
	out := make(map[string]any, len(cfgSchema().leaves))
	for _, f := range cfgSchema().leaves {
		fv := v.FieldByIndex(f.index)
		if f.tableArray {
			out[f.key] = fv.Interface()
			continue
		}
		if fv.Kind() == reflect.Slice {
			out[f.key] = slices.Clone(fv.Interface().([]string))
			continue
		}
		out[f.key] = fv.Interface()
	}
	return out
}

// ---- value conversion ----

// fromTOML converts a parsed TOML value to the field's Go type. TOML has
// types, so they must match: 5 is not a bool, "512" is not an integer.
// Durations are strings ("10s"), since a bare number has no unit.
func (f *cfgField) fromTOML(v any) (any, error) {
	secret := f.mask != ""
	bad := func(want string) error {
		return fmt.Errorf("must be %s (got %s)", want, cfgDescribe(v, secret))
	}
	if f.tableArray {
		p := reflect.New(f.typ)
		if err := p.Interface().(cfgTableArray).DecodeTOML(v); err != nil {
			return nil, err
		}
		return p.Elem().Interface(), nil
	}
	if f.typ == cfgDurationType {
		s, ok := v.(string)
		if !ok {
			return nil, bad(`a duration string such as "10s" or "1m30s"`)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, bad(`a duration such as "10s" or "1m30s"`)
		}
		return d, nil
	}
	switch f.typ.Kind() {
	case reflect.String:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, bad("a string")
	case reflect.Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, bad("true or false")
	case reflect.Int, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			return nil, bad("an integer")
		}
		if reflect.Zero(f.typ).OverflowInt(n) {
			return nil, bad("an integer in range")
		}
		return cfgIntOf(f.typ, n), nil
	case reflect.Float64:
		switch n := v.(type) {
		case float64:
			return n, nil
		case int64:
			return float64(n), nil
		}
		return nil, bad("a number")
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return nil, bad("an array of strings")
		}
		out := make([]string, 0, len(arr))
		for _, e := range arr {
			s, ok := e.(string)
			if !ok {
				return nil, bad("an array of strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, bad(f.typ.String())
}

// fromString converts an environment or flag value. Booleans take
// strconv.ParseBool forms (true/false/1/0), lists are comma-separated.
func (f *cfgField) fromString(s string) (any, error) {
	shown := strconv.Quote(s)
	if f.mask != "" {
		shown = "a hidden value"
	}
	bad := func(want string) error { return fmt.Errorf("must be %s (got %s)", want, shown) }
	if f.typ == cfgDurationType {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, bad(`a duration such as "10s" or "1m30s"`)
		}
		return d, nil
	}
	switch f.typ.Kind() {
	case reflect.String:
		return s, nil
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, bad("true or false")
		}
		return b, nil
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, f.typ.Bits())
		if err != nil {
			return nil, bad("an integer")
		}
		return cfgIntOf(f.typ, n), nil
	case reflect.Float64:
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, bad("a number")
		}
		return n, nil
	case reflect.Slice:
		out := []string{}
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		return out, nil
	}
	return nil, bad(f.typ.String())
}

func cfgIntOf(t reflect.Type, n int64) any {
	if t.Kind() == reflect.Int {
		return int(n)
	}
	return n
}

// cfgDescribe names a parsed TOML value's type, with the value unless secret.
func cfgDescribe(v any, secret bool) string {
	var kind, val string
	switch x := v.(type) {
	case string:
		kind, val = "string", strconv.Quote(x)
	case bool:
		kind, val = "boolean", strconv.FormatBool(x)
	case int64:
		kind, val = "integer", strconv.FormatInt(x, 10)
	case float64:
		kind, val = "float", strconv.FormatFloat(x, 'g', -1, 64)
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		kind, val = "date/time", fmt.Sprint(x)
	}
	if secret {
		return kind
	}
	return kind + " " + val
}

// cfgFormatTOML renders a leaf value as a TOML value.
func cfgFormatTOML(v any) string {
	switch x := v.(type) {
	case interface{ EncodeTOML() string }:
		return x.EncodeTOML()
	case string:
		return cfgQuoteTOML(x)
	case time.Duration:
		return cfgQuoteTOML(x.String())
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		switch s {
		case "NaN":
			return "nan"
		case "+Inf":
			return "inf"
		case "-Inf":
			return "-inf"
		}
		if !strings.ContainsAny(s, ".en") {
			s += ".0"
		}
		return s
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = cfgQuoteTOML(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return cfgQuoteTOML(fmt.Sprint(v))
}

// cfgFormatPlain renders a leaf value the way a flag or variable spells it.
func cfgFormatPlain(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []string:
		return strings.Join(x, ",")
	}
	return fmt.Sprint(v)
}

// cfgQuoteTOML writes s as a TOML basic string.
func cfgQuoteTOML(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// cfgSuggest returns ` (did you mean "X"?)` for the closest candidate within
// a small edit distance, or "".
func cfgSuggest(got string, candidates []string) string {
	// Allow about one edit per four characters, at most 3, so short names
	// get no far-fetched suggestion ("port" is not "log").
	best, bestD := "", min(3, max(1, len(got)/4))+1
	for _, c := range candidates {
		if d := cfgEditDistance(strings.ToLower(got), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func cfgEditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30 // not worth it; also bounds the work for fuzzed input
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
