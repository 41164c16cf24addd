"""Start and stop a real mlbox process for the Python test suites.

The binary comes from $MLBOX_BIN (the Makefile builds ./bin/mlbox and sets
it); without it the module builds one with `go build` into a temp dir.
"""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_built = None


def mlbox_binary():
    global _built
    b = os.environ.get("MLBOX_BIN")
    if b:
        return os.path.abspath(b)
    if _built is None:
        out = os.path.join(tempfile.mkdtemp(prefix="mlbox-bin-"), "mlbox")
        subprocess.run(["go", "build", "-o", out, "."], cwd=REPO, check=True,
                       env=dict(os.environ, CGO_ENABLED="0"))
        _built = out
    return _built


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlboxProcess:
    """One mlbox server on 127.0.0.1:<free port> with its own data dir.

    extra_args are appended to `mlbox server ...`; env entries override
    os.environ (e.g. MLBOX_ARTIFACTS_BACKEND=s3). Without data_dir the
    process gets a temp directory (data and log) that stop() removes, as
    MinioProcess does; a given data_dir is the caller's to keep or remove.
    """

    def __init__(self, data_dir=None, extra_args=(), env=None, ca_file=None):
        self._own = None if data_dir else tempfile.mkdtemp(prefix="mlbox-proc-")
        self.data_dir = data_dir or os.path.join(self._own, "data")
        self.port = free_port()
        # ca_file: the server serves HTTPS (its certificate from env), trusted through this CA.
        self._ssl = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.url = f"{'https' if ca_file else 'http'}://127.0.0.1:{self.port}"
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.log_path = os.path.join(self._own or os.path.join(self.data_dir, ".."), f"mlbox-{self.port}.log")

    def start(self, timeout=30):
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [mlbox_binary(), "server", "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", self.data_dir, *self.extra_args],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlbox exited early with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1, context=self._ssl) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("mlbox did not become healthy:\n" + self.log())

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self, kill=False):
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
        if self._own:
            shutil.rmtree(self._own, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def minio_binary():
    """The pinned MinIO server built by scripts/minio.sh (None if missing)."""
    b = os.environ.get("MLBOX_MINIO_BIN")
    if b and os.path.exists(b):
        return b
    try:
        out = subprocess.run([os.path.join(REPO, "scripts", "minio.sh")], capture_output=True, text=True,
                             check=True, timeout=900)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


class MinioProcess:
    """A real MinIO server on 127.0.0.1 with a temp data dir."""

    access_key = "mlboxtest"
    secret_key = "mlboxtest-secret"

    def __init__(self, binary):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="minio-")
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.proc = None

    def start(self, timeout=60):
        env = dict(os.environ, MINIO_ROOT_USER=self.access_key, MINIO_ROOT_PASSWORD=self.secret_key,
                   MINIO_BROWSER="off", MINIO_UPDATE="off", MINIO_CALLHOME_ENABLE="off", MINIO_CI_CD="1",
                   HOME=self.dir)
        self._log = open(os.path.join(self.dir, "minio.log"), "wb")
        self.proc = subprocess.Popen(
            [self.binary, "server", os.path.join(self.dir, "data"), "--address", self.endpoint,
             "--console-address", f"127.0.0.1:{free_port()}", "--certs-dir", os.path.join(self.dir, "certs")],
            stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("minio exited early")
            try:
                with urllib.request.urlopen(f"http://{self.endpoint}/minio/health/cluster", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("minio did not become ready")

    def mlbox_env(self, bucket="mlbox", prefix="artifacts"):
        """Environment that points an mlbox at this MinIO."""
        return {"MLBOX_ARTIFACTS_BACKEND": "s3", "MLBOX_ARTIFACTS_S3_ENDPOINT": self.endpoint,
                "MLBOX_ARTIFACTS_S3_BUCKET": bucket, "MLBOX_ARTIFACTS_S3_PREFIX": prefix,
                "MLBOX_ARTIFACTS_S3_ACCESS_KEY": self.access_key, "MLBOX_ARTIFACTS_S3_SECRET_KEY": self.secret_key,
                "MLBOX_ARTIFACTS_S3_SECURE": "false", "MLBOX_ARTIFACTS_S3_CREATE_BUCKET": "true"}

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "_log", None):
            self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def peak_rss_mb(pid):
    """VmHWM (peak resident set) of a process, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0
