// Command artifacts measures artifact-proxy throughput against a direct
// baseline on the same machine: a 1 GiB file uploaded and downloaded through
// mlbox with the local backend (baseline: cp + fsync) and with the S3
// backend on a real MinIO (baseline: minio-go straight to MinIO).
//
//	go run ./bench/artifacts --mlbox bin/mlbox --minio $(scripts/minio.sh)
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"mlbox/bench/internal/benchutil"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

var (
	mlboxBin = flag.String("mlbox", "bin/mlbox", "mlbox binary")
	minioBin = flag.String("minio", "", "minio binary (default: $MLBOX_MINIO_BIN); S3 is skipped without one")
	sizeMiB  = flag.Int("size", 1024, "file size in MiB")
	repeat   = flag.Int("repeat", 3, "runs per measurement; the median is reported")
	workDir  = flag.String("dir", "", "work directory (default: a temp dir under the current directory, i.e. the same disk as the data)")
)

const (
	accessKey = "mlboxbench"
	secretKey = "mlboxbench-secret"
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "artifacts bench:", err)
		os.Exit(1)
	}
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready", url)
}

func start(name string, env []string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	return cmd, cmd.Start()
}

func stop(cmd *exec.Cmd) {
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
		}
	}
}

type result struct {
	name            string
	up, down        time.Duration
	baseUp, baseDwn time.Duration
}

func run() error {
	dir := *workDir
	if dir == "" {
		d, err := os.MkdirTemp(".", ".artbench-")
		if err != nil {
			return err
		}
		dir = d
	}
	defer os.RemoveAll(dir)
	dir, _ = filepath.Abs(dir)
	size := int64(*sizeMiB) << 20
	src := filepath.Join(dir, "src.bin")
	if err := writeRandom(src, size); err != nil {
		return err
	}
	fmt.Printf("artifact proxy throughput, %d MiB file, median of %d, %d cores (GOMAXPROCS %d), %s\n",
		*sizeMiB, *repeat, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("command: %s\n\n", strings.Join(os.Args, " "))
	var results []result

	// local backend
	r, err := benchLocal(dir, src, size)
	if err != nil {
		return err
	}
	results = append(results, r)

	mb := *minioBin
	if mb == "" {
		mb = os.Getenv("MLBOX_MINIO_BIN")
	}
	if mb != "" {
		r, err := benchS3(dir, src, size, mb)
		if err != nil {
			return err
		}
		results = append(results, r)
	} else {
		fmt.Println("(S3 skipped: no --minio binary)")
	}
	fmt.Printf("\n%-6s %-9s %12s %12s %8s   target ≥ 0.70\n", "backend", "direction", "via mlbox", "direct", "ratio")
	for _, r := range results {
		for _, row := range []struct {
			dir      string
			got, ref time.Duration
		}{{"upload", r.up, r.baseUp}, {"download", r.down, r.baseDwn}} {
			ratio := row.ref.Seconds() / row.got.Seconds()
			met := "yes"
			if ratio < 0.7 {
				met = "NO"
			}
			fmt.Printf("%-6s %-9s %8.0f MiB/s %8.0f MiB/s %8.2f   %s\n", r.name, row.dir, benchutil.MiBps(size, row.got), benchutil.MiBps(size, row.ref), ratio, met)
		}
	}
	return nil
}

func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 4<<20)
	rand.Read(buf)
	for n := int64(0); n < size; n += int64(len(buf)) {
		buf[0]++ // not all blocks equal
		if _, err := f.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			return err
		}
	}
	return f.Sync()
}

// copySync is the local baseline: cp, then fsync the copy (mlbox fsyncs too).
func copySync(src, dst string) (time.Duration, error) {
	t := time.Now()
	if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("cp: %v %s", err, out)
	}
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	err = f.Sync()
	f.Close()
	return time.Since(t), err
}

func putFile(url, src string, size int64) (time.Duration, error) {
	f, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	req, _ := http.NewRequest("PUT", url, f)
	req.ContentLength = size
	t := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("PUT: HTTP %d", resp.StatusCode)
	}
	return time.Since(t), nil
}

func getFile(url, dst string, size int64) (time.Duration, error) {
	t := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("GET: HTTP %d", resp.StatusCode)
	}
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	// A client as a downloader would write it: large reads and writes
	// (io.Copy's 32 KiB buffer makes the client, not the proxy, the limit).
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, resp.Body, make([]byte, 1<<20))
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err == nil && n != size {
		err = fmt.Errorf("GET: %d bytes, want %d", n, size)
	}
	return time.Since(t), err
}

func measure(name string, fn func(i int) (time.Duration, error)) (time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < *repeat; i++ {
		d, err := fn(i)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		ds = append(ds, d)
	}
	m := benchutil.Median(ds)
	fmt.Printf("  %-28s median %7.2fs  runs %v\n", name, m.Seconds(), ds)
	return m, nil
}

