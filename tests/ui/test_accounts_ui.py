"""The UI with accounts (auth.enabled): the login page and its session
cookie, CSRF protection, logging out, and the admin pages for users,
permissions and tokens, in real headless Chromium against a real mlbox.

    MLBOX_BIN=bin/mlbox .venv/bin/python -m pytest -q tests/ui/test_accounts_ui.py
"""
import base64
import json
import os
import sys
import urllib.error
import urllib.request
import uuid

import pytest
from playwright.sync_api import expect

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "compat"))
from browser import TEST_ENV, Browser  # noqa: E402
from mlboxproc import MlboxProcess  # noqa: E402

ADMIN_PW = "ui-admin-password"
@pytest.fixture(scope="module")
def server(chromium):
    proc = MlboxProcess(env={"MLBOX_AUTH_ENABLED": "true", "MLBOX_AUTH_ADMIN_PASSWORD": ADMIN_PW})
    for k in TEST_ENV:
        proc.env.pop(k, None)
    proc.start()
    try:
        yield proc.url
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def browser(chromium, server):
    b = Browser(chromium, server)
    try:
        yield b
    finally:
        b.close()


def api(url, method, path, body=None, user=None, password=None, bearer=None):
    """A request straight to mlbox; returns (status, json)."""
    req = urllib.request.Request(url + path, method=method)
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    if user:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    if bearer:
        req.add_header("Authorization", "Bearer " + bearer)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {}


def log_in(ui, user, password):
    ui.loc("login-username").fill(user)
    ui.loc("login-password").fill(password)
    ui.act(lambda: ui.loc("login-submit").click())


