// Command backup measures `mlbox backup` and `mlbox restore` against tar on
// the same data, in one run: a running mlbox is filled with runs, metric
// histories and artifact files through its REST API, then
//
//   - backup: `mlbox backup FILE` from the running server (checked as it
//     arrives, fsynced) vs `tar -cf FILE -C <data_dir> .` plus an fsync of
//     FILE;
//   - restore: `mlbox restore FILE --data-dir NEW` (checked, then synced)
//     vs `tar -xf` of tar's archive plus a sync of the file system.
//
// Medians of --repeat runs; MiB/s of the archive size, and mlbox's time
// over tar's.
//
//	go run ./bench/backup --mlbox bin/mlbox
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mlbox/bench/internal/benchutil"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

var (
	mlboxBin = flag.String("mlbox", "bin/mlbox", "mlbox binary")
	artMiB   = flag.Int("artifacts-mib", 512, "artifact data to upload, in MiB")
	nFiles   = flag.Int("files", 256, "number of artifact files")
	nRuns    = flag.Int("runs", 1000, "runs, each with 20 metrics of 50 steps")
	repeat   = flag.Int("repeat", 3, "runs per measurement; the median is reported")
	workDir  = flag.String("dir", "", "work directory (default: a temp dir under the current directory, the same disk as the data)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "backup bench:", err)
		os.Exit(1)
	}
}

func post(url string, body any) (map[string]any, error) {
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %d %s", url, resp.StatusCode, raw)
	}
	return m, json.Unmarshal(raw, &m)
}

func put(url string, b []byte) error {
	req, _ := http.NewRequest("PUT", url, bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("PUT %s: %d", url, resp.StatusCode)
	}
	return nil
}

func timeCmd(name string, args ...string) (time.Duration, error) {
	start := time.Now()
	cmd := exec.Command(name, args...)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s %v: %v: %s", name, args, err, errb.String())
	}
	return time.Since(start), nil
}

func fsyncFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func run() error {
	bin, err := filepath.Abs(*mlboxBin)
	if err != nil {
		return err
	}
	dir := *workDir
	if dir == "" {
		if dir, err = os.MkdirTemp(".", ".backupbench-"); err != nil {
			return err
		}
	}
	defer os.RemoveAll(dir)
	dir, _ = filepath.Abs(dir)
	data := filepath.Join(dir, "data")
	addr := benchutil.FreePort()
	url := "http://" + addr
	srv := exec.Command(bin, "server", "--listen", addr, "--data-dir", data)
	srv.Stdout, srv.Stderr = io.Discard, io.Discard
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		if srv.Process != nil {
			srv.Process.Signal(os.Interrupt)
			srv.Wait()
		}
	}()
	for deadline := time.Now().Add(60 * time.Second); ; {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mlbox did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Seed: runs with metric histories, and artifact files of mixed sizes.
	seedStart := time.Now()
	var runIDs []string
	points := 0
	for i := range *nRuns {
		m, err := post(url+"/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0", "run_name": fmt.Sprint("r", i)})
		if err != nil {
			return err
		}
		id := m["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
		runIDs = append(runIDs, id)
		var ms []map[string]any
		for k := range 20 {
			for step := range 50 {
				ms = append(ms, map[string]any{"key": fmt.Sprint("m", k), "value": float64(step) / 7, "timestamp": step, "step": step})
			}
		}
		if _, err := post(url+"/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": id, "metrics": ms}); err != nil {
			return err
		}
		points += len(ms)
	}
	total := int64(*artMiB) << 20
	buf := make([]byte, total/int64(*nFiles)*2)
	rand.Read(buf)
	var artBytes int64
	for i := range *nFiles {
		// sizes from 1/4 to 7/4 of the mean, so the total is about right
		size := total / int64(*nFiles) * int64(1+i%7) / 4
		if size > int64(len(buf)) {
			size = int64(len(buf))
		}
		p := fmt.Sprintf("0/%s/artifacts/files/part-%04d.bin", runIDs[i%len(runIDs)], i)
		if err := put(url+"/api/2.0/mlflow-artifacts/artifacts/"+p, buf[:size]); err != nil {
			return err
		}
		artBytes += size
	}
	fmt.Printf("backup benchmark: %d CPUs, %s/%s; %d runs (%d metric points), %d artifact files (%.0f MiB); seeded in %s\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, *nRuns, points, *nFiles, float64(artBytes)/(1<<20), time.Since(seedStart).Round(time.Second))

	var bk, tarC, rs, tarX, stream []time.Duration
	var archSize, tarSize int64
	for i := range *repeat {
		arch := filepath.Join(dir, fmt.Sprintf("mlbox-%d.tar", i))
		d, err := timeCmd(bin, "backup", "--tracking-uri", url, arch)
		if err != nil {
			return err
		}
		bk = append(bk, d)
		fi, _ := os.Stat(arch)
		archSize = fi.Size()

		// The server's part alone: the archive streamed to nowhere.
		start0 := time.Now()
		resp, err := http.Get(url + "/api/mlbox/v1/backup?format=archive")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		stream = append(stream, time.Since(start0))

		tf := filepath.Join(dir, fmt.Sprintf("tar-%d.tar", i))
		start := time.Now()
		if _, err := timeCmd("tar", "-cf", tf, "-C", data, "."); err != nil {
			return err
		}
		if err := fsyncFile(tf); err != nil {
			return err
		}
		tarC = append(tarC, time.Since(start))
		fi, _ = os.Stat(tf)
		tarSize = fi.Size()

		dst := filepath.Join(dir, fmt.Sprintf("restored-%d", i))
		d, err = timeCmd(bin, "restore", "--data-dir", dst, arch)
		if err != nil {
			return err
		}
		rs = append(rs, d)

		tdst := filepath.Join(dir, fmt.Sprintf("untarred-%d", i))
		os.MkdirAll(tdst, 0o700)
		start = time.Now()
		if _, err := timeCmd("tar", "-xf", tf, "-C", tdst); err != nil {
			return err
		}
		if _, err := timeCmd("sync", "-f", tdst); err != nil {
			return err
		}
		tarX = append(tarX, time.Since(start))
		for _, p := range []string{arch, tf, dst, tdst} {
			os.RemoveAll(p)
		}
	}
	b, tc, r, tx := benchutil.Median(bk), benchutil.Median(tarC), benchutil.Median(rs), benchutil.Median(tarX)
	fmt.Printf("| | mlbox | tar (same run) | mlbox / tar | target | met |\n|---|---|---|---|---|---|\n")
	met := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	fmt.Printf("| backup of a running server | %s, %.0f MiB/s (%.0f MiB archive) | %s, %.0f MiB/s | %.2f× | ≤ 1.5× | %s |\n",
		b.Round(time.Millisecond), benchutil.MiBps(archSize, b), float64(archSize)/(1<<20), tc.Round(time.Millisecond), benchutil.MiBps(tarSize, tc), b.Seconds()/tc.Seconds(), met(b.Seconds() <= 1.5*tc.Seconds()))
	st := benchutil.Median(stream)
	fmt.Printf("| (the server's stream alone, read and dropped) | %s, %.0f MiB/s | | %.2f× | | |\n", st.Round(time.Millisecond), benchutil.MiBps(archSize, st), st.Seconds()/tc.Seconds())
	fmt.Printf("| restore | %s, %.0f MiB/s | %s, %.0f MiB/s | %.2f× | | |\n",
		r.Round(time.Millisecond), benchutil.MiBps(archSize, r), tx.Round(time.Millisecond), benchutil.MiBps(tarSize, tx), r.Seconds()/tx.Seconds())
	fmt.Printf("\nmedians of %d; backup: checked as it arrives and fsynced; tar -cf plus an fsync of its file. restore: checked, then syncfs; tar -xf plus sync -f.\n", *repeat)
	return nil
}
