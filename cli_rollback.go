package main

// `mlbox models rollback`: move a deployment's alias back to its previous
// version, through the server (POST /api/mlbox/v1/deployments/{name}/rollback).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"
)

func init() {
	extraModelCommands["rollback"] = cmdModelsRollback
}

const modelsRollbackUsage = `Usage:
  mlbox models rollback [--alias ALIAS] [--tracking-uri URL] NAME

Moves the alias (default: the deployment's target alias, normally
"champion") of registered model NAME back to the version it pointed at
before its last move, as the audit trail records it. The move goes through
the promotion gates like any alias change, is audited, and fires a
deployment.rolled_back webhook event; the deployment serves the version
as soon as the server has loaded it. Running it twice undoes the first.

--tracking-uri defaults to $MLFLOW_TRACKING_URI, else http://127.0.0.1:5000.
`

func cmdModelsRollback(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlbox models rollback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, modelsRollbackUsage) }
	alias := fs.String("alias", "", "alias to roll back (default: the deployment's target alias)")
	uri := fs.String("tracking-uri", "", "server URL")
	if err := fs.Parse(rollbackFlagsFirst(args, map[string]bool{"alias": true, "tracking-uri": true})); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, modelsRollbackUsage)
		return 2
	}
	name := fs.Arg(0)
	c, err := newRESTClient(*uri)
	if err != nil {
		fmt.Fprintln(stderr, "mlbox models rollback:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res struct {
		Name   string `json:"name"`
		Alias  string `json:"alias"`
		From   string `json:"from_version"`
		To     string `json:"to_version"`
		Status *struct {
			State   string `json:"state"`
			Message string `json:"message"`
			Serving *struct {
				Version string `json:"version"`
			} `json:"serving"`
		} `json:"status"`
	}
	body := map[string]string{}
	if *alias != "" {
		body["alias"] = *alias
	}
	if err := c.call(ctx, "POST", "/api/mlbox/v1/deployments/"+url.PathEscape(name)+"/rollback", body, &res); err != nil {
		fmt.Fprintln(stderr, "mlbox models rollback:", err)
		return 1
	}
	fmt.Fprintf(stdout, "rolled back %s@%s: version %s -> %s\n", res.Name, res.Alias, res.From, res.To)
	if st := res.Status; st != nil {
		switch {
		case st.Serving != nil:
			fmt.Fprintf(stdout, "serving version %s (%s)\n", st.Serving.Version, st.State)
		case st.Message != "":
			fmt.Fprintf(stdout, "deployment %s: %s\n", st.State, st.Message)
		}
	}
	return 0
}

// rollbackFlagsFirst moves flags after positional arguments to the front, so that
// "NAME --alias x" parses like "--alias x NAME" (the flag package stops at
// the first positional argument). valued names the flags that take a value.
func rollbackFlagsFirst(args []string, valued map[string]bool) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			n := a[1:]
			if len(n) > 0 && n[0] == '-' {
				n = n[1:]
			}
			if valued[n] && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}
