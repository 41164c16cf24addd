package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"mlbox/scheduler"
	"mlbox/store"
)

const jobsUsage = `Usage:
  mlbox jobs list                  jobs with their schedule, state and next run
  mlbox jobs run NAME [--wait]     start a run now (--wait: until it ends; exit 1 unless it succeeded)
  mlbox jobs history NAME [--limit N]
                                   runs, newest first, with statistics
  mlbox jobs log NAME NUMBER       a run's captured output

Common flags: --tracking-uri URL (default $MLFLOW_TRACKING_URI, else
http://127.0.0.1:5000), --json (print the API's JSON). Jobs are defined in
config.toml ([[scheduler.jobs]]) or through /api/mlbox/v1/jobs; see
docs/scheduler.md.
`

const retentionUsage = `Usage:
  mlbox retention plan  [--policy NAME | --file POLICY.json]   dry run: what would be deleted
  mlbox retention apply [--policy NAME | --file POLICY.json]   delete it, and record it in the retention log
  mlbox retention log [--limit N]                              past applies, newest first

--policy names a retention job (its policy); --file reads a policy as JSON
("-" for stdin). With neither, every retention job that is not paused
(apply: and not dry_run). Common flags: --tracking-uri URL, --json.
apply exits 1 if an action failed.
`

// cliFlags registers the flags every jobs/retention command takes.
func cliFlags(name string, stderr io.Writer) (*flag.FlagSet, *string, *bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	uri := fs.String("tracking-uri", "", "tracking server `URL` (default $MLFLOW_TRACKING_URI, else http://127.0.0.1:5000)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	return fs, uri, asJSON
}

// parseArgs parses flags anywhere among the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// cliSignalContext ends on Ctrl-C (a waiting `jobs run --wait` stops
// waiting; the run goes on on the server).
func cliSignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func printJSON(w io.Writer, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintf(w, "%s\n", b)
}

func fmtTime(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).Local().Format("2006-01-02 15:04:05")
}

func fmtDuration(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return (time.Duration(ms) * time.Millisecond).Round(time.Millisecond).String()
}

func cmdJobs(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, jobsUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub := args[0]
	fs, uri, asJSON := cliFlags("mlbox jobs "+sub, stderr)
	wait := fs.Bool("wait", false, "run: wait until the run ends")
	limit := fs.Int("limit", 20, "history: how many runs")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return 2
	}
	want := map[string]int{"list": 0, "run": 1, "history": 1, "log": 2}
	n, ok := want[sub]
	if !ok {
		fmt.Fprintf(stderr, "mlbox jobs: unknown command %q\n\n%s", sub, jobsUsage)
		return 2
	}
	if len(pos) != n {
		fmt.Fprintf(stderr, "mlbox jobs %s: expected %d argument(s), got %d\n\n%s", sub, n, len(pos), jobsUsage)
		return 2
	}
	c, err := newRESTClient(*uri)
	if err != nil {
		fmt.Fprintln(stderr, "mlbox jobs:", err)
		return 2
	}
	ctx, stop := cliSignalContext()
	defer stop()
	switch sub {
	case "list":
		err = jobsList(ctx, c, stdout, *asJSON)
	case "run":
		var ok bool
		ok, err = jobsRun(ctx, c, pos[0], *wait, stdout, *asJSON)
		if err == nil && !ok {
			return 1
		}
	case "history":
		err = jobsHistory(ctx, c, pos[0], *limit, stdout, *asJSON)
	case "log":
		err = jobsLog(ctx, c, pos[0], pos[1], stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mlbox jobs:", err)
		return 1
	}
	return 0
}

type cliJob struct {
	store.Job
	State scheduler.JobState `json:"state"`
}

