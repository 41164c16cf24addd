"""Fixtures of the browser tests: the system Chromium, and a page per test
in a fresh context of the module's `browser` (each module defines that
one, for its own server)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import find_chromium  # noqa: E402


@pytest.fixture(scope="session")
def chromium():
    """The Chromium binary; skips without one, unless MLBOX_REQUIRE_CHROMIUM=1."""
    path = find_chromium()
    if not path:
        msg = "chromium not found (apt-get install chromium, or set MLBOX_CHROMIUM)"
        if os.environ.get("MLBOX_REQUIRE_CHROMIUM") == "1":
            pytest.fail(msg + "; MLBOX_REQUIRE_CHROMIUM=1")
        pytest.skip(msg)
    return path


@pytest.fixture
def ui(browser):
    """A page in a fresh context (own localStorage) of the module's browser;
    ui.page is the Playwright page."""
    p = browser.page()
    try:
        yield p
    finally:
        p.close()
