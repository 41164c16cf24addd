// Package gobench runs `go test -bench` for the benchmark drivers under
// bench/ and reads back each benchmark's median.
package gobench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// Run runs `go test -run ^$ -bench PATTERN -benchtime T -count N PKG`
// with env added to the environment, echoing failures. It returns each
// benchmark's runs and their median (the name without "Benchmark" and
// the -GOMAXPROCS suffix), in ns/row when reported, else ns/op.
func Run(ctx context.Context, pattern, pkg, benchtime string, count int, env ...string) (medians map[string]float64, runs map[string][]float64, err error) {
	runs = map[string][]float64{}
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime, "-count", strconv.Itoa(count), pkg)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			if strings.Contains(line, "FAIL") || strings.Contains(line, "_test.go") {
				fmt.Println(line)
			}
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		// "ns/row" when reported, else ns/op.
		v, unit := 0.0, ""
		for i := 2; i+1 < len(f); i += 2 {
			if f[i+1] == "ns/row" || f[i+1] == "ns/op" && unit == "" {
				v, _ = strconv.ParseFloat(f[i], 64)
				unit = f[i+1]
			}
		}
		if unit != "" {
			runs[name] = append(runs[name], v)
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, nil, fmt.Errorf("go test -bench %s: %w", pattern, err)
	}
	medians = map[string]float64{}
	for name, v := range runs {
		s := slices.Clone(v)
		slices.Sort(s)
		medians[name] = s[len(s)/2]
	}
	return medians, runs, nil
}
