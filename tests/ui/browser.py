"""Headless Chromium for the UI tests (tests/ui) and the UI benchmarks
(bench/ui), driven through Playwright's Python library (sync API).

The browser is the system's: Debian's `chromium` package, or $MLBOX_CHROMIUM,
launched with `executable_path=find_chromium()`. No browser is ever
downloaded (no `playwright install`); the playwright wheel brings only its
driver.

* Browser: one launched Chromium. Pages opened from it each get a fresh
  context (their own cookies and localStorage), which is cheap, so a test
  module launches one Browser and opens a page per test.
* Page (also exported as CDP, the name bench/ui uses): one page of a fresh
  context, with the app's readiness protocol (goto / act / wait_ready on
  <main data-state="ready">), eval/wait_for of JS expressions, raw DevTools
  commands through call(), the page's errors, and `page`, the Playwright
  page, for real input (locator clicks, fill, keyboard).
* render_html(browser, url): the DOM (page.content()) of url, loaded as a
  new document, once the app is ready; parse_html() makes it a small tree to
  query by data-testid.
"""
import atexit
import os
import shutil
import time
from html.parser import HTMLParser

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

# Added to Playwright's own Chromium flags (it already runs headless, without
# a sandbox, first-run UI, background networking, extensions, ...).
FLAGS = [
    "--disable-gpu", "--disable-quic", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--hide-scrollbars", "--mute-audio",
    "--no-default-browser-check",
]

# The UI tests' own variables: mlbox refuses MLBOX_* variables that are not
# config keys, so the servers the tests start do not get these.
TEST_ENV = ("MLBOX_REQUIRE_CHROMIUM", "MLBOX_CHROMIUM", "MLBOX_UI_URL")

# What eval() raises when the expression throws or the page went away.
CDPError = PlaywrightError


def find_chromium():
    env = os.environ.get("MLBOX_CHROMIUM")
    if env:
        return env if os.path.exists(env) else shutil.which(env)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def _port_flag(url):
    # Chrome refuses some ports (e.g. 5060, 6000); allow whichever the server got.
    from urllib.parse import urlsplit
    port = urlsplit(url).port
    return [f"--explicitly-allowed-ports={port}"] if port else []


# One Playwright driver (its Node process) for the whole Python process,
# shared by every Browser, started on first use and stopped at exit.
_PW = []


def _playwright():
    if not _PW:
        _PW.append(sync_playwright().start())
        atexit.register(_stop_playwright)
    return _PW[0]


def _stop_playwright():
    while _PW:
        try:
            _PW.pop().stop()
        except Exception:
            pass


class Browser:
    """A launched system Chromium. url_for_port: a URL whose port Chromium
    must be allowed to reach (see _port_flag)."""

    def __init__(self, chromium=None, url_for_port="", args=()):
        chromium = chromium or find_chromium()
        if not chromium:
            raise RuntimeError("chromium not found (apt-get install chromium, or set MLBOX_CHROMIUM)")
        self.browser = _playwright().chromium.launch(
            executable_path=chromium, headless=True,
            args=[*FLAGS, *_port_flag(url_for_port), *args])
        self._render_page = None  # render_html's

    def page(self, size=(1280, 900)):
        """A page in a fresh context of this browser."""
        return Page(browser=self, size=size)

    def close(self):
        if self._render_page is not None:
            self._render_page.close()
        try:
            self.browser.close()
        except Exception:
            pass