func jobPath(name string, rest ...string) string {
	p := "/api/mlbox/v1/jobs/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

func jobsList(ctx context.Context, c *restClient, w io.Writer, asJSON bool) error {
	var resp struct {
		Jobs []cliJob `json:"jobs"`
	}
	if err := c.call(ctx, "GET", "/api/mlbox/v1/jobs", nil, &resp); err != nil {
		return err
	}
	if asJSON {
		printJSON(w, resp)
		return nil
	}
	if len(resp.Jobs) == 0 {
		fmt.Fprintln(w, "no jobs")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSCHEDULE\tSTATE\tNEXT RUN\tLAST RUN\tSOURCE")
	for _, j := range resp.Jobs {
		sched := j.Schedule
		if sched == "" {
			sched = "(manual)"
		} else if j.Timezone != "" {
			sched += " (" + j.Timezone + ")"
		}
		kind := j.Kind
		if j.DryRun {
			kind += " (dry run)"
		}
		state := "idle"
		switch {
		case j.State.Running:
			state = fmt.Sprintf("running #%d", j.State.CurrentRun)
			if j.State.Queued {
				state += " +1 queued"
			}
		case j.Paused:
			state = "paused"
		}
		last := "-"
		if j.LastRun > 0 {
			last = "#" + strconv.FormatUint(j.LastRun, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.Name, kind, sched, state, fmtTime(j.State.NextRunAt), last, j.Source)
	}
	return tw.Flush()
}

// jobsRun starts a run; with wait it polls until the run ends and reports
// whether it succeeded.
func jobsRun(ctx context.Context, c *restClient, name string, wait bool, w io.Writer, asJSON bool) (bool, error) {
	var resp struct {
		Run    *store.JobRun `json:"run"`
		Queued bool          `json:"queued"`
	}
	if err := c.call(ctx, "POST", jobPath(name, "run"), struct{}{}, &resp); err != nil {
		return false, err
	}
	if resp.Queued {
		if asJSON {
			printJSON(w, resp)
		} else {
			fmt.Fprintf(w, "job %s is running; a run is queued after it\n", name)
		}
		return true, nil
	}
	run := resp.Run
	if !wait {
		if asJSON {
			printJSON(w, resp)
		} else {
			fmt.Fprintf(w, "started run %d of job %s\n", run.Number, name)
		}
		return true, nil
	}
	if !asJSON {
		fmt.Fprintf(w, "started run %d of job %s; waiting\n", run.Number, name)
	}
	delay := 200 * time.Millisecond
	for run.Status == store.JobRunning {
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("stopped waiting (the run goes on): %w", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
		var got struct {
			Run *store.JobRun `json:"run"`
		}
		if err := c.call(ctx, "GET", jobPath(name, "runs", strconv.FormatUint(run.Number, 10)), nil, &got); err != nil {
			return false, err
		}
		run = got.Run
	}
	if asJSON {
		printJSON(w, map[string]any{"run": run})
	} else {
		printRun(w, run)
	}
	return run.Status == store.JobSucceeded, nil
}

func printRun(w io.Writer, r *store.JobRun) {
	fmt.Fprintf(w, "run %d of %s: %s in %s", r.Number, r.Job, r.Status, fmtDuration(r.DurationMs))
	if r.ExitCode != nil {
		fmt.Fprintf(w, ", exit code %d", *r.ExitCode)
	}
	if r.Error != "" {
		fmt.Fprintf(w, ": %s", r.Error)
	}
	fmt.Fprintln(w)
	if p := r.Promotion; p != nil {
		fmt.Fprintf(w, "promotion %s@%s: %s", p.Model, p.Alias, p.Status)
		if p.Version != "" {
			fmt.Fprintf(w, " (version %s)", p.Version)
		}
		if p.Message != "" {
			fmt.Fprintf(w, ": %s", p.Message)
		}
		fmt.Fprintln(w)
	}
	if s := r.Retention; s != nil {
		fmt.Fprintf(w, "retention: runs deleted %d, versions archived %d, runs purged %d, logged models purged %d, experiments purged %d, orphan files %d, kept %d\n",
			s.RunsDeleted, s.VersionsArchived, s.RunsPurged, s.LoggedModelsPurged, s.ExperimentsPurged, s.OrphanFiles, s.Kept)
	}
	if r.LogPath != "" {
		fmt.Fprintf(w, "log: mlbox jobs log %s %d\n", r.Job, r.Number)
	}
}

func jobsHistory(ctx context.Context, c *restClient, name string, limit int, w io.Writer, asJSON bool) error {
	var resp struct {
		Runs  []store.JobRun    `json:"runs"`
		Stats store.JobRunStats `json:"stats"`
	}
	if err := c.call(ctx, "GET", jobPath(name, "runs")+"?limit="+strconv.Itoa(max(limit, 1)), nil, &resp); err != nil {
		return err
	}
	if asJSON {
		printJSON(w, resp)
		return nil
	}
	st := resp.Stats
	fmt.Fprintf(w, "job %s: %d runs kept, %d succeeded, %d failed, %d interrupted; mean %s, max %s\n",
		name, st.Runs, st.Succeeded, st.Failures, st.Interrupted, fmtDuration(st.MeanMs), fmtDuration(st.MaxMs))
	if len(resp.Runs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTRIGGER\tSTATUS\tSTARTED\tDURATION\tEXIT\tDETAIL")
	for _, r := range resp.Runs {
		exit := "-"
		if r.ExitCode != nil {
			exit = strconv.Itoa(*r.ExitCode)
		}
		detail := r.Error
		if p := r.Promotion; p != nil && detail == "" {
			detail = "promotion: " + p.Status + " " + p.Version
		}
		if s := r.Retention; s != nil && detail == "" {
			detail = fmt.Sprintf("deleted %d runs, archived %d versions, purged %d runs", s.RunsDeleted, s.VersionsArchived, s.RunsPurged)
		}
		if len(detail) > 80 {
			detail = detail[:77] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Number, r.Trigger, r.Status, fmtTime(r.StartedAt), fmtDuration(r.DurationMs), exit, detail)
	}
	return tw.Flush()
}

func jobsLog(ctx context.Context, c *restClient, name, number string, w io.Writer) error {
	if _, err := strconv.ParseUint(number, 10, 64); err != nil {
		return fmt.Errorf("run NUMBER must be a number, got %q", number)
	}
	resp, err := c.do(ctx, "GET", jobPath(name, "runs", number, "log"), nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return newRESTError("", resp.StatusCode, b)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

func cmdRetention(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, retentionUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub := args[0]
	fs, uri, asJSON := cliFlags("mlbox retention "+sub, stderr)
	policy := fs.String("policy", "", "the policy of this retention job `NAME`")
	file := fs.String("file", "", "a policy as JSON (`FILE`, - for stdin)")
	limit := fs.Int("limit", 20, "log: how many records")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return 2
	}
	if sub != "plan" && sub != "apply" && sub != "log" {
		fmt.Fprintf(stderr, "mlbox retention: unknown command %q\n\n%s", sub, retentionUsage)
		return 2
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "mlbox retention %s: unexpected argument %q\n", sub, pos[0])
		return 2
	}
	if *policy != "" && *file != "" {
		fmt.Fprintln(stderr, "mlbox retention: give --policy or --file, not both")
		return 2
	}
	c, err := newRESTClient(*uri)
	if err != nil {
		fmt.Fprintln(stderr, "mlbox retention:", err)
		return 2
	}
	ctx, stop := cliSignalContext()
	defer stop()
	if sub == "log" {
		if err := retentionLog(ctx, c, *limit, stdout, *asJSON); err != nil {
			fmt.Fprintln(stderr, "mlbox retention:", err)
			return 1
		}
		return 0
	}
	req := map[string]any{}
	switch {
	case *policy != "":
		req["policy_name"] = *policy
	case *file != "":
		var p json.RawMessage
		if err := readPolicyFile(*file, &p); err != nil {
			fmt.Fprintln(stderr, "mlbox retention:", err)
			return 2
		}
		req["policy"] = p
	}
	var resp struct {
		Plans []*store.RetentionPlan `json:"plans"`
	}
	if err := c.call(ctx, "POST", "/api/mlbox/v1/retention/"+sub, req, &resp); err != nil {
		fmt.Fprintln(stderr, "mlbox retention:", err)
		return 1
	}
	if *asJSON {
		printJSON(stdout, resp)
	} else if len(resp.Plans) == 0 {
		fmt.Fprintln(stdout, "no retention policies (define retention jobs, or give --policy or --file)")
	}
	failed := false
	for i, p := range resp.Plans {
		if !*asJSON {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			scheduler.WriteReport(stdout, p)
			for _, w := range p.Warnings {
				fmt.Fprintln(stdout, "  warning:", w)
			}
		}
		failed = failed || p.Summary.Errors > 0
	}
	if failed {
		return 1
	}
	return 0
}

func readPolicyFile(name string, v any) error {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 16<<20))
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: not a JSON policy: %v", name, err)
	}
	return nil
}

func retentionLog(ctx context.Context, c *restClient, limit int, w io.Writer, asJSON bool) error {
	var resp struct {
		Records []store.RetentionRecord `json:"records"`
	}
	if err := c.call(ctx, "GET", "/api/mlbox/v1/retention/log?limit="+strconv.Itoa(max(limit, 1)), nil, &resp); err != nil {
		return err
	}
	if asJSON {
		printJSON(w, resp)
		return nil
	}
	if len(resp.Records) == 0 {
		fmt.Fprintln(w, "no retention applied yet")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tPOLICY\tACTOR\tRUNS DEL\tVERS ARCH\tRUNS PURGED\tMODELS PURGED\tEXPS PURGED\tORPHANS\tERRORS")
	for _, r := range resp.Records {
		s := r.Summary
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", r.Seq, fmtTime(r.Time), r.Policy, r.Actor,
			s.RunsDeleted, s.VersionsArchived, s.RunsPurged, s.LoggedModelsPurged, s.ExperimentsPurged, s.OrphanFiles, s.Errors)
	}
	return tw.Flush()
}
