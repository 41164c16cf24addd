"""The trusted-proxy mode behind a real nginx (Debian's; scripts/deps.sh
installs it): nginx checks the user's password (auth_basic), strips the
credentials and names the user in X-Forwarded-User (and the admins'
group in X-Forwarded-Groups), connecting to mlbox from 127.0.0.2, the only
trusted address. The unchanged MLflow client goes through nginx with
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD; the same headers sent
straight to mlbox from 127.0.0.1 are ignored.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest
import requests

from accounts_common import as_user, log_a_run
from conftest import TARGET, unique
from mlboxproc import MlboxProcess, free_port

ADMIN_PW = "compat-admin-password"
USERS = {"alice": "alice-proxy-pw", "bob": "bob-proxy-pw"}  # nginx's own user file
GROUPS = {"alice": "devs,mlbox-admins", "bob": "devs"}

pytestmark = pytest.mark.skipif(TARGET != "mlbox", reason="starts its own servers")


def nginx_binary():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


class Nginx:
    """nginx in the foreground with a config and temp dirs of its own."""

    def __init__(self, upstream_port):
        self.dir = tempfile.mkdtemp(prefix="mlbox-nginx-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        d = self.dir
        with open(os.path.join(d, "htpasswd"), "w") as f:
            for u, pw in USERS.items():
                f.write(f"{u}:{{PLAIN}}{pw}\n")
        groups = "".join(f"        {u} \"{g}\";\n" for u, g in GROUPS.items())
        user = "user root;\n" if os.geteuid() == 0 else ""
        temps = "".join(f"    {k}_temp_path {d}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""{user}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
{temps}    client_max_body_size 0;
    map $remote_user $mlbox_groups {{
        default "";
{groups}    }}
    server {{
        listen 127.0.0.1:{self.port};
        auth_basic "mlbox";
        auth_basic_user_file {d}/htpasswd;
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_bind 127.0.0.2;
            proxy_http_version 1.1;
            proxy_request_buffering off;
            proxy_set_header Host $http_host;
            proxy_set_header Authorization "";
            proxy_set_header X-Forwarded-User $remote_user;
            proxy_set_header X-Forwarded-Email "";
            proxy_set_header X-Forwarded-Groups $mlbox_groups;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
""")
        self.proc = None

    def start(self, timeout=20):
        exe = nginx_binary()
        self.proc = subprocess.Popen([exe, "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited:\n" + self.log())
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1)
            except urllib.error.HTTPError:
                return self  # nginx answers (401: no password)
            except OSError:
                time.sleep(0.1)
                continue
            return self
        raise RuntimeError("nginx did not start:\n" + self.log())

    def log(self):
        try:
            with open(os.path.join(self.dir, "error.log"), "rb") as f:
                return f.read().decode(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def proxied():
    if not nginx_binary():
        pytest.fail("nginx is not installed (scripts/deps.sh installs it: apt-get install nginx)")
    env = {"MLBOX_AUTH_ENABLED": "true", "MLBOX_AUTH_ADMIN_PASSWORD": ADMIN_PW,
           "MLBOX_AUTH_PROXY_TRUSTED_CIDRS": "127.0.0.2", "MLBOX_AUTH_PROXY_ADMIN_GROUPS": "mlbox-admins"}
    with MlboxProcess(env=env) as m:
        ng = Nginx(m.port).start()
        try:
            yield m, ng
        finally:
            ng.stop()


def test_client_through_the_proxy(proxied, tmp_path):
    """bob, known only to nginx, logs a run with an artifact and registers a
    model through it; mlbox made him a user on first sight, not an admin."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    m, ng = proxied
    prev = mlflow.get_tracking_uri()
    try:
        with as_user("bob", USERS["bob"]):
            c, run = log_a_run(ng.url, tmp_path, "bob", 0.75, note="through nginx")
            rm = unique("bob-model")
            c.create_registered_model(rm)
            assert c.create_model_version(rm, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id).version == "1"
            auth = get_app_client("basic-auth", tracking_uri=ng.url)
            with pytest.raises(MlflowException) as e:
                auth.create_user(unique("x"), "x-password-123")
            assert e.value.error_code == "PERMISSION_DENIED"
    finally:
        mlflow.set_tracking_uri(prev)
    # As the admin, straight to mlbox: bob is a user without a password.
    r = requests.get(m.url + "/api/2.0/mlflow/users/get", params={"username": "bob"}, auth=("admin", ADMIN_PW), timeout=30)
    assert r.status_code == 200 and r.json()["user"]["is_admin"] is False, r.text
    # The run is bob's: he created the experiment, so he holds MANAGE on it.
    r = requests.get(m.url + "/api/3.0/mlflow/users/permissions/get", auth=("admin", ADMIN_PW), timeout=30,
                     params={"username": "bob", "resource_type": "experiment", "resource_id": run.info.experiment_id})
    assert r.status_code == 200 and r.json()["permission"] == "MANAGE", r.text
    # The wrong password stops at nginx.
    r = requests.get(ng.url + "/api/2.0/mlflow/users/current", auth=("bob", "wrong"), timeout=30)
    assert r.status_code == 401


def test_admin_group_through_the_proxy(proxied):
    """alice's group in X-Forwarded-Groups makes her an admin: MLflow's
    admin client works for her through nginx."""
    from mlflow.server import get_app_client

    m, ng = proxied
    with as_user("alice", USERS["alice"]):
        auth = get_app_client("basic-auth", tracking_uri=ng.url)
        name = unique("made-by-alice")
        assert auth.create_user(name, "a-long-password-1").username == name
        assert auth.get_user("alice").is_admin is True


def test_headers_from_elsewhere_are_ignored(proxied):
    """The proxy's headers sent straight to mlbox (from 127.0.0.1, not the
    proxy's 127.0.0.2) count for nothing: no credentials, no user."""
    m, ng = proxied
    forged = {"X-Forwarded-User": "admin", "X-Forwarded-Groups": "mlbox-admins"}
    r = requests.get(m.url + "/api/2.0/mlflow/users/current", headers=forged, timeout=30)
    assert r.status_code == 401, r.text
    r = requests.post(m.url + "/api/2.0/mlflow/experiments/create", json={"name": unique("forged")},
                      headers=dict(forged, **{"X-Forwarded-User": "mallory"}), timeout=30)
    assert r.status_code == 401, r.text
    r = requests.get(m.url + "/api/2.0/mlflow/users/get", params={"username": "mallory"}, auth=("admin", ADMIN_PW), timeout=30)
    assert r.status_code == 404, r.text
    # Through nginx, a client's own X-Forwarded-User is replaced by the
    # user nginx checked.
    r = requests.get(ng.url + "/api/2.0/mlflow/users/current", headers=forged, auth=("bob", USERS["bob"]), timeout=30)
    assert r.status_code == 200 and r.json()["user"]["username"] == "bob", r.text
