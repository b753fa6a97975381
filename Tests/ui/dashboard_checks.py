#!/usr/bin/env python3
"""Gantry's dashboard in a real browser: headless Chromium driven by Selenium.

    dashboard_checks.py --url http://127.0.0.1:PORT --token-file FILE --out DIR
        --expect-ready-nodes N --job-id ID --gantryctl PATH --coordinator HOST:PORT
        --admin-token-file FILE --from T --to T

Runs against a live gantryd serving the dashboard (--url), logging in with the token in
--token-file (the read-only one). Needs Debian's `chromium` and `chromium-driver`
(/usr/bin/chromium, /usr/bin/chromedriver) and Selenium (written against selenium==4.27.1).
Prints one line per check, PASS or FAIL, saves a screenshot of each page visited to --out,
and exits non-zero if a check failed.
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import urllib.parse
from decimal import ROUND_HALF_UP, Decimal

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT_S = 15  # the longest any wait may take
NAV = [("Overview", "/ui/"), ("Nodes", "/ui/nodes"), ("Jobs", "/ui/jobs"), ("Cost", "/ui/cost"), ("Tenants", "/ui/tenants")]

failures = []
console_errors = []  # (page, message) of SEVERE browser-log entries


def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""), flush=True)
    if not ok:
        failures.append(name)


def attempt(name, body):
    """Runs one check's body; an exception (a wait that timed out, a missing element) fails it."""
    try:
        body()
    except TimeoutException as e:
        check(name, False, f"timed out waiting ({e.msg or 'no detail'})")
    except Exception as e:  # noqa: BLE001 — any error is this check's failure, the others still run
        check(name, False, f"{type(e).__name__}: {e}")


def make_driver():
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    # --disable-dev-shm-usage: containers (CI) often give /dev/shm 64 MB, too little for Chromium.
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(os.environ.get("GANTRY_CHROMEDRIVER", "/usr/bin/chromedriver")), options=opts)


