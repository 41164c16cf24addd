"""Accounts (auth.enabled) with the real MLflow client and MLflow's own admin
client (mlflow.server.get_app_client("basic-auth")): one scenario of users,
grants, denials and password changes, played against mlbox and against a
real `mlflow server --app-name basic-auth` (3.x), and both must answer
alike, step by step.

Credentials are what MLflow's client sends: MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD, read at every request.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from accounts_common import as_token, as_user, log_a_run
from conftest import TARGET, unique
from mlboxproc import MlboxProcess, free_port

ADMIN_PW = "compat-admin-password"

pytestmark = pytest.mark.skipif(TARGET != "mlbox", reason="starts its own servers")


def _mlflow_major():
    import mlflow

    return int(mlflow.__version__.split(".")[0])


class MlflowAuthServer:
    """`mlflow server --app-name basic-auth` with its own auth database."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mlflow-auth-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, timeout=120):
        import mlflow.server.auth as auth_pkg  # noqa: F401  (needs Flask-WTF: mlflow[auth])

        ini = os.path.join(self.dir, "basic_auth.ini")
        with open(ini, "w") as f:
            f.write("[mlflow]\ndefault_permission = READ\n"
                    f"database_uri = sqlite:///{self.dir}/basic_auth.db\n"
                    "admin_username = admin\n"
                    "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
        env = dict(os.environ, MLFLOW_AUTH_CONFIG_PATH=ini, MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PW,
                   MLFLOW_FLASK_SERVER_SECRET_KEY="compat-secret")
        for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
            env.pop(k, None)
        exe = os.path.join(os.path.dirname(sys.executable), "mlflow")
        self._log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(
            [exe, "server", "--app-name", "basic-auth", "--host", "127.0.0.1", "--port", str(self.port),
             "--backend-store-uri", f"sqlite:///{self.dir}/mlflow.db",
             "--artifacts-destination", f"{self.dir}/mlartifacts", "--workers", "1"],
            cwd=self.dir, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mlflow server exited:\n" + self.log())
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("mlflow server did not start:\n" + self.log())

    def log(self):
        with open(os.path.join(self.dir, "server.log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def mlbox_accounts():
    with MlboxProcess(env={"MLBOX_AUTH_ENABLED": "true", "MLBOX_AUTH_ADMIN_PASSWORD": ADMIN_PW}) as p:
        yield p


@pytest.fixture(scope="module")
def mlflow_accounts():
    if _mlflow_major() < 3:
        pytest.skip("the reference basic-auth server is MLflow 3's")
    srv = MlflowAuthServer()
    try:
        srv.start()
    except ImportError as e:
        pytest.fail(f"MLflow's basic-auth app cannot start here: {e}")
    yield srv
    srv.stop()


def scenario(url, tag):
    """Plays the scenario against url; returns [(step, outcome)], where the
    outcome is the value the step returned or the error code it raised."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    out = []
    alice, bob = f"alice-{tag}", f"bob-{tag}"
    pw = {"admin": ADMIN_PW, alice: "alice-password-1", bob: "bob-password-1"}

    def step(name, who, fn):
        with as_user(who, pw.get(who)):
            try:
                res = fn(MlflowClient(tracking_uri=url, registry_uri=url), get_app_client("basic-auth", tracking_uri=url))
            except MlflowException as e:
                res = ("error", e.error_code)
        out.append((name, res))
        return res

    step("anonymous search", None, lambda c, a: len(c.search_experiments()) >= 0)
    step("create alice", "admin", lambda c, a: (a.create_user(alice, pw[alice]).username, a.get_user(alice).is_admin))
    step("create bob", "admin", lambda c, a: a.create_user(bob, pw[bob]).username == bob)
    step("create alice again", "admin", lambda c, a: a.create_user(alice, "another-password"))
    step("short password", "admin", lambda c, a: a.create_user(f"carol-{tag}", "short"))
    step("bob creates a user", bob, lambda c, a: a.create_user(f"eve-{tag}", "eve-password-1"))
    step("bob reads alice", bob, lambda c, a: a.get_user(alice).username)
    step("bob reads himself", bob, lambda c, a: a.get_user(bob).username)
    with as_user(alice, "not-her-password"):
        try:
            MlflowClient(tracking_uri=url).search_experiments()
            out.append(("alice with a wrong password", "ok"))
        except MlflowException as e:
            out.append(("alice with a wrong password", e.error_code))

    exp = step("alice creates an experiment", alice, lambda c, a: c.create_experiment(f"exp-{tag}"))
    step("alice's permission", alice, lambda c, a: (lambda r: (r.allowed, r.permission))(
        a.get_user_permission(alice, "experiment", exp)))
    step("bob's permission", bob, lambda c, a: (lambda r: (r.allowed, r.permission))(
        a.get_user_permission(bob, "experiment", exp)))
    step("bob reads the experiment", bob, lambda c, a: c.get_experiment(exp).name == f"exp-{tag}")
    step("bob creates a run", bob, lambda c, a: c.create_run(exp).info.experiment_id)
    step("bob grants himself", bob, lambda c, a: a.grant_user_permission(bob, "experiment", exp, "EDIT"))
    step("alice grants bob EDIT", alice, lambda c, a: a.grant_user_permission(bob, "experiment", exp, "EDIT"))
    step("alice grants bob EDIT again", alice, lambda c, a: a.grant_user_permission(bob, "experiment", exp, "EDIT"))
    run = step("bob creates a run with EDIT", bob, lambda c, a: c.create_run(exp).info.run_id)
    step("bob logs a metric", bob, lambda c, a: c.log_metric(run, "loss", 0.5))
    step("bob deletes the run", bob, lambda c, a: c.delete_run(run))
    step("alice deletes the run", alice, lambda c, a: c.delete_run(run))
    step("bob's permission now", bob, lambda c, a: (lambda r: (r.allowed, r.permission))(
        a.get_user_permission(bob, "experiment", exp)))
    step("alice revokes", alice, lambda c, a: a.revoke_user_permission(bob, "experiment", exp))
    step("alice revokes again", alice, lambda c, a: a.revoke_user_permission(bob, "experiment", exp))
    step("bob creates a run after revoke", bob, lambda c, a: c.create_run(exp).info.experiment_id)
    step("admin denies bob", "admin", lambda c, a: a.grant_user_permission(bob, "experiment", exp, "DENY"))
    step("bob reads a denied experiment", bob, lambda c, a: c.get_experiment(exp).name)
    step("bob searches", bob, lambda c, a: exp in [e.experiment_id for e in c.search_experiments(max_results=1000)])
    step("bad permission", "admin", lambda c, a: a.grant_user_permission(alice, "experiment", exp, "SUPER"))
    step("bad resource type", "admin", lambda c, a: a.grant_user_permission(alice, "thing", exp, "READ"))

    model = f"model-{tag}"
    step("alice creates a model", alice, lambda c, a: c.create_registered_model(model).name == model)
    step("bob tags the model", bob, lambda c, a: c.set_registered_model_tag(model, "k", "v"))
    step("alice grants bob MANAGE on it", alice, lambda c, a: a.grant_user_permission(bob, "registered_model", model, "MANAGE"))
    step("bob tags the model now", bob, lambda c, a: c.set_registered_model_tag(model, "k", "v"))
    step("bob renames it", bob, lambda c, a: c.rename_registered_model(model, model + "-2") is None)
    step("bob's permission follows", bob, lambda c, a: (lambda r: (r.allowed, r.permission))(
        a.get_user_permission(bob, "registered_model", model + "-2")))

    # Roles: a named set of permissions, assigned to users.
    carol = f"carol-{tag}"
    pw[carol] = "carol-password-1"
    step("create carol", "admin", lambda c, a: a.create_user(carol, pw[carol]).username == carol)
    step("carol creates a role", carol, lambda c, a: a.create_role("default", f"editors-{tag}").name)
    role = step("admin creates a role", "admin", lambda c, a: a.create_role("default", f"editors-{tag}", description="all experiments"))
    role_id = role.id if not isinstance(role, tuple) else 0
    out[-1] = ("admin creates a role", role if isinstance(role, tuple) else (role.name, role.workspace, role.description, role.permissions))
    step("the same role again", "admin", lambda c, a: a.create_role("default", f"editors-{tag}"))
    step("a reserved role name", "admin", lambda c, a: a.create_role("default", "__user_99__"))
    step("role permission", "admin", lambda c, a: (lambda p: (p.resource_type, p.resource_pattern, p.permission))(
        a.add_role_permission(role_id, "experiment", "*", "EDIT")))
    step("role permission on a run id", "admin", lambda c, a: a.add_role_permission(role_id, "run", "abc", "READ"))
    step("workspace READ", "admin", lambda c, a: a.add_role_permission(role_id, "workspace", "*", "READ"))
    step("carol creates a run before", carol, lambda c, a: c.create_run(exp).info.experiment_id == exp)
    step("assign carol", "admin", lambda c, a: a.assign_role(carol, role_id).role_id == role_id)
    step("assign carol again", "admin", lambda c, a: a.assign_role(carol, role_id))
    step("carol creates a run with the role", carol, lambda c, a: c.create_run(exp).info.experiment_id == exp)
    step("carol's permission", carol, lambda c, a: (lambda r: (r.allowed, r.permission))(
        a.get_user_permission(carol, "experiment", exp)))
    step("carol's roles", carol, lambda c, a: sorted(r.name for r in a.list_user_roles(carol)))
    step("carol reads the role", carol, lambda c, a: a.get_role(role_id).name)
    step("carol lists the role's users", carol, lambda c, a: len(a.list_role_users(role_id)))
    step("role users", "admin", lambda c, a: len(a.list_role_users(role_id)))
    step("update the role", "admin", lambda c, a: a.update_role(role_id, description="changed").description)
    step("update nothing", "admin", lambda c, a: a.update_role(role_id))
    step("role permissions", "admin", lambda c, a: [(p.resource_type, p.permission) for p in a.list_role_permissions(role_id)])
    rp_id = a_perm = None
    with as_user("admin", ADMIN_PW):
        a_perm = get_app_client("basic-auth", tracking_uri=url).list_role_permissions(role_id)
        rp_id = a_perm[0].id if a_perm else 0
    step("downgrade the role permission", "admin", lambda c, a: a.update_role_permission(rp_id, "READ").permission)
    step("carol creates a run after", carol, lambda c, a: c.create_run(exp).info.experiment_id == exp)
    step("unassign carol", "admin", lambda c, a: a.unassign_role(carol, role_id))
    step("unassign carol again", "admin", lambda c, a: a.unassign_role(carol, role_id))
    step("remove the role permission", "admin", lambda c, a: a.remove_role_permission(rp_id))
    step("delete the role", "admin", lambda c, a: a.delete_role(role_id))
    step("get the deleted role", "admin", lambda c, a: a.get_role(role_id))

    step("bob changes his password without the old one", bob, lambda c, a: a.update_user_password(bob, "bob-password-2"))
    step("admin changes bob's password", "admin", lambda c, a: a.update_user_password(bob, "bob-password-2"))
    step("bob with the old password", bob, lambda c, a: len(c.search_experiments()) >= 0)
    pw[bob] = "bob-password-2"
    step("bob with the new password", bob, lambda c, a: len(c.search_experiments()) >= 0)
    step("bob makes himself admin", bob, lambda c, a: a.update_user_admin(bob, True))
    step("admin makes bob admin", "admin", lambda c, a: a.update_user_admin(bob, True))
    step("bob as an admin reads the denied experiment", bob, lambda c, a: c.get_experiment(exp).name == f"exp-{tag}")
    step("admin deletes itself", "admin", lambda c, a: a.delete_user("admin"))
    step("admin deletes alice", "admin", lambda c, a: a.delete_user(alice))
    step("alice after deletion", alice, lambda c, a: len(c.search_experiments()) >= 0)
    step("get a deleted user", "admin", lambda c, a: a.get_user(alice))
    return out


def _normalize(steps):
    """Ids differ between servers (experiment and run ids): keep their kind."""
    norm = []
    for name, res in steps:
        if isinstance(res, str) and name in ("alice creates an experiment", "bob creates a run with EDIT"):
            res = "<id>"
        norm.append((name, res))
    return norm


def test_accounts_answer_like_mlflow(mlbox_accounts, mlflow_accounts):
    tag = unique("acct")  # the same names on both servers
    ours = _normalize(scenario(mlbox_accounts.url, tag))
    theirs = _normalize(scenario(mlflow_accounts.url, tag))
    diffs = [(a[0], a[1], b[1]) for a, b in zip(ours, theirs) if a != b]
    assert not diffs, "steps where mlbox and MLflow differ (step, mlbox, mlflow):\n" + "\n".join(map(repr, diffs))
    # And the scenario did what it meant to (not just the same on both sides).
    got = dict(ours)
    assert got["create alice"] == (got["create alice"][0], False)
    assert got["create alice again"] == ("error", "RESOURCE_ALREADY_EXISTS")
    assert got["bob creates a user"] == ("error", "PERMISSION_DENIED")
    assert got["bob creates a run"] == ("error", "PERMISSION_DENIED")
    assert got["alice's permission"] == (True, "MANAGE")
    assert got["bob's permission"] == (False, "READ")
    assert got["bob logs a metric"] is None
    assert got["bob reads a denied experiment"] == ("error", "PERMISSION_DENIED")
    assert got["bob searches"] is False
    assert got["bob's permission follows"] == (True, "MANAGE")
    assert got["bob with the old password"] == ("error", "UNAUTHENTICATED")
    assert got["alice after deletion"] == ("error", "UNAUTHENTICATED")
    assert got["carol creates a run before"] == ("error", "PERMISSION_DENIED")
    assert got["carol creates a run with the role"] is True
    assert got["carol's permission"] == (True, "EDIT")
    assert got["carol creates a run after"] == ("error", "PERMISSION_DENIED")
    assert got["the same role again"] == ("error", "RESOURCE_ALREADY_EXISTS")


def test_tracking_with_accounts(mlbox_accounts, tmp_path):
    """A user logs a whole run with artifacts and a model version through the
    fluent API, as any MLflow script does."""
    import mlflow
    from mlflow.server import get_app_client

    url = mlbox_accounts.url
    name = unique("dana")
    with as_user("admin", ADMIN_PW):
        get_app_client("basic-auth", tracking_uri=url).create_user(name, "dana-password-1")
    prev = mlflow.get_tracking_uri()  # the session's server: restored below
    try:
        with as_user(name, "dana-password-1"):
            c, run = log_a_run(url, tmp_path, "dana", 0.25)
            rm = unique("dana-model")
            c.create_registered_model(rm)
            v = c.create_model_version(rm, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
            assert v.version == "1"
    finally:
        mlflow.set_tracking_uri(prev)


@pytest.mark.skipif(_mlflow_major() >= 3, reason="the 2.x client's own check")
def test_two_x_admin_client(mlbox_accounts):
    """MLflow 2.x's AuthServiceClient reads experiment_permissions and
    registered_model_permissions from every user: mlbox sends them."""
    from mlflow.server import get_app_client

    with as_user("admin", ADMIN_PW):
        a = get_app_client("basic-auth", tracking_uri=mlbox_accounts.url)
        name = unique("frank")
        assert a.create_user(name, "frank-password-1").username == name
        assert a.get_user(name).is_admin is False
        a.update_user_admin(name, True)
        assert a.get_user(name).is_admin is True
        a.delete_user(name)


def _create_token(url, user, password, **body):
    import requests

    r = requests.post(url + "/api/mlbox/v1/tokens", json=body, auth=(user, password), timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def test_tracking_with_a_token(mlbox_accounts, tmp_path):
    """A personal access token in MLFLOW_TRACKING_TOKEN does what its user
    may (a whole fluent run); an inference-only token is refused by every
    tracking call; a revoked token is refused at once."""
    import mlflow
    import requests
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    url = mlbox_accounts.url
    name = unique("erin")
    with as_user("admin", ADMIN_PW):
        get_app_client("basic-auth", tracking_uri=url).create_user(name, "erin-password-1")
    tok = _create_token(url, name, "erin-password-1", name="ci", expires_in_days=7)
    assert tok["secret"].startswith("mlbox_") and tok["token"]["user"] == name
    prev = mlflow.get_tracking_uri()
    try:
        with as_token(tok["secret"]):
            c, run = log_a_run(url, tmp_path, "erin", 0.5)
            rm = unique("erin-model")
            c.create_registered_model(rm)
            # What the user may not do, the token may not either.
            with pytest.raises(MlflowException) as e:
                get_app_client("basic-auth", tracking_uri=url).create_user(unique("x"), "x-password-123")
            assert e.value.error_code == "PERMISSION_DENIED"
        # Erin made the model, so she may USE it: an inference token for it.
        infer = _create_token(url, name, "erin-password-1", name="edge", models=[rm])
        assert infer["token"]["kind"] == "inference" and infer["token"]["models"] == [rm]
        with as_token(infer["secret"]):
            c = MlflowClient(tracking_uri=url, registry_uri=url)
            for call in (lambda: c.search_experiments(), lambda: c.get_registered_model(rm),
                         lambda: c.create_experiment(unique("nope"))):
                with pytest.raises(MlflowException) as e:
                    call()
                assert e.value.error_code == "PERMISSION_DENIED"
        r = requests.delete(f"{url}/api/mlbox/v1/tokens/{tok['token']['id']}", auth=(name, "erin-password-1"), timeout=30)
        assert r.status_code == 200, r.text
        with as_token(tok["secret"]):
            with pytest.raises(MlflowException) as e:
                MlflowClient(tracking_uri=url).get_run(run.info.run_id)
            assert e.value.error_code == "UNAUTHENTICATED"
    finally:
        mlflow.set_tracking_uri(prev)


def test_two_approvals_need_two_people(mlbox_accounts):
    """A gate of 2 approvals on the champion alias: one user approving twice
    (or naming someone else as the approver) is not enough; a second user
    is. The alias is moved with MLflow's own client."""
    import requests
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    url = mlbox_accounts.url
    ann, ben = unique("ann"), unique("ben")
    rm = unique("gated")
    with as_user("admin", ADMIN_PW):
        auth = get_app_client("basic-auth", tracking_uri=url)
        for u in (ann, ben):
            auth.create_user(u, u + "-password")
        c = MlflowClient(tracking_uri=url, registry_uri=url)
        c.create_registered_model(rm)
        run = c.create_run("0")
        v = c.create_model_version(rm, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id).version
    for u in (ann, ben):  # MLflow 3's grant API (2.x clients have no method for it)
        r = requests.post(f"{url}/api/3.0/mlflow/users/permissions/grant", auth=("admin", ADMIN_PW), timeout=30,
                          json={"username": u, "resource_type": "registered_model", "resource_id": rm, "permission": "EDIT"})
        assert r.status_code == 200, r.text
    r = requests.put(f"{url}/api/mlbox/v1/models/{rm}/gates", auth=("admin", ADMIN_PW), timeout=30,
                     json={"gates": [{"name": "two-approvals", "targets": ["alias:champion"], "approvals": 2}]})
    assert r.status_code == 200, r.text
    approvals = f"{url}/api/mlbox/v1/models/{rm}/versions/{v}/approvals"

    def approve(who, body=None):
        return requests.post(approvals, json=body or {}, auth=(who, who + "-password"), timeout=30)

    def promote():
        with as_user("admin", ADMIN_PW):
            MlflowClient(tracking_uri=url, registry_uri=url).set_registered_model_alias(rm, "champion", v)

    assert approve(ann).status_code == 200
    assert approve(ann).status_code == 200  # again: still one approver
    r = approve(ann, {"approver": ben})  # the body cannot name someone else
    assert r.status_code == 400 and "authenticated user" in r.json()["message"], r.text
    with pytest.raises(MlflowException) as e:
        promote()
    assert e.value.error_code == "PERMISSION_DENIED" and "two-approvals" in e.value.message
    got = requests.get(approvals, auth=("admin", ADMIN_PW), timeout=30).json()["approvals"]
    assert {a["approver"] for a in got} == {ann}
    assert approve(ben).status_code == 200
    promote()
    with as_user("admin", ADMIN_PW):
        assert MlflowClient(tracking_uri=url, registry_uri=url).get_model_version_by_alias(rm, "champion").version == v
