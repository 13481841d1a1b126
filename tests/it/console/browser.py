"""Drives the console in Debian's chromium, headless, through selenium and chromedriver.

Each test scenario (tests/it/console/*_flow.py) gets its settings from the environment that
tests/it/console.rs sets: TG_ADMIN_URL (the admin listener), TG_DATA_URL (the data plane),
TG_OP_NAME / TG_OP_PASSWORD (the bootstrap operator), TG_ADMIN_TOKEN and TG_ARTIFACTS (where
screenshots go, one per step, numbered, and a failure's screenshot and browser log).

`Console.go(route)` waits for the page to say it has rendered (<main data-ready=route>) and
returns how long that took in the browser; `Console.load(route)` does the same for a full page
load (navigation start to rendered), which is what the page-load figures measure.
"""

import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ADMIN = os.environ["TG_ADMIN_URL"].rstrip("/")
DATA = os.environ.get("TG_DATA_URL", "").rstrip("/")
ARTIFACTS = os.environ.get("TG_ARTIFACTS", tempfile.mkdtemp(prefix="console-"))
WAIT = float(os.environ.get("TG_WAIT", "15"))
CHROMIUM = os.environ.get("TG_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TG_CHROMEDRIVER", "/usr/bin/chromedriver")

_step = [0]