class Page:
    """One page of a fresh browser context.

    Page(chromium, url_for_port, size) launches its own Browser (closed with
    the page); Page(browser=b) opens one in b. `self.page` is the Playwright
    page, `self.context` its context.
    """

    def __init__(self, chromium=None, url_for_port="", size=(1280, 900), browser=None):
        self._own = browser is None
        self.browser = browser or Browser(chromium, url_for_port)
        self.context = self.browser.browser.new_context(
            viewport={"width": size[0], "height": size[1]})
        self.context.set_default_timeout(60_000)
        self.page = self.context.new_page()
        # The page's uncaught exceptions and console messages, shaped like the
        # DevTools events they come from (method, params).
        self.events = []
        self.page.on("pageerror", self._on_pageerror)
        self.page.on("console", self._on_console)
        self._session = None
        self._browser_session = None

    def _on_pageerror(self, err):
        self.events.append({"method": "Runtime.exceptionThrown", "params": {"exceptionDetails": {
            "text": err.message, "exception": {"description": err.stack or err.message}}}})

    def _on_console(self, msg):
        self.events.append({"method": "Runtime.consoleAPICalled", "params": {
            "type": msg.type, "args": [{"type": "string", "value": msg.text}]}})

    # --- raw DevTools protocol -------------------------------------------------------------

    def call(self, method, timeout=60, session=True, **params):
        """Send a DevTools command to the page (session=False: to the
        browser) and return its result. timeout is kept for the callers of
        the old client; Playwright has none for raw commands."""
        if session:
            if self._session is None:
                self._session = self.context.new_cdp_session(self.page)
                # As the old stdlib client did: without Page.enable in this
                # session, e.g. its Page.addScriptToEvaluateOnNewDocument
                # scripts never run.
                for domain in ("Page", "Runtime"):
                    self._session.send(f"{domain}.enable")
            return self._session.send(method, params)
        if self._browser_session is None:
            self._browser_session = self.browser.browser.new_browser_cdp_session()
        return self._browser_session.send(method, params)

    # --- JS ----------------------------------------------------------------------------------

    def eval(self, expr, timeout=60):
        """The value of the JS expression expr (a promise is awaited).
        timeout is kept for old callers; evaluation has no time limit."""
        return self.page.evaluate(expr)

    def wait_for(self, expr, timeout=30, interval=0.025):
        """Poll expr until it is truthy and return its value. An expression
        that throws (an element not there yet, a document being replaced)
        counts as not yet."""
        deadline = time.time() + timeout
        last = None
        while True:
            try:
                last = self.page.evaluate(expr)
            except PlaywrightError as e:
                last = e
            else:
                if last:
                    return last
            if time.time() >= deadline:
                raise TimeoutError(f"timed out waiting for {expr!r} (last value {last!r})")
            time.sleep(interval)

    # --- navigation and the app's readiness protocol ----------------------------------------

    def navigate(self, url):
        """Start loading url; returns once it is committed, not loaded."""
        self.page.goto(url, wait_until="commit")

    def goto(self, url, timeout=30):
        """Navigate (also a same-document #/ change) and wait for the app's
        <main data-state="ready">."""
        try:
            self.page.evaluate("document.querySelector('main')?.setAttribute('data-state', 'stale')")
        except PlaywrightError:
            pass
        self.page.goto(url, wait_until="commit", timeout=timeout * 1000)
        self.wait_ready(timeout)

    def act(self, action, timeout=30):
        """Do something that makes the app load (a JS string such as a
        click or history.back(), or a callable, e.g. one using real input
        through self.page) and wait until the app has settled again."""
        self.page.evaluate("document.querySelector('main').setAttribute('data-state', 'stale')")
        if callable(action):
            action()
        else:
            self.page.evaluate(action)
        self.wait_ready(timeout)

    def wait_ready(self, timeout=30, quiet=0.1):
        """Wait until <main data-state="ready"> has held for `quiet` seconds.

        The app sets "ready" 60 ms after its last tracked load; a view whose
        effects start the next loads (the run page: history, artifacts,
        logged models after runs/get) can run them just after that, going
        back to "loading". A "loading" spell lasts at least those 60 ms, so
        polling every 25 ms cannot miss one.
        """
        expr = "document.querySelector('main')?.dataset.state === 'ready'"
        deadline = time.time() + timeout
        since = None
        while True:
            try:
                ok = self.page.evaluate(expr)
            except PlaywrightError:
                ok = False
            now = time.time()
            if not ok:
                since = None
            elif since is None:
                since = now
            elif now - since >= quiet:
                return
            if now >= deadline:
                try:
                    state = self.page.evaluate("document.querySelector('main')?.dataset.state")
                except PlaywrightError as e:
                    state = e
                raise TimeoutError(f"<main> not ready for {quiet} s within {timeout} s (data-state {state!r})")
            time.sleep(0.025)

    def loc(self, testid, *more):
        """page.locator('[data-testid=testid] more...')."""
        return self.page.locator(" ".join([f'[data-testid="{testid}"]', *more]))

    # --- what the page shows and did --------------------------------------------------------

    def content(self):
        """The current DOM as HTML."""
        return self.page.content()

    def screenshot(self, path, full_page=False):
        """A PNG of the viewport (or the whole page) at path."""
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def errors(self):
        """Uncaught exceptions and console errors (including Chromium's
        failed-resource messages) seen so far."""
        out = []
        for e in self.events:
            if e["method"] == "Runtime.exceptionThrown":
                d = e["params"]["exceptionDetails"]
                out.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
            elif e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error":
                out.append("console: " + " ".join(str(a.get("value", "")) for a in e["params"]["args"]))
        return out

    def log(self):
        """The last of the page's console output and errors, for a failure message."""
        lines = []
        for e in self.events:
            p = e["params"]
            if e["method"] == "Runtime.exceptionThrown":
                lines.append("exception: " + p["exceptionDetails"]["exception"]["description"])
            else:
                lines.append(f"{p['type']}: " + " ".join(str(a.get("value", "")) for a in p["args"]))
        return "\n".join(lines)[-3000:]

    def close(self):
        try:
            self.context.close()
        except Exception:
            pass
        if self._own:
            self.browser.close()


