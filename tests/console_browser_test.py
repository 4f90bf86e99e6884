#!/usr/bin/python3
"""The web console in a real browser: headless Chromium (Debian's chromium and
chromium-driver) driven by python3-selenium, against a real strata-server on
loopback (embedded log, or Kafka through strata-devbroker).

  console_browser_test.py --bin build/bin --backend embedded|kafka [--screenshots DIR]

Each check prints a line; the first failure stops the run with exit code 1.
Screenshots of every page go to DIR (docs/console/ holds the committed ones).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException, StaleElementReferenceException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TOKENS = """tokens:
  - {token: alice-token, user: alice, site: boston, roles: [developer]}
  - {token: bob-token, user: bob, site: london, roles: [developer]}
  - {token: dana-token, user: dana, site: hq, roles: [dba]}
  - {token: rita-token, user: rita, site: hq, roles: [release-manager]}
  - {token: carol-token, user: carol, site: vendor, roles: [developer], schemas: ["billing.*"]}
"""


class Failed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failed(what)
    print("ok:", what, flush=True)


class Run:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.abspath(args.bin)
        self.dir = tempfile.mkdtemp(prefix="strata-browser-")
        self.procs = []
        self.shots = args.screenshots
        if self.shots:
            os.makedirs(self.shots, exist_ok=True)
        with open(os.path.join(self.dir, "tokens.yaml"), "w") as f:
            f.write(TOKENS)

    def start(self, argv, ready, stderr_name):
        err = open(os.path.join(self.dir, stderr_name), "w")
        # As in CI whatever the shell exports: no PostgreSQL server unless the
        # test names one (the deploy service otherwise uses libpq's defaults).
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "STRATA_SHADOW_URL"}
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.PIPE, text=True, env=env)
        self.procs.append(p)
        lines = []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(ready, line)
            if m:
                return p, m, lines
        raise Failed("%s did not start: %s" % (argv[0], "".join(lines)))

    def start_server(self):
        argv = [self.bin + "/strata-server", "--listen", "127.0.0.1:0", "--data-dir", self.dir + "/data",
                "--tokens", self.dir + "/tokens.yaml", "--site", "boston", "--partitions", "4",
                "--console-listen", "127.0.0.1:0"]
        if self.args.backend == "kafka":
            _, m, _ = self.start([self.bin + "/strata-devbroker", "--brokers", "3", "--partitions", "4"],
                                 r"^bootstrap: (\S+)", "devbroker.err")
            argv += ["--kafka", m.group(1)]
        _, m, lines = self.start(argv, r"listening on (127\.0\.0\.1:\d+)", "server.err")
        self.endpoint = m.group(1)
        console = [re.search(r"console on (http://[0-9.:]+)/", l) for l in lines]
        self.url = [c.group(1) for c in console if c][0]

    def cli(self, token, *args):
        r = subprocess.run([self.bin + "/strata", "--endpoint", self.endpoint, "--token", token] + list(args),
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise Failed("strata %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout

    def browser(self):
        o = webdriver.ChromeOptions()
        o.binary_location = "/usr/bin/chromium"
        for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--window-size=1366,900", "--user-data-dir=" + self.dir + "/chromium"]:
            o.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
        self.driver.set_page_load_timeout(30)
        return self.driver

    def shot(self, name):
        if self.shots:
            self.driver.save_screenshot(os.path.join(self.shots, name + ".png"))

    def stop(self):
        try:
            self.driver.quit()
        except Exception:
            pass
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def text(d):
    # A click that navigates, or a live page re-rendering, can replace <main>
    # between finding it and reading it (Chrome says "stale element", or
    # "node ... does not belong to the document"): read it again.
    for _ in range(100):
        try:
            return d.find_element(By.TAG_NAME, "main").text
        except (StaleElementReferenceException, NoSuchElementException):
            time.sleep(0.02)
        except WebDriverException as e:
            if "does not belong to the document" not in str(e):
                raise
            time.sleep(0.02)
    return d.find_element(By.TAG_NAME, "main").text


def wait_for(d, predicate, timeout, what):
    try:
        WebDriverWait(d, timeout, poll_frequency=0.02,
                      ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(
                          lambda _: predicate())
    except TimeoutException:
        raise Failed("timed out waiting for " + what)


def sign_in(run, token, next_path="/"):
    d = run.driver
    d.delete_all_cookies()
    d.get(run.url + "/signin?next=" + next_path)
    d.find_element(By.ID, "token").send_keys(token)
    d.find_element(By.ID, "signin").click()
    wait_for(d, lambda: "/signin" not in d.current_url, 10, "the sign-in to finish")


def wait_live(run):
    d = run.driver
    wait_for(d, lambda: "live" in d.find_element(By.ID, "live-state").text, 10, "the live feed to connect")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--backend", choices=["embedded", "kafka"], required=True)
    ap.add_argument("--screenshots")
    run = Run(ap.parse_args())
    try:
        run.start_server()
        d = run.browser()
        url = run.url

        # Sign-in: the only page an anonymous visitor gets; a wrong token is refused.
        d.get(url + "/locks")
        check("/signin" in d.current_url, "an anonymous visitor is sent to the sign-in page")
        run.shot("signin")
        d.find_element(By.ID, "token").send_keys("wrong-token")
        d.find_element(By.ID, "signin").click()
        # The refusal is a new page: wait for it rather than read the old one.
        wait_for(d, lambda: "not known" in d.find_element(By.ID, "problem").text, 5, "the refusal of a wrong token")
        check(True, "a wrong token is refused")

        # bob watches "who holds what"; alice checks out from the CLI at another site.
        sign_in(run, "bob-token", "/locks")
        check(d.current_url.endswith("/locks"), "bob signs in and lands where he was going")
        wait_live(run)
        d.execute_script("window.__notReloaded = true;")
        run.cli("alice-token", "checkout", "table:sales.orders", "--reason", "adding a status column")
        acked = time.time()
        wait_for(d, lambda: "table:sales.orders" in text(d), 5, "alice's check-out on bob's page")
        latency = time.time() - acked
        check(latency < 1.0, "alice's check-out appears on bob's page within 1 s without a reload (%.0f ms)" % (latency * 1000))
        check(d.execute_script("return window.__notReloaded === true;"), "the page was not reloaded")
        check("alice (boston)" in text(d), "bob sees alice (boston) as the holder")
        check("Force release" not in text(d), "a developer has no force-release button")
        run.shot("locks")

        # Activity: live rows.
        d.get(url + "/activity")
        wait_live(run)
        run.cli("alice-token", "checkout", "table:sales.items")
        acked = time.time()
        wait_for(d, lambda: "table:sales.items" in d.find_element(By.ID, "feed").text, 5, "the activity row")
        check(time.time() - acked < 1.0, "the activity page shows a check-out live within 1 s")

        # Object: two versions and their diff.
        with open(run.dir + "/v1.sql", "w") as f:
            f.write("CREATE TABLE sales.orders (\n  id integer PRIMARY KEY,\n  placed timestamptz NOT NULL\n);\n")
        with open(run.dir + "/v2.sql", "w") as f:
            f.write("CREATE TABLE sales.orders (\n  id integer PRIMARY KEY,\n  placed timestamptz NOT NULL,\n"
                    "  status text NOT NULL DEFAULT 'new'\n);\n")
        run.cli("alice-token", "checkin", "table:sales.orders", "-f", run.dir + "/v1.sql", "-m", "orders", "--keep")
        run.cli("alice-token", "checkin", "table:sales.orders", "-f", run.dir + "/v2.sql", "-m", "add status")
        with open(run.dir + "/view.sql", "w") as f:
            f.write("CREATE VIEW sales.open_orders AS SELECT id, placed FROM sales.orders WHERE status = 'new';\n")
        run.cli("alice-token", "checkout", "view:sales.open_orders")
        run.cli("alice-token", "checkin", "view:sales.open_orders", "-f", run.dir + "/view.sql", "-m", "open orders",
                "--keep")
        # The team's policy: its findings and a waiver on the object page.
        with open(run.dir + "/policy.yaml", "w") as f:
            f.write("rules:\n  naming-table: {severity: warning, pattern: \"^t_\"}\n")
        run.cli("dana-token", "policy", "set", run.dir + "/policy.yaml", "-m", "names")
        run.cli("dana-token", "policy", "waive", "table:sales.orders", "naming-column", "-r", "legacy columns")
        d.get(url + "/objects/table:sales.orders")
        policy = d.find_element(By.ID, "policy").text
        check("warning naming-table: table name \"orders\" does not match ^t_" in policy,
              "the object page shows the policy's findings")
        check("waived: naming-column by dana: legacy columns" in policy, "the object page shows the waivers")
        rows = d.find_elements(By.CSS_SELECTOR, "table.versions tbody tr")
        check(len(rows) == 2, "the object page lists two versions")
        diff = d.find_element(By.CSS_SELECTOR, "table.diff").text
        check("status text NOT NULL DEFAULT 'new'" in diff, "the object page shows the diff of the two versions")
        check("view:sales.open_orders" in text(d), "the object page shows its dependents")
        run.shot("object")

        # Pipeline: the same board as `strata pipeline --json`.
        run.cli("dana-token", "env", "add", "dev", "--url", "postgres://nobody@127.0.0.1:1/dev")
        run.cli("dana-token", "env", "add", "prod", "--protected", "--url", "postgres://nobody@127.0.0.1:1/prod")
        run.cli("rita-token", "release", "create", "2026.12-1", "-d", "orders get a status")
        cli = json.loads(run.cli("bob-token", "--json", "pipeline"))
        d.get(url + "/pipeline")
        heads = [th.text.replace(" (p)", "") for th in d.find_elements(By.CSS_SELECTOR, "#board thead th")][1:]
        check(heads == [e["name"] for e in cli["environments"]], "the pipeline page's environments are the CLI's")
        board = []
        for tr in d.find_elements(By.CSS_SELECTOR, "#board tbody tr"):
            cells = tr.find_elements(By.CSS_SELECTOR, "th, td")
            board.append([cells[0].text] + ["" if c.text == "·" else c.text for c in cells[1:]])
        expected = [[r["release"]] + r.get("cells", [""] * len(heads)) for r in cli["releases"]]
        check(board == expected, "the pipeline page's board is what strata pipeline --json prints (%s)" % board)
        check("2026.12-1 for prod" in text(d), "the pipeline page lists the pending approval")
        run.shot("pipeline")

        # A scoped user sees nothing outside the scope, on any page or live.
        run.cli("alice-token", "checkout", "table:billing.invoices")
        sign_in(run, "carol-token")
        for path in ["/", "/locks", "/activity", "/audit", "/pipeline"]:
            d.get(url + path)
            check("sales." not in text(d), "carol (billing.*) sees no sales object on " + path)
        d.get(url + "/activity")
        wait_live(run)
        run.cli("alice-token", "checkout", "table:sales.secret")
        run.cli("alice-token", "checkout", "table:billing.payments")
        wait_for(d, lambda: "table:billing.payments" in d.find_element(By.ID, "feed").text, 5, "carol's live row")
        check("sales.secret" not in text(d), "carol's live feed carries no sales object")
        d.get(url + "/objects/table:sales.orders")
        check("outside that scope" in text(d), "carol cannot open a sales object's page")

        # A developer's forged request is refused; a dba force-releases with a reason.
        sign_in(run, "dana-token", "/locks")
        check("Force release" in text(d), "a dba sees the force-release button")
        form = d.find_element(By.CSS_SELECTOR, "form.release input[value='table:sales.items']").find_element(By.XPATH, "..")
        d.execute_script("arguments[0].querySelector('input[name=csrf]').value = 'forged';", form)
        form.find_element(By.NAME, "reason").send_keys("forged")
        form.find_element(By.TAG_NAME, "button").click()
        wait_for(d, lambda: "CSRF" in text(d), 5, "the refusal of a forged CSRF token")
        check(True, "a forged CSRF token is refused")
        d.get(url + "/locks")
        form = d.find_element(By.CSS_SELECTOR, "form.release input[value='table:sales.items']").find_element(By.XPATH, "..")
        form.find_element(By.NAME, "reason").send_keys("alice is on leave until Monday")
        form.find_element(By.TAG_NAME, "button").click()
        wait_for(d, lambda: "Released table:sales.items" in text(d), 5, "the release notice")
        check(True, "a dba force-releases with a reason")
        run.shot("locks-dba")
        d.get(url + "/audit?action=force_release")
        check("alice is on leave until Monday" in text(d), "the audit page shows the force release and its reason")
        d.get(url + "/audit?verify=1")
        check("hash chain is intact" in d.find_element(By.ID, "verification").text, "the audit page verifies the chain")
        run.shot("audit")
        d.get(url + "/activity")
        run.shot("activity")
        d.get(url + "/")
        check("Check-ins per day" in text(d) and "Check-outs per site" in text(d), "the summary page")
        run.shot("summary")
        d.set_window_size(820, 1180)  # a tablet, upright
        d.get(url + "/locks")
        run.shot("locks-tablet")
        d.set_window_size(1366, 900)

        # Not found: a page that names it.
        for path, name in [("/objects/table:sales.nothing", "table:sales.nothing"), ("/releases/r404", "r404"),
                           ("/environments/qa404", "qa404")]:
            d.get(url + path)
            check(name in text(d), "an unknown thing in the URL gives a page naming it: " + path)
        run.shot("not-found")

        # An ended session: sign-in again (a short-lived strata-console).
        _, m, _ = run.start([run.bin + "/strata-console", "--listen", "127.0.0.1:0", "--endpoint", run.endpoint,
                             "--session-hours", "0.0006"], r"listening on (http://[0-9.:]+)/", "console.err")
        short = m.group(1)
        d.delete_all_cookies()
        d.get(short + "/signin")
        d.find_element(By.ID, "token").send_keys("bob-token")
        d.find_element(By.ID, "signin").click()
        wait_for(d, lambda: "/signin" not in d.current_url, 10, "the sign-in")
        time.sleep(2.5)
        d.get(short + "/locks")
        check("/signin" in d.current_url and "session has ended" in text(d), "an expired session is refused")
        print("all browser checks passed (%s log)" % run.args.backend)
        return 0
    except Exception as e:  # a failed check, or the browser's own error
        print("FAILED:", e, flush=True)
        try:
            print("page:", run.driver.current_url, text(run.driver)[:2000])
        except Exception:
            pass
        return 1
    finally:
        run.stop()


if __name__ == "__main__":
    sys.exit(main())