def wait(driver, condition, timeout=WAIT_S):
    """condition(driver)'s first truthy value, polling; TimeoutException after `timeout` s."""
    return WebDriverWait(driver, min(timeout, WAIT_S), poll_frequency=0.2,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(condition)


def js(driver, script, *args):
    return driver.execute_script(script, *args)


def path_of(driver):
    return urllib.parse.urlsplit(driver.current_url).path


def drain_console(driver, page):
    """Collects the SEVERE entries of the browser log so far (reading empties it)."""
    try:
        for entry in driver.get_log("browser"):
            if entry.get("level") == "SEVERE":
                console_errors.append((page, entry.get("message", "")))
    except WebDriverException as e:
        console_errors.append((page, f"could not read the browser log: {e}"))


def screenshot(driver, out, name):
    """A screenshot of the whole page (up to 6000 px tall), else of the viewport."""
    path = os.path.join(out, name)
    try:
        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        # Captured beyond the viewport the page has no scrollbar, so it is innerWidth wide.
        width = max(int(size["width"]), int(driver.execute_script("return window.innerWidth")))
        clip = {"x": 0, "y": 0, "width": width, "height": min(int(size["height"]) + 1, 6000), "scale": 1}
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
    except (WebDriverException, KeyError):
        driver.save_screenshot(path)


def wait_for_rows(driver):
    """The number of body rows of the first table in <main>, once there is at least one."""
    return wait(driver, lambda d: js(d, "return document.querySelectorAll('main table tbody tr').length") or None)


def cents(x):
    return Decimal(str(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True, help="the dashboard's base, e.g. http://127.0.0.1:8080")
    p.add_argument("--token-file", required=True, help="the token to log in with (read-only)")
    p.add_argument("--out", required=True, help="folder for the screenshots")
    p.add_argument("--expect-ready-nodes", type=int, required=True)
    p.add_argument("--job-id", required=True, help="a finished job, which has a receipt")
    p.add_argument("--gantryctl", required=True)
    p.add_argument("--coordinator", required=True, help="HOST:PORT for gantryctl")
    p.add_argument("--admin-token-file", required=True, help="for gantryctl")
    p.add_argument("--from", dest="from_", required=True, help="the cost window's start, RFC 3339")
    p.add_argument("--to", required=True, help="the cost window's end, RFC 3339")
    args = p.parse_args()
    base = args.url.rstrip("/")
    token = open(args.token_file).read().strip()
    os.makedirs(args.out, exist_ok=True)

    driver = make_driver()
    try:
        run(driver, base, token, args)
    finally:
        driver.quit()
    print(f"{'FAILED' if failures else 'OK'}: {len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


def run(d, base, token, args):
    out = args.out

    def submit_token(text):
        field = wait(d, lambda d: d.find_element(By.ID, "token"))
        field.clear()
        field.send_keys(text)
        d.find_element(By.CSS_SELECTOR, "#login-form button[type=submit], #login-form button:not([type])").click()

    # 1. No session: the login page. A wrong token: refused, saying so.
    def login_required():
        d.get(base + "/ui/")
        wait(d, lambda d: path_of(d) == "/ui/login" and d.find_elements(By.ID, "login-form"))
        check("/ui/ without a session redirects to the login page", True)
        screenshot(d, out, "login.png")
        submit_token("certainly-not-the-token")
        shown = wait(d, lambda d: js(d, "const e = document.getElementById('login-error'); return e && !e.hidden && e.textContent"))
        check("a wrong token is refused: the login page again, saying so", path_of(d) == "/ui/login" and "wrong token" in shown.lower(),
              f"at {d.current_url}, #login-error {shown!r}")
        drain_console(d, "login")

    attempt("the login page and a wrong token", login_required)

    # 2. The read-only token: the overview, with live data.
    def login():
        if path_of(d) != "/ui/login":
            d.get(base + "/ui/login")
        submit_token(token)
        wait(d, lambda d: path_of(d) in ("/ui/", "/ui"))
        want = str(args.expect_ready_nodes)

        def ready():
            return js(d, "const e = document.getElementById('nodes-ready'); return e && e.textContent.trim()")

        try:  # live data may take a few refreshes to show every node
            wait(d, lambda d: ready() == want, timeout=12)
        except TimeoutException:
            pass
        got = ready()
        check(f"logging in lands on the overview showing {want} ready node(s)", got == want, f"#nodes-ready is {got!r} at {d.current_url}")
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "main .chart svg, main .chart .empty"))
        screenshot(d, out, "overview.png")
        drain_console(d, "overview")

    attempt("logging in with the read-only token", login)

    # 5a. The navigation.
    def navigation():
        links = js(d, "return [...document.querySelectorAll('header nav a')].map(a => [a.textContent.trim(), a.getAttribute('href'), a.getAttribute('aria-current')])")
        check("the navigation has the five links", [(t, h) for t, h, _ in links] == NAV, str(links))
        check("the current page is marked in the navigation", [t for t, _, c in links if c == "page"] == ["Overview"], str(links))

    attempt("the navigation", navigation)

    # 5b. Nodes, a node, jobs.
    def nodes():
        d.get(base + "/ui/nodes")
        rows = wait_for_rows(d)
        check("the nodes page shows a table of nodes", rows >= 1, f"{rows} rows")
        screenshot(d, out, "nodes.png")
        drain_console(d, "nodes")
        href = js(d, "const a = document.querySelector('main table tbody tr a[href^=\"/ui/nodes/\"]'); return a && a.getAttribute('href')")
        d.get(base + href)
        wait(d, lambda d: js(d, "return document.getElementById('page-title').textContent.startsWith('Node ') && document.querySelectorAll('main dl.facts').length >= 2"))
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "main .chart svg, main .chart .empty"))
        check("a node's page shows its details and history", True)
        screenshot(d, out, "node.png")
        drain_console(d, "node")

    attempt("the nodes pages", nodes)

    def table_page(name):
        """A page whose table lists at least one row (jobs, tenants)."""
        d.get(base + "/ui/" + name)
        rows = wait_for_rows(d)
        check(f"the {name} page shows a table of {name}", rows >= 1, f"{rows} rows")
        screenshot(d, out, f"{name}.png")
        drain_console(d, name)

    attempt("the jobs page", lambda: table_page("jobs"))

    # 4. A job's page and its receipt.
    def job():
        d.get(base + "/ui/jobs/" + urllib.parse.quote(args.job_id, safe=""))
        usd = wait(d, lambda d: js(d, "const e = document.getElementById('receipt-total'); return e && e.getAttribute('data-usd')"))
        try:
            number = float(usd)
        except ValueError:
            number = None
        text = js(d, "return document.body.innerText")
        inside = js(d, "const e = document.getElementById('receipt-total'); return !!(e && e.closest('section#receipt'))")
        check("the job's page shows a receipt with a numeric total", number is not None and inside, f"data-usd {usd!r}, inside #receipt: {inside}")
        check("the job's page names the job", args.job_id in text, f"{args.job_id} not in the page's text")
        print(f"  job {args.job_id}: receipt total {usd}", flush=True)
        screenshot(d, out, "job.png")
        drain_console(d, "job")

    attempt("the job page", job)

    # 3. The cost page's total against gantryctl's report over the same window.
    def cost():
        cmd = [args.gantryctl, "--coordinator", args.coordinator, "--token-file", args.admin_token_file, "--output", "json",
               "report", "--from", args.from_, "--to", args.to]
        ran = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if ran.returncode != 0:
            check("the cost page's total equals gantryctl report's", False, f"gantryctl exited {ran.returncode}: {ran.stderr.strip()[:500]}")
            return
        want = json.loads(ran.stdout)["total"]["spend_usd"]
        d.get(base + "/ui/cost?" + urllib.parse.urlencode({"from": args.from_, "to": args.to}))
        got = wait(d, lambda d: js(d, "const e = document.getElementById('cost-total-usd'); return e && e.getAttribute('data-usd')"))
        window = js(d, "const e = document.getElementById('cost-window'); return e && [e.dataset.from, e.dataset.to, e.textContent]")
        shown = js(d, "return document.getElementById('cost-total-usd').textContent")
        print(f"  cost page: data-usd {got} (shown {shown}); gantryctl report: total.spend_usd {want}; window {window}", flush=True)
        check("the cost page's total equals gantryctl report's, to the cent", cents(got) == cents(want), f"{cents(got)} vs {cents(want)}")
        check("the cost page shows the window the API used", bool(window and window[0] and window[1]), str(window))
        wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "main .chart")) >= 4)
        screenshot(d, out, "cost.png")
        drain_console(d, "cost")

    attempt("the cost page", cost)

    attempt("the tenants page", lambda: table_page("tenants"))

    # 7. A phone's width: nothing wider than the screen (tables scroll inside their wrappers).
    def phone():
        d.set_window_size(390, 844)
        try:
            d.get(base + "/ui/")
            wait(d, lambda d: js(d, "const e = document.getElementById('nodes-ready'); return e && e.textContent.trim()"))
            wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "main .chart svg, main .chart .empty"))
            scroll, inner = js(d, "return [document.body.scrollWidth, window.innerWidth]")
            check("a 390-px-wide phone shows the overview without sideways scrolling", scroll <= inner + 1, f"body.scrollWidth {scroll} > innerWidth {inner}")
            screenshot(d, out, "overview-phone.png")
            drain_console(d, "overview (phone)")
        finally:
            d.set_window_size(1280, 900)

    attempt("the overview at a phone's width", phone)

    # 8. Logging out: the login page, and the API refuses the old session.
    def logout():
        if path_of(d) not in ("/ui/", "/ui"):
            d.get(base + "/ui/")
        # Let the page's first update finish, so no request is in flight when the session ends.
        wait(d, lambda d: js(d, "const e = document.getElementById('updated'); return e && e.textContent.trim().length > 0"))
        drain_console(d, "overview")
        wait(d, lambda d: d.find_element(By.ID, "logout")).click()
        wait(d, lambda d: path_of(d) == "/ui/login" and d.find_elements(By.ID, "login-form"))
        drain_console(d, "logout")  # before the 401 below, which the browser logs
        # An update that was in flight when the session ended is refused (401) and the page
        # stops: expected, not an error of the page.
        console_errors[:] = [(p, m) for (p, m) in console_errors
                             if not (p == "logout" and "/api/v1/" in m and "401" in m)]
        status = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/api/v1/overview', {credentials: 'same-origin', headers: {Accept: 'application/json'}})"
            ".then(r => done(r.status), e => done(String(e)));")
        check("logging out returns to the login page and the API then answers 401", status == 401, f"GET /api/v1/overview: {status}")

    attempt("logging out", logout)

    # 6. No console errors on any page visited (the deliberate 401 above aside).
    check("no console errors on any page", not console_errors, "; ".join(f"[{p}] {m}" for p, m in console_errors)[:2000])


if __name__ == "__main__":
    main()