func startMlbox(dir string, env ...string) (*exec.Cmd, string, error) {
	addr := benchutil.FreePort()
	cmd, err := start(*mlboxBin, env, "server", "--listen", addr, "--data-dir", filepath.Join(dir, "mlbox-data"))
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := waitHTTP(base + "/health"); err != nil {
		stop(cmd)
		return nil, "", err
	}
	return cmd, base, nil
}

func benchLocal(dir, src string, size int64) (result, error) {
	fmt.Println("local backend (baseline: cp + fsync on the same disk)")
	r := result{name: "local"}
	cmd, base, err := startMlbox(dir)
	if err != nil {
		return r, err
	}
	defer stop(cmd)
	dst := filepath.Join(dir, "dst.bin")
	if r.baseUp, err = measure("cp (write copy)", func(int) (time.Duration, error) { os.Remove(dst); return copySync(src, dst) }); err != nil {
		return r, err
	}
	r.baseDwn = r.baseUp // a local copy is the read+write baseline in both directions
	url := base + "/api/2.0/mlflow-artifacts/artifacts/0/bench/artifacts/big.bin"
	if r.up, err = measure("PUT via mlbox", func(int) (time.Duration, error) { return putFile(url, src, size) }); err != nil {
		return r, err
	}
	if r.down, err = measure("GET via mlbox", func(int) (time.Duration, error) { os.Remove(dst); return getFile(url, dst, size) }); err != nil {
		return r, err
	}
	os.Remove(dst)
	return r, nil
}

func benchS3(dir, src string, size int64, minioPath string) (result, error) {
	fmt.Println("\nS3 backend on MinIO (baseline: minio-go straight to MinIO)")
	r := result{name: "s3"}
	endpoint := benchutil.FreePort()
	mdir := filepath.Join(dir, "minio")
	mc, err := start(minioPath, []string{"MINIO_ROOT_USER=" + accessKey, "MINIO_ROOT_PASSWORD=" + secretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off", "MINIO_CI_CD=1", "HOME=" + mdir},
		"server", filepath.Join(mdir, "data"), "--address", endpoint, "--console-address", benchutil.FreePort(), "--certs-dir", filepath.Join(mdir, "certs"))
	if err != nil {
		return r, err
	}
	defer stop(mc)
	if err := waitHTTP("http://" + endpoint + "/minio/health/cluster"); err != nil {
		return r, err
	}
	cli, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Secure: false})
	if err != nil {
		return r, err
	}
	ctx := context.Background()
	if err := cli.MakeBucket(ctx, "direct", minio.MakeBucketOptions{}); err != nil {
		return r, err
	}
	dst := filepath.Join(dir, "dst.bin")
	if r.baseUp, err = measure("minio-go FPutObject", func(int) (time.Duration, error) {
		t := time.Now()
		_, err := cli.FPutObject(ctx, "direct", "big.bin", src, minio.PutObjectOptions{})
		return time.Since(t), err
	}); err != nil {
		return r, err
	}
	if r.baseDwn, err = measure("minio-go GetObject → file", func(int) (time.Duration, error) {
		os.Remove(dst)
		t := time.Now()
		obj, err := cli.GetObject(ctx, "direct", "big.bin", minio.GetObjectOptions{})
		if err != nil {
			return 0, err
		}
		defer obj.Close()
		f, err := os.Create(dst)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(f, obj)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		return time.Since(t), err
	}); err != nil {
		return r, err
	}
	cmd, base, err := startMlbox(filepath.Join(dir, "s3"), "MLBOX_ARTIFACTS_BACKEND=s3", "MLBOX_ARTIFACTS_S3_ENDPOINT="+endpoint,
		"MLBOX_ARTIFACTS_S3_BUCKET=mlbox", "MLBOX_ARTIFACTS_S3_ACCESS_KEY="+accessKey, "MLBOX_ARTIFACTS_S3_SECRET_KEY="+secretKey,
		"MLBOX_ARTIFACTS_S3_SECURE=false", "MLBOX_ARTIFACTS_S3_CREATE_BUCKET=true")
	if err != nil {
		return r, err
	}
	defer stop(cmd)
	url := base + "/api/2.0/mlflow-artifacts/artifacts/0/bench/artifacts/big.bin"
	if r.up, err = measure("PUT via mlbox", func(int) (time.Duration, error) { return putFile(url, src, size) }); err != nil {
		return r, err
	}
	if r.down, err = measure("GET via mlbox", func(int) (time.Duration, error) { os.Remove(dst); return getFile(url, dst, size) }); err != nil {
		return r, err
	}
	os.Remove(dst)
	return r, errors.Join()
}
