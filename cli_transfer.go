package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"mlbox/internal/transfer"
	"mlbox/internal/units"
)

// mlbox import --from URL: an MLflow server's history into mlbox.
// mlbox export --to URL: mlbox's history into an MLflow server.

const importUsage = `usage: mlbox import --from URL [--tracking-uri URL] [--workers N]

Copies a running MLflow tracking server (its REST API, MLflow 2 or 3) into the
mlbox at --tracking-uri: experiments, runs with their full metric histories,
params, tags, datasets, artifacts, logged models, registered models, versions,
stages, aliases and tags. Run and logged-model ids are kept. Run it again to
continue an interrupted import; what was copied is not copied again.
--dry-run reads everything and writes nothing.
Credentials for --from go in its URL (http://user:password@host:5000); mlbox's
come from MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN (an admin).
`

const exportUsage = `usage: mlbox export --to URL [--tracking-uri URL] [--workers N]

Copies the mlbox at --tracking-uri into a running MLflow tracking server (with
artifact proxying, MLflow's default): the same records as mlbox import, with the
ids the MLflow server assigns. Progress is kept in mlbox: run it again to
continue an interrupted export. Credentials for --to go in its URL.
`

func cmdImport(args []string, stdout, stderr io.Writer) int {
	return cmdTransfer("import", args, stdout, stderr)
}

func cmdExport(args []string, stdout, stderr io.Writer) int {
	return cmdTransfer("export", args, stdout, stderr)
}

func cmdTransfer(name string, args []string, stdout, stderr io.Writer) int {
	fs, uri, _ := cliFlags("mlbox "+name, stderr)
	other := new(string)
	usage := importUsage
	if name == "import" {
		fs.StringVar(other, "from", "", "the MLflow tracking server `URL` to copy from")
	} else {
		usage = exportUsage
		fs.StringVar(other, "to", "", "the MLflow tracking server `URL` to copy to")
	}
	workers := fs.Int("workers", 4, "runs copied in parallel")
	dryRun := fs.Bool("dry-run", false, "read everything a copy reads, write nothing, and print what it found")
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	pos, err := parseArgs(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) > 0 || *other == "" {
		fs.Usage()
		return 2
	}
	box := *uri
	if box == "" {
		box = os.Getenv("MLFLOW_TRACKING_URI")
	}
	if box == "" {
		box = "http://127.0.0.1:5000"
	}
	mlbox, err := transfer.NewClient(box, os.Getenv("MLFLOW_TRACKING_USERNAME"), os.Getenv("MLFLOW_TRACKING_PASSWORD"), os.Getenv("MLFLOW_TRACKING_TOKEN"))
	if err != nil {
		fmt.Fprintf(stderr, "mlbox %s: --tracking-uri: %v\n", name, err)
		return 2
	}
	mlflow, err := transfer.NewClient(*other, "", "", "")
	if err != nil {
		fmt.Fprintf(stderr, "mlbox %s: %v\n", name, err)
		return 2
	}
	opt := transfer.Options{Source: mlflow, Target: mlbox, Workers: *workers, DryRun: *dryRun,
		Warn: func(msg string) { fmt.Fprintf(stderr, "mlbox %s: warning: %s\n", name, msg) }}
	if name == "export" {
		opt.Source, opt.Target, opt.Export = mlbox, mlflow, true
	}
	ctx, stop := cliSignalContext()
	defer stop()
	var st transfer.Stats
	start := time.Now()
	stopProgress := startTransferProgress(stderr, name, &st, start)
	err = transfer.Copy(ctx, opt, &st)
	stopProgress()
	label := name
	if *dryRun {
		label += " (dry run, nothing written; counts are what the source holds)"
	}
	fmt.Fprintf(stdout, "%s: %s\n", label, st.Summary(time.Since(start)))
	if err != nil {
		fmt.Fprintf(stderr, "mlbox %s: %v\n(run the same command again to continue where it stopped)\n", name, err)
		return 1
	}
	return 0
}

// startTransferProgress draws a progress line on a terminal.
func startTransferProgress(stderr io.Writer, what string, st *transfer.Stats, start time.Time) func() {
	return startLine(stderr, func() string {
		runs := st.Runs.Load() + st.RunsSkipped.Load()
		return fmt.Sprintf("%s: runs %d/%d, %d metric points, %d files (%s), %s",
			what, runs, st.RunsTotal.Load(), st.MetricPoints.Load(), st.Files.Load(), units.Bytes(st.Bytes.Load()),
			time.Since(start).Round(time.Second))
	})
}