def test_login_session_cookie_csrf_logout(ui, server):
    page = ui.page
    # Any page sends a visitor without a session to the login page, and
    # back to that page after logging in.
    page.goto(server + "/#/models", wait_until="commit")
    ui.loc("login-form").wait_for()
    assert "#/login" in page.url and "next=" in page.url
    # A wrong password: the message, no cookie, no browser prompt.
    ui.loc("login-username").fill("admin")
    ui.loc("login-password").fill("not-the-password")
    ui.loc("login-submit").click()
    expect(ui.loc("login-error")).to_contain_text("Wrong user name or password")
    assert not [c for c in ui.context.cookies() if c["name"] == "mlbox_session"]
    log_in(ui, "admin", ADMIN_PW)
    expect(page).to_have_url(f"{server}/#/models")
    expect(ui.loc("current-user")).to_have_text("admin")
    expect(ui.loc("nav-admin")).to_be_visible()
    cookie = [c for c in ui.context.cookies() if c["name"] == "mlbox_session"][0]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["secure"] is False
    assert page.evaluate("document.cookie").find("mlbox_session") < 0  # HttpOnly: not readable by scripts

    # The UI's writes work (they carry the CSRF token) ...
    name = f"ui-acct-{uuid.uuid4().hex[:8]}"
    ui.goto(server + "/#/experiments")
    ui.loc("experiment-new-name").fill(name)
    ui.act(lambda: ui.loc("experiment-new-name").press("Enter"))
    ui.loc("experiment-link").filter(has_text=name).wait_for()
    # ... a script using the cookie without it is refused.
    st = page.evaluate("""async (n) => (await fetch('/ajax-api/2.0/mlflow/experiments/create', {
        method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({name: n})})).status""", name + "-x")
    assert st == 403
    st, _ = api(server, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=" + name + "-x", user="admin", password=ADMIN_PW)
    assert st == 404

    # Logging out ends the session: the old cookie is worthless.
    ui.loc("logout").click()
    ui.loc("login-form").wait_for()
    assert not [c for c in ui.context.cookies() if c["name"] == "mlbox_session"]
    ui.context.add_cookies([dict(cookie)])
    page.goto(server + "/#/experiments", wait_until="commit")
    ui.loc("login-form").wait_for()


def test_admin_pages_users_permissions_tokens(ui, browser, server):
    page = ui.page
    page.goto(server + "/#/login", wait_until="commit")
    log_in(ui, "admin", ADMIN_PW)
    carol = f"carol-{uuid.uuid4().hex[:6]}"
    # Users: create one.
    ui.goto(server + "/#/admin/users")
    ui.loc("user-new-name").fill(carol)
    ui.loc("user-new-password").fill("carol-password-1")
    ui.act(lambda: ui.loc("user-create").click())
    row = ui.loc("user-row").filter(has=page.locator(f'[data-testid=user-link]:text-is("{carol}")'))
    row.wait_for()
    # A too-short password: the server's message.
    ui.loc("user-new-name").fill(carol + "-2")
    ui.loc("user-new-password").fill("short")
    ui.act(lambda: ui.loc("user-create").click())
    expect(ui.loc("users-error-message")).to_contain_text("at least 12")

    # Her page: grant EDIT on an experiment, read back with MLflow's API.
    st, exp = api(server, "POST", "/api/2.0/mlflow/experiments/create", {"name": f"for-{carol}"}, user="admin", password=ADMIN_PW)
    assert st == 200
    eid = exp["experiment_id"]
    ui.act(lambda: row.locator("[data-testid=user-link]").click())
    expect(ui.loc("user-name")).to_have_text(carol)
    ui.loc("grant-resource").fill(eid)
    ui.loc("grant-level").select_option("EDIT")
    ui.act(lambda: ui.loc("grant-submit").click())
    perm = ui.loc("perm-row").filter(has=page.locator("[data-testid=perm-level]"))
    expect(page.locator(f'[data-testid=perm-row][data-resource="experiment:{eid}"] [data-testid=perm-level]')).to_have_text("EDIT")
    st, got = api(server, "GET", f"/api/3.0/mlflow/users/permissions/get?username={carol}&resource_type=experiment&resource_id={eid}",
                  user="admin", password=ADMIN_PW)
    assert st == 200 and got["permission"] == "EDIT", got
    # Granting again changes the level.
    ui.loc("grant-resource").fill(eid)
    ui.loc("grant-level").select_option("READ")
    ui.act(lambda: ui.loc("grant-submit").click())
    expect(page.locator(f'[data-testid=perm-row][data-resource="experiment:{eid}"] [data-testid=perm-level]')).to_have_text("READ")
    assert perm.count() == 1

    # Carol, in her own browser context: no admin pages; a token of her own.
    other = browser.page()
    try:
        other.page.goto(server + "/#/experiments", wait_until="commit")
        log_in(other, carol, "carol-password-1")
        expect(other.loc("current-user")).to_have_text(carol)
        expect(other.loc("nav-admin")).to_be_hidden()
        other.goto(server + "/#/account/tokens")
        other.loc("token-name").fill("ci")
        other.loc("token-expiry").select_option("30")
        other.act(lambda: other.loc("token-create").click())
        secret = other.loc("token-secret").input_value()
        assert secret.startswith("mlbox_")
        other.loc("token-row").first.wait_for()
        st, me = api(server, "GET", "/api/2.0/mlflow/users/current", bearer=secret)
        assert st == 200 and me["user"]["username"] == carol
        # She may list users (as in MLflow) but not change them.
        other.goto(server + "/#/admin/users")
        admin_row = other.loc("user-row").filter(has=other.page.locator('[data-testid=user-link]:text-is("admin")'))
        other.page.once("dialog", lambda d: d.accept())
        other.act(lambda: admin_row.locator("[data-testid=user-delete]").click())
        expect(other.loc("users-error-code")).to_have_text("PERMISSION_DENIED")
    finally:
        other.close()

    # The admin sees and revokes her token from her page.
    ui.goto(server + "/#/admin/users")
    ui.act(lambda: row.locator("[data-testid=user-link]").click())
    tok = ui.loc("token-row")
    expect(tok).to_have_count(1)
    page.once("dialog", lambda d: d.accept())
    ui.act(lambda: tok.locator("[data-testid=token-revoke]").click())
    expect(ui.loc("token-row")).to_have_count(0)
    st, _ = api(server, "GET", "/api/2.0/mlflow/users/current", bearer=secret)
    assert st == 401
    # And deletes her.
    ui.act(lambda: page.go_back())
    page.once("dialog", lambda d: d.accept())
    ui.act(lambda: row.locator("[data-testid=user-delete]").click())
    row.wait_for(state="detached")
    st, _ = api(server, "GET", f"/api/2.0/mlflow/users/get?username={carol}", user="admin", password=ADMIN_PW)
    assert st == 404
    # The refused requests above are logged by the browser; nothing else.
    errs = [e for e in ui.errors() if not e.startswith("console: Failed to load resource")]
    assert errs == [], errs
