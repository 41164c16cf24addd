"""Headless Chromium helpers for the UI tests, using only the stdlib.

* dump_dom(url) / screenshot(url, path): one `chromium --headless` run each
  (`--dump-dom` / `--screenshot`, with a virtual-time budget so the page's
  fetches and timers settle first).
* CDP: a minimal Chrome DevTools Protocol client over --remote-debugging-pipe
  (NUL-separated JSON on fds 3/4) for the tests that click and type.
* parse_html(): the dumped DOM as a small tree to query by data-testid.

No browser is ever downloaded: Chromium comes from the system (Debian's
`chromium` package) or $MLBOX_CHROMIUM.
"""
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from html.parser import HTMLParser

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps",
    "--hide-scrollbars", "--mute-audio", "--no-default-browser-check",
]


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


def _run(chromium, args, url, timeout):
    ud = tempfile.mkdtemp(prefix="mlbox-chromium-")
    try:
        p = subprocess.run([chromium, *FLAGS, f"--user-data-dir={ud}", *_port_flag(url), *args, url],
                           capture_output=True, timeout=timeout)
        return p
    finally:
        shutil.rmtree(ud, ignore_errors=True)


def dump_dom(chromium, url, budget_ms=10000, timeout=120):
    p = _run(chromium, [f"--virtual-time-budget={budget_ms}", "--dump-dom"], url, timeout)
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0 or "<html" not in out:
        raise RuntimeError(f"chromium --dump-dom {url} failed ({p.returncode}):\n"
                           f"{p.stderr.decode('utf-8', 'replace')[-3000:]}")
    return out


def screenshot(chromium, url, path, size=(1280, 900), budget_ms=10000, timeout=120):
    p = _run(chromium, [f"--virtual-time-budget={budget_ms}", f"--window-size={size[0]},{size[1]}",
                        f"--screenshot={path}"], url, timeout)
    if p.returncode != 0 or not os.path.exists(path):
        raise RuntimeError(f"chromium --screenshot {url} failed ({p.returncode}):\n"
                           f"{p.stderr.decode('utf-8', 'replace')[-3000:]}")
    return path


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


# --- DevTools protocol over a pipe ---------------------------------------------------------

def _high_fd(fd):
    import fcntl
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)
    os.close(fd)
    return new


class CDPError(RuntimeError):
    pass


class CDP:
    """Chromium driven through --remote-debugging-pipe; one page (self.session)."""

    def __init__(self, chromium, url_for_port="", size=(1280, 900)):
        self.ud = tempfile.mkdtemp(prefix="mlbox-chromium-")
        # stderr to a file: Chromium is chatty and a full pipe would block it.
        self._log = tempfile.TemporaryFile()
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()
        # Move the child's ends above 3/4 so the redirections below never
        # clobber or close one another.
        to_child_r, from_child_w = (_high_fd(to_child_r), _high_fd(from_child_w))
        # bash puts the pipe ends on the fds Chromium expects (3: commands in,
        # 4: replies out) and closes the originals.
        script = f'exec "$@" 3<&{to_child_r} 4>&{from_child_w} {to_child_r}<&- {from_child_w}>&-'
        self.proc = subprocess.Popen(
            ["bash", "-c", script, "bash", chromium, *FLAGS, f"--user-data-dir={self.ud}",
             *_port_flag(url_for_port), f"--window-size={size[0]},{size[1]}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_child_r, from_child_w), stdout=subprocess.DEVNULL, stderr=self._log)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events = []
        self.session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _send(self, msg):
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self._w, data)
            data = data[n:]

    def _recv(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no reply from chromium")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise CDPError("chromium closed the pipe\n" + self.log())
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, timeout=60, session=True, **params):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session and self.session:
            msg["sessionId"] = self.session
        self._send(msg)
        deadline = time.time() + timeout
        while True:
            m = self._recv(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise CDPError(f"{method}: {m['error']}")
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def eval(self, expr, timeout=60):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True,
                      timeout=timeout)
        if "exceptionDetails" in r:
            raise CDPError(f"evaluating {expr!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expr, timeout=30, interval=0.05):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.eval(expr)
            except CDPError as e:  # e.g. the document is being replaced
                last = e
            else:
                if last:
                    return last
            time.sleep(interval)
        raise TimeoutError(f"timed out waiting for {expr!r} (last value {last!r})")

    def log(self):
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-3000:]

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def goto(self, url, timeout=30):
        """Navigate (also a same-document #/ change) and wait for the app's
        <main data-state="ready">."""
        try:
            self.eval("document.querySelector('main')?.setAttribute('data-state', 'stale')")
        except CDPError:
            pass
        self.navigate(url)
        self.wait_ready(timeout)

    def act(self, js, timeout=30):
        """Run js (a click, a submit, history.back()) that makes the app load
        something, and wait until it has settled again."""
        self.eval("document.querySelector('main').setAttribute('data-state', 'stale')")
        self.eval(js)
        self.wait_ready(timeout)

    def wait_ready(self, timeout=30):
        self.wait_for("document.querySelector('main')?.dataset.state === 'ready'", timeout)

    def errors(self):
        """Uncaught exceptions and console/log errors seen so far."""
        out = []
        for e in self.events:
            if e["method"] == "Runtime.exceptionThrown":
                d = e["params"]["exceptionDetails"]
                out.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
            elif e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error":
                out.append("log: " + e["params"]["entry"]["text"])
            elif e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error":
                out.append("console: " + " ".join(str(a.get("value", a.get("description", "")))
                                                  for a in e["params"]["args"]))
        return out

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        shutil.rmtree(self.ud, ignore_errors=True)
