// Command mlbox is the MLflow-compatible appliance: tracking, artifacts,
// registry, serving and scheduling in one binary. See `mlbox help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"mlbox/app"
)

const usage = `mlbox: MLflow-compatible tracking, artifacts, model registry, wasm model serving and
scheduled retention/retraining in one binary.

Usage:
  mlbox server [flags]               run the server (MLflow REST API, artifact proxy, UI)
  mlbox config check [--config F]    validate a config file and print the effective config (secrets masked)
  mlbox models download URI DIR      fetch a registered model version's artifacts (models:/NAME@ALIAS, /STAGE, /VERSION)
  mlbox models log FILE.wasm         log a wasm model in a new run, optionally register it and set an alias
  mlbox models compile MODEL_DIR     compile a logged scikit-learn model to a wasm module (what the server does)
  mlbox models profile data.csv      write a training-data profile (per-feature histograms) for drift
  mlbox models rollback NAME         move an alias (default champion) back to its previous version
  mlbox jobs list|run|history|log    scheduled jobs: list them, run one now, its history and logs
  mlbox retention plan|apply|log     retention policies: dry run, apply, what was deleted
  mlbox backup FILE                  back up a running server (metadata and artifacts) into one checked archive
  mlbox verify ARCHIVE               check a backup archive's checksums and metadata without restoring it
  mlbox restore ARCHIVE --data-dir D restore a backup archive into an empty data directory
  mlbox import --from URL            copy a running MLflow server's history into mlbox (ids kept; resumable)
  mlbox export --to URL              copy mlbox's history into a running MLflow server (resumable)
  mlbox version                      print the version

Server flags (each is also a TOML key and an MLBOX_* environment variable;
precedence: defaults < TOML file < environment < flags):
  --config FILE        TOML config file (see config.example.toml)
  --listen ADDR        listen address (default 127.0.0.1:5000)
  --data-dir DIR       data directory: metadata (mlbox.db) and local artifacts (default ./mlbox-data)
  --log-level LEVEL    debug, info, warn or error (default info)
  --log-format FORMAT  text or json (default text)

Point an unmodified MLflow client at it:
  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python train.py
With MLBOX_HTTP_AUTH_TOKEN (http.auth_token) set on the server, clients and the
mlbox CLI commands send it as MLFLOW_TRACKING_TOKEN.

Documentation: docs/ in the source tree (configuration, operations, registry, webhooks,
serving, wasm-abi, scheduler, performance).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "server":
		return cmdServer(args[1:], stderr)
	case "config":
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprintln(stderr, "usage: mlbox config check [--config FILE] [flags]")
			return 2
		}
		return cmdConfigCheck(args[2:], stdout, stderr)
	case "models":
		return cmdModels(args[1:], stdout, stderr)
	case "jobs":
		return cmdJobs(args[1:], stdout, stderr)
	case "retention":
		return cmdRetention(args[1:], stdout, stderr)
	case "backup":
		return cmdBackup(args[1:], stdout, stderr)
	case "verify":
		return cmdVerify(args[1:], stdout, stderr)
	case "restore":
		return cmdRestore(args[1:], stdout, stderr)
	case "import":
		return cmdImport(args[1:], stdout, stderr)
	case "export":
		return cmdExport(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "mlbox %s (MLflow API %s)\n", app.BuildVersion(), app.MLflowVersion)
		return 0
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "mlbox: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func loadConfig(name string, args []string, stderr io.Writer) (app.Config, bool) {
	fs := flag.NewFlagSet("mlbox "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	app.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return app.Config{}, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mlbox %s: unexpected argument %q\n", name, fs.Arg(0))
		return app.Config{}, false
	}
	cfg, err := app.LoadConfig(fs, os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "mlbox: invalid configuration:\n%v\n", err)
		return app.Config{}, false
	}
	return cfg, true
}

func cmdConfigCheck(args []string, stdout, stderr io.Writer) int {
	cfg, ok := loadConfig("config check", args, stderr)
	if !ok {
		return 1
	}
	b, err := cfg.Masked().MarshalTOML()
	if err != nil {
		fmt.Fprintln(stderr, "mlbox:", err)
		return 1
	}
	fmt.Fprintln(stdout, "# configuration is valid; effective values (secrets masked):")
	stdout.Write(b)
	return 0
}

func newLogger(cfg app.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdServer(args []string, stderr io.Writer) int {
	cfg, ok := loadConfig("server", args, stderr)
	if !ok {
		return 2
	}
	log := newLogger(cfg.Log, stderr)
	// systemd's StateDirectory= hands the data dir over in $STATE_DIRECTORY.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, err := app.New(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.Listen, "err", err)
		a.Close()
		return 1
	}
	// SIGHUP reloads the TLS certificate (systemd's ExecReload); without
	// TLS it is logged and ignored, never fatal.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if !a.TLS() {
				log.Info("SIGHUP: nothing to reload (no TLS certificate configured)")
				continue
			}
			notifySystemd(log, "RELOADING=1")
			_ = a.ReloadTLS() // logs its outcome
			notifySystemd(log, "READY=1")
		}
	}()
	notifySystemd(log, "READY=1")
	serr := a.Serve(ctx, ln)
	notifySystemd(log, "STOPPING=1")
	cerr := a.Close()
	if err := errors.Join(serr, cerr); err != nil {
		log.Error("server stopped with an error", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// notifySystemd sends a state line to $NOTIFY_SOCKET (Type=notify units).
func notifySystemd(log *slog.Logger, state string) {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return
	}
	if strings.HasPrefix(sock, "@") {
		sock = "\x00" + sock[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		log.Warn("sd_notify failed", "err", err)
		return
	}
	defer conn.Close()
	_, _ = conn.Write([]byte(state))
}