class Console:
    """One browser session (its own profile, so its own cookies) on the console."""

    def __init__(self, name):
        self.name = name
        self.profile = tempfile.mkdtemp(prefix=f"chromium-{name}-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--no-first-run",
            "--window-size=1366,900",
            f"--user-data-dir={self.profile}",
            "--lang=en-US",
        ):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(WAIT)
        self.driver.set_script_timeout(WAIT)
        # Clipboard reads in the copy test.
        try:
            self.driver.execute_cdp_cmd(
                "Browser.grantPermissions",
                {"origin": ADMIN, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
            )
        except Exception:
            pass

    # ---- navigation --------------------------------------------------------------------

    def load(self, route="/", ready=None, timeout=None):
        """A full page load of `route`; returns ms from navigation start to rendered. `ready`
        is the route's pattern when it has parameters (/calls/:id)."""
        # From another document: going from one console URL to another changes only the hash,
        # which reloads nothing (and performance.now() would count from the first load).
        self.driver.get("about:blank")
        self.driver.get(f"{ADMIN}/console/#{route}")
        main = self.wait_for(f'main[data-ready="{ready or route.split("?")[0]}"]', timeout=timeout)
        # performance.now() counts from navigation start, so data-at is the whole load.
        return int(main.get_attribute("data-at") or 0)

    def go(self, route, ready=None):
        """Goes to `route` inside the running console; returns the render time in ms."""
        # The old page's data-ready goes first, and the same address is rendered again (a
        # hash that does not change fires no hashchange), so the wait is for the new render.
        self.driver.execute_script(
            "const main = document.querySelector('main[data-ready]');"
            "if (main) main.removeAttribute('data-ready');"
            "if (location.hash === '#' + arguments[0]) window.dispatchEvent(new HashChangeEvent('hashchange'));"
            "else location.hash = arguments[0];", route)
        return self.ready(ready or route.split("?")[0])

    def ready(self, pattern):
        """Waits until <main data-ready> is `pattern` (a route path such as /apps/:tenant)."""
        main = self.wait_for(f'main[data-ready="{pattern}"]')
        return int(main.get_attribute("data-ms") or 0)

    # ---- finding and doing -------------------------------------------------------------

    def wait_for(self, css, text=None, timeout=None):
        """The first element matching `css` (whose text contains `text`), once it is visible."""
        def found(driver):
            for el in driver.find_elements(By.CSS_SELECTOR, css):
                if el.is_displayed() and (text is None or text in el.text):
                    return el
            return False
        try:
            # An element the page replaced while it was looked at is looked for again.
            return WebDriverWait(self.driver, timeout or WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(found)
        except TimeoutException:
            raise AssertionError(f"{self.name}: no visible {css!r}" + (f" with {text!r}" if text else "") + f" within {timeout or WAIT}s")

    def wait_gone(self, css, timeout=None):
        WebDriverWait(self.driver, timeout or WAIT).until(
            EC.invisibility_of_element_located((By.CSS_SELECTOR, css)))

    def click(self, text, css="button, a"):
        el = self.wait_for(css, text)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
        el.click()
        return el

    def field(self, label):
        """The form control whose <label> reads `label`."""
        lab = self.wait_for("label", label)
        return self.driver.find_element(By.ID, lab.get_attribute("for"))

    def fill(self, label, value):
        el = self.field(label)
        if el.tag_name == "select":
            from selenium.webdriver.support.ui import Select
            Select(el).select_by_value(value)
        else:
            el.clear()
            el.send_keys(value)
        return el

    def text(self, css="main"):
        return self.wait_for(css).text

    def sign_in(self, name, password):
        self.driver.get(f"{ADMIN}/console/")
        self.ready("signin")
        self.fill("User name", name)
        self.fill("Password", password)
        self.click("Sign in", "button")
        self.ready("/")

    def sign_out(self):
        self.click("Sign out", "button")
        self.ready("signin")

    def shot(self, what):
        """Saves a screenshot of the window as the next numbered step."""
        _step[0] += 1
        path = os.path.join(ARTIFACTS, f"{_step[0]:02d}-{self.name}-{what}.png")
        self.driver.save_screenshot(path)
        return path

    def logs(self):
        try:
            return self.driver.get_log("browser")
        except Exception:
            return []

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def _request(url, method, body, headers):
    """(status, body text) of one HTTP request; an error status is an answer, not an exception."""
    req = urllib.request.Request(url, method=method, headers=headers)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, data=data, timeout=WAIT) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def admin_api(method, path, body=None, token=None):
    """The admin API with the admin token (for a test's set-up and its checks): (status, JSON)."""
    auth = {"Authorization": f"Bearer {token or os.environ['TG_ADMIN_TOKEN']}"}
    status, text = _request(f"{ADMIN}{path}", method, body, auth)
    return status, (json.loads(text) if text else None)


def data_plane(method, path, key=None, body=None):
    """The gateway's data plane, with `key` as the bearer token: (status, body text)."""
    return _request(f"{DATA}{path}", method, body, {"Authorization": f"Bearer {key}"} if key else {})


def ok(answer, *codes):
    """The body of a (status, body) answer whose status is one of `codes` (default: 2xx)."""
    status, body = answer
    assert status in (codes or (200, 201, 204)), f"{status}: {body}"
    return body


def until(what, check, deadline=WAIT):
    """Polls `check()`, a (done, seen) pair, until done, within `deadline` seconds; returns the
    last `seen` (the gateway applies a change within a second, a new key within a refresh)."""
    end = time.monotonic() + deadline
    while True:
        done, seen = check()
        if done:
            return seen
        if time.monotonic() > end:
            raise AssertionError(f"{what}: still {seen!r} after {deadline}s")
        time.sleep(0.1)


def number(text):
    """A figure as a page shows it ("1,234", "$0.50", "12 ms") as a number."""
    return float(text.replace(",", "").replace("$", "").replace(" ms", "").strip())


def run(scenarios):
    """Runs the scenario named by argv[1] with a fresh list of consoles it may open; on failure
    saves every open console's screenshot and browser log, and exits non-zero."""
    name = sys.argv[1]
    os.makedirs(ARTIFACTS, exist_ok=True)
    opened = []

    def open_console(who):
        c = Console(who)
        opened.append(c)
        return c

    try:
        scenarios[name](open_console)
        print(f"{name}: ok")
    except BaseException:
        traceback.print_exc()
        for c in opened:
            try:
                print(f"--- {c.name}: failure screenshot {c.shot('failed')}", file=sys.stderr)
                for entry in c.logs():
                    print(f"--- {c.name} console: {entry}", file=sys.stderr)
            except Exception:
                pass
        sys.exit(1)
    finally:
        for c in opened:
            c.close()