# The name bench/ui (and the tests before Playwright) use.
CDP = Page


def render_html(browser, url, timeout=30):
    """The DOM of url, loaded as a new document, once the app is ready (or
    the timeout passed: the caller checks <main data-state>).

    One page per Browser serves every render (a fresh context each time
    costs more than the render): it goes through about:blank first, so each
    render is a new document, with the origin's localStorage and
    sessionStorage cleared. The app's assets are revalidated (no-cache) and
    the API is never cached (no-store), so nothing else carries over.
    """
    p = browser._render_page
    if p is None:
        p = browser._render_page = browser.page()
    try:
        p.page.evaluate("localStorage.clear(); sessionStorage.clear()")
    except PlaywrightError:
        pass  # about:blank, or another origin
    p.page.goto("about:blank")
    p.page.goto(url, wait_until="commit", timeout=timeout * 1000)
    try:
        p.wait_ready(timeout)
    except TimeoutError:
        pass
    return p.content()


# --- a tiny DOM for assertions ------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "param", "keygen"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag = tag
        self.attrs = dict(attrs)
        self.parent = parent
        self.children = []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.iter()

    def find_all(self, tag=None, testid=None, **attrs):
        out = []
        for n in self.iter():
            if tag and n.tag != tag:
                continue
            if testid is not None and n.attrs.get("data-testid") != testid:
                continue
            if any(n.attrs.get(k.replace("_", "-")) != v for k, v in attrs.items()):
                continue
            out.append(n)
        return out

    def find(self, tag=None, testid=None, **attrs):
        found = self.find_all(tag, testid, **attrs)
        return found[0] if found else None

    def get(self, name, default=None):
        return self.attrs.get(name, default)

    def __repr__(self):
        return f"<{self.tag} {self.attrs}>"


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, [(k, v if v is not None else "") for k, v in attrs], self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, [(k, v or "") for k, v in attrs], self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse_html(html):
    b = _Builder()
    b.feed(html)
    b.close()
    return b.root
