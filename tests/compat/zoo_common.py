"""What the model-zoo tests (test_zoo_*.py) share: waiting for mlbox's background compile,
calling /invocations, and comparing answers (a plain module, not a test file)."""
import math
import time

import requests


def wait_compiled(client, name, version, timeout=60):
    """The version's mlbox.compile tag, once it is no longer pending."""
    deadline = time.time() + timeout
    state = None
    while time.time() < deadline:
        state = client.get_model_version(name, version).tags.get("mlbox.compile")
        if state and state != "pending":
            return state
        time.sleep(0.05)
    raise AssertionError(f"{name} v{version}: still {state!r} after {timeout}s")


def invoke(url, body):
    """POST body to url; the predictions of a 200 answer."""
    r = requests.post(url, json=body, timeout=60)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["predictions"]


def same(got, want, tol):
    """JSON-equal with types kept (an int label stays an int); floats within tol relative
    (exactly when tol is 0)."""
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(same(g, w, tol) for g, w in zip(got, want))
    if isinstance(want, bool) or isinstance(want, str) or want is None:
        return type(got) is type(want) and got == want
    if isinstance(want, int):
        return type(got) is int and got == want
    if isinstance(want, float):
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return False
        if math.isnan(want):
            return isinstance(got, float) and math.isnan(got)
        if tol == 0:
            return float(got) == want
        return abs(got - want) <= tol * max(1.0, abs(want))
    return got == want
