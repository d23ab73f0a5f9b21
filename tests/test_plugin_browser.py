"""The operations page in a real headless Chromium against a real `airflow api-server`.

A demo-like run fills the index first (every source's DAG through dag.test: a history replay
and the latest interval; one source with a rejected credential, one synced only up to hours
ago). Then the server starts on a free port with the plugin from plugins/, the browser signs
in on Airflow's login page and checks tiles, charts, search, "Sync now" and the projects.
Screenshots land in test-output/screenshots/.

Needs Debian's chromium and chromium-driver (`scripts/ensure-browser.sh` installs them as
root; `make test` runs it first). Without them the test fails: it does not skip.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sandbox import build_sandbox
from sandbox.workspace import Workspace, floor_to_hour
from tests.conftest import ROOT, TEST_OUTPUT
from tests.sourcekit import sandbox_settings
from vector_sync.airflow.bootstrap import projects_from
from vector_sync.sources import registered_sources

pytestmark = pytest.mark.airflow

CHROMIUM = Path(os.environ.get("VECTOR_SYNC_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("VECTOR_SYNC_CHROMEDRIVER", "/usr/bin/chromedriver"))
SCREENSHOTS = TEST_OUTPUT / "screenshots"
ADMIN, VIEWER = ("admin", "admin-browser-pw"), ("viewer", "viewer-browser-pw")
SEARCH_SOURCE = "jira"  # synced fine; its hits link to the issue
FAILING_SOURCE = "slack"  # a rejected token: failed at once, no retries
STALE_SOURCE = "notion"  # synced only up to hours ago
SERVER_START_TIMEOUT_S = 90
WAIT_S = 30


def require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(
            f"headless Chromium is required for the plugin's browser test, but {' and '.join(missing)} "
            "is missing. Install Debian's packages: `sudo scripts/ensure-browser.sh` "
            "(apt-get install chromium chromium-driver); `make test` does this when run as root.",
            pytrace=False,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------- data


def demo_like_runs(workspace: Workspace, now: datetime, mp: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Each source's DAG run the way `make demo` does: a replay of the sample's history, for
    the search source up to the latest complete interval, which it then runs too (two runs
    in its chart); for the others up to now, so none turns stale while the test runs. The
    failing source has a wrong token; the stale source's replay ends hours ago."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable

    from sandbox.demo import last_intervals
    from vector_sync.specs import source_settings

    dags = DagBag(dag_folder=str(ROOT / "dags")).dags
    runs: dict[str, list[Any]] = {}
    for name in registered_sources():
        dag = dags[f"vector_sync_{name}"]
        (interval,) = last_intervals(coerce_to_core_timetable(dag.timetable), now, 1)
        start = workspace.start - timedelta(hours=1)
        end = interval[0] if name == SEARCH_SOURCE else now
        if name == STALE_SOURCE:
            end = now - source_settings(name).stale_after - timedelta(hours=1)
        conn_var = f"AIRFLOW_CONN_{source_settings(name).conn_id.upper()}"
        if name == FAILING_SOURCE:
            mp.setenv(conn_var, json.dumps({**json.loads(os.environ[conn_var]), "password": "wrong-token"}))
        replay = {"start": start.isoformat(), "end": end.isoformat()}
        done = [dag.test(logical_date=start, run_after=start, run_conf=replay)]
        if name == SEARCH_SOURCE:  # two runs: the chart has two bars
            done.append(dag.test(logical_date=interval[1], run_after=interval[1]))
        runs[name] = done
    return runs


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    runs: dict[str, list[Any]]
    workspace: Workspace
    expected_health: dict[str, str]
    state: Any

    def api(self, path: str, token: str, method: str = "GET", body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def token(self, user: tuple[str, str]) -> str:
        request = urllib.request.Request(
            self.url + "/auth/token",
            data=json.dumps({"username": user[0], "password": user[1]}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["access_token"]


def wait_until_up(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"airflow api-server exited with {process.returncode}:\n{log.read_text()[-3000:]}", pytrace=False)
        try:
            with urllib.request.urlopen(url + "/api/v2/monitor/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"airflow api-server not up after {SERVER_START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}", pytrace=False)


def start_api_server(folder: Path, port: int) -> tuple[subprocess.Popen, Path]:
    """`airflow api-server` (core apps: UI, REST API, auth, plugins) with SimpleAuthManager."""
    passwords = folder / "passwords.json"
    passwords.write_text(json.dumps(dict([ADMIN, VIEWER])))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")},  # it calls no source
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN[0]}:admin,{VIEWER[0]}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    }
    log = folder / "api-server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--apps", "core", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
            start_new_session=True,
        )
    return process, log


def stop(process: subprocess.Popen) -> None:
    """The server and anything it started (its own process group)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(airflow_db, tmp_path_factory):
    require_browser()
    from vector_sync.airflow.backends import Runtime
    from vector_sync.status import all_status

    folder = tmp_path_factory.mktemp("plugin-browser")
    now = datetime.now(timezone.utc)
    workspace = Workspace(anchor=floor_to_hour(now))
    with pytest.MonkeyPatch.context() as mp, build_sandbox(workspace) as box:
        settings = sandbox_settings(mp, box)
        mp.setenv("VECTOR_SYNC_DATA_DIR", str(folder / "data"))
        mp.setenv("AIRFLOW_VAR_VECTOR_SYNC_NOTION", json.dumps({"options": {"rps": None}}))  # no request pacing in tests
        port = free_port()
        # The server boots while the runs below fill the index: it reads at request time.
        process, log = start_api_server(folder, port)
        try:
            runtime = Runtime()
            runtime.state.projects.upsert(projects_from(settings))
            runs = demo_like_runs(workspace, now, mp)
            expected = {row.source: row.health for row in all_status(registered_sources(), runtime.state, runtime.store())}
            url = f"http://127.0.0.1:{port}"
            wait_until_up(process, url, log)
            yield Server(url, process, log, runs, workspace, expected, runtime.state)
        finally:
            stop(process)


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1400,2200",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver: Any, condition: Any, what: str, timeout: float = WAIT_S) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout).until(condition)
    except TimeoutException:
        shot = SCREENSHOTS / f"timeout-{what.replace(' ', '-')}.png"
        driver.save_screenshot(str(shot))
        raise AssertionError(f"timed out waiting for {what} at {driver.current_url} (screenshot {shot})") from None


def sign_in(driver: Any, server: Server, user: tuple[str, str]) -> None:
    """Through Airflow's own login page, as a person would: open the page, get sent to log in."""
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(server.url + "/vector-sync/")
    field = wait(driver, lambda d: d.find_elements(By.NAME, "username"), "the Airflow login form")[0]
    assert "/auth/login" in driver.current_url
    field.send_keys(user[0])
    driver.find_element(By.NAME, "password").send_keys(user[1])
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(
        driver,
        lambda d: d.current_url.rstrip("/").endswith("/vector-sync") and d.find_elements(By.CSS_SELECTOR, "body[data-ready=true]"),
        "the dashboard after login",
    )


# ----------------------------------------------------------------------------- tests


def test_headless_chromium_is_installed():
    """Fails (never skips) where the browser is missing; the tests below then error out early."""
    require_browser()
    version = subprocess.run([str(CHROMEDRIVER), "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and "ChromeDriver" in version.stdout, version.stderr


def test_dashboard_shows_every_source_with_its_health(browser, server):
    from selenium.webdriver.common.by import By

    sign_in(browser, server, ADMIN)
    assert server.expected_health[FAILING_SOURCE] == "failed" and server.expected_health[STALE_SOURCE] == "stale"
    assert server.expected_health[SEARCH_SOURCE] == "healthy"
    tiles = {t.get_attribute("data-source"): t for t in browser.find_elements(By.CSS_SELECTOR, "#tiles .tile")}
    assert list(tiles) == registered_sources()
    assert {name: t.get_attribute("data-health") for name, t in tiles.items()} == server.expected_health
    for name, tile in tiles.items():
        assert tile.find_element(By.CSS_SELECTOR, ".badge").text == server.expected_health[name]
        chart = tile.find_element(By.CSS_SELECTOR, "svg.chart")
        assert int(chart.get_attribute("data-runs")) == len(server.runs[name])
        assert len(tile.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")) == len(server.runs[name])

    failing = tiles[FAILING_SOURCE]
    assert "rejected the credentials" in failing.find_element(By.CSS_SELECTOR, ".open-failures").text
    assert "wrong-token" not in browser.page_source and "sandbox-token" not in browser.page_source
    links = [a.get_attribute("href") for a in failing.find_elements(By.CSS_SELECTOR, ".failed-windows a.run-link")]
    failed_run = server.runs[FAILING_SOURCE][0]
    assert links and links[0].endswith(
        f"/dags/vector_sync_{FAILING_SOURCE}/runs/{failed_run.run_id.replace(':', '%3A').replace('+', '%2B')}"
    )

    healthy = tiles[SEARCH_SOURCE]
    vectors = int(healthy.find_element(By.CSS_SELECTOR, ".vectors").text.replace(",", ""))
    assert vectors > 0
    last_run = healthy.find_element(By.CSS_SELECTOR, "table.last-run").text
    for label in ("Fetched", "Filtered out", "Embedded", "Unchanged (skipped)", "Upserted", "Deleted", "Tokens", "Cost", "Duration"):
        assert label in last_run

    # A run's errors count links to what it skipped and why (the sample has items the sources
    # skip: Tempo worklogs on issues Jira does not know...): the reasons' counts add up (#19).
    skipping = [name for name, tile in tiles.items() if tile.find_elements(By.CSS_SELECTOR, "table.last-run a.skips-link")]
    assert skipping, "the sample's runs need skipped items"
    for name in skipping:
        errors = tiles[name].find_element(By.CSS_SELECTOR, "table.last-run a.skips-link")
        assert errors.get_attribute("href").endswith(f"#skips-{name}")
        reasons = [s.text for s in tiles[name].find_elements(By.CSS_SELECTOR, f"#skips-{name} + ul.skips summary")]
        assert reasons and sum(int(r.rsplit(": ", 1)[1].replace(",", "")) for r in reasons) == int(errors.text.replace(",", ""))
    browser.save_screenshot(str(SCREENSHOTS / "dashboard.png"))


def test_search_finds_linked_hits(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    data = server.workspace.data("jira")
    issue = next(i for i in data.issues if i.project == "SUBS" and i.fields.get("summary") and i.updated >= server.workspace.start)
    browser.get(server.url + "/vector-sync/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "body[data-ready=true]"), "the dashboard")
    browser.find_element(By.ID, "search-q").send_keys(f"{issue.key} {issue.fields['summary']}")
    Select(browser.find_element(By.ID, "search-source")).select_by_value(SEARCH_SOURCE)
    Select(browser.find_element(By.ID, "search-project")).select_by_value("SUBS")
    browser.find_element(By.ID, "search-submit").click()
    hits = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#hits li.hit"), "search hits")
    assert {h.get_attribute("data-source") for h in hits} == {SEARCH_SOURCE}
    links = [h.find_element(By.CSS_SELECTOR, "a.hit-link").get_attribute("href") for h in hits]
    assert any(link.endswith(f"/browse/{issue.key}") for link in links), links
    assert all("/browse/SUBS-" in link for link in links)  # the project filter applied
    browser.execute_script("document.getElementById('search-title').scrollIntoView()")
    browser.save_screenshot(str(SCREENSHOTS / "search.png"))


def test_sync_now_creates_a_run_as_the_signed_in_user(browser, server):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from selenium.webdriver.common.by import By

    dag_id = f"vector_sync_{SEARCH_SOURCE}"
    with create_session() as session:
        before = {r.run_id for r in session.query(DagRun).filter(DagRun.dag_id == dag_id)}
    browser.get(server.url + "/vector-sync/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "body[data-ready=true]"), "the dashboard")
    browser.find_element(By.CSS_SELECTOR, f'.tile[data-source="{SEARCH_SOURCE}"] button.sync-now').click()
    result = wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, f'.tile[data-source="{SEARCH_SOURCE}"] .sync-result.ok a.run-link'),
        "the new run's link",
    )[0]
    run_id = result.text
    # A refresh redraws the tiles; the run stays there with its state from Airflow's API.
    browser.find_element(By.ID, "refresh").click()
    wait(
        browser,
        lambda d: [
            a
            for a in d.find_elements(By.CSS_SELECTOR, f'.tile[data-source="{SEARCH_SOURCE}"] .sync-result.ok a.run-link')
            if a.text == run_id and a != result
        ],
        "the run after a refresh",
    )
    assert browser.find_element(By.CSS_SELECTOR, f'.tile[data-source="{SEARCH_SOURCE}"] .sync-result').text.startswith("Run queued")
    browser.save_screenshot(str(SCREENSHOTS / "sync-now.png"))

    with create_session() as session:
        runs = {r.run_id: r for r in session.query(DagRun).filter(DagRun.dag_id == dag_id)}
        assert set(runs) - before == {run_id}
        run = runs[run_id]
        assert str(run.run_type) in ("manual", "DagRunType.MANUAL") and run.logical_date is None
        assert run.triggering_user_name == ADMIN[0]  # Airflow's own API, as the logged-in user
    link = browser.find_element(By.CSS_SELECTOR, f'.tile[data-source="{SEARCH_SOURCE}"] .sync-result a.run-link')
    assert link.get_attribute("href").endswith(f"/dags/{dag_id}/runs/{run_id.replace(':', '%3A').replace('+', '%2B')}")
    # The REST API agrees (no scheduler needed: the run waits queued).
    listed = server.api(f"/api/v2/dags/{dag_id}/dagRuns?limit=100", server.token(ADMIN))
    assert run_id in {r["dag_run_id"] for r in listed["dag_runs"]}


def test_admin_toggles_a_project_viewer_cannot(browser, server):
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/vector-sync/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "body[data-ready=true]"), "the dashboard")
    toggle = browser.find_element(By.CSS_SELECTOR, 'input.project-toggle[data-key="ARCH"]')
    assert not toggle.is_selected()
    try:
        toggle.click()
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#projects tr[data-key="ARCH"][data-active="true"]'), "ARCH switched on")
        assert {p.key: p.is_active for p in server.state.projects.all()}["ARCH"] is True
    finally:
        server.state.projects.set_active("ARCH", False)

    sign_in(browser, server, VIEWER)
    assert browser.find_elements(By.CSS_SELECTOR, "input.project-toggle") == []
    assert "only admins" in browser.find_element(By.ID, "projects-note").text
    buttons = browser.find_elements(By.CSS_SELECTOR, "button.sync-now")
    assert buttons and all(not b.is_enabled() for b in buttons)  # a viewer may not trigger DAGs
    browser.execute_script("document.getElementById('search-title').scrollIntoView()")
    browser.save_screenshot(str(SCREENSHOTS / "viewer.png"))


def test_airflow_ui_links_to_the_page(browser, server):
    from selenium.webdriver.common.by import By

    sign_in(browser, server, ADMIN)
    browser.get(server.url + "/")
    link = wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, 'nav a[href$="/plugin/vector-sync"], a[href$="/plugin/vector-sync"]'),
        "the nav link",
    )[0]
    link.click()
    frame = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, 'iframe[src*="/vector-sync/"]'), "the page inside the UI")[0]
    browser.switch_to.frame(frame)
    try:
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "body[data-ready=true] #tiles .tile"), "the tiles inside the UI")
    finally:
        browser.switch_to.default_content()
    browser.save_screenshot(str(SCREENSHOTS / "airflow-nav.png"))


def test_search_as_another_user_is_for_admins_only(browser, server):
    """Nobody here has an email (no Variable vector_sync_identities): search shows public items
    only and the page says so; mapped to an attendee, the viewer sees the restricted meeting.
    Only the admin gets the "As user" field; searching as an attendee shows that meeting, and
    Airflow's audit log records it."""
    from airflow.models import Variable
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from tests.sourcekit import restricted_documents
    from vector_sync.models import Window

    window = Window(server.workspace.start - timedelta(hours=1), server.workspace.anchor)
    meeting = restricted_documents(server.state, window, ("fireflies",))["fireflies"]
    member = meeting.access_list[0]

    def search(as_user: str | None = None) -> tuple[set[str], str]:
        """The document ids of the hits for the meeting's title, and whose view they are."""
        browser.get(server.url + "/vector-sync/")
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "body[data-ready=true]"), "the dashboard")
        browser.find_element(By.ID, "search-q").send_keys(meeting.title)
        Select(browser.find_element(By.ID, "search-source")).select_by_value("fireflies")
        top_k = browser.find_element(By.ID, "search-top-k")
        top_k.clear()
        top_k.send_keys("50")
        if as_user:
            browser.find_element(By.ID, "search-user").send_keys(as_user)
        browser.find_element(By.ID, "search-submit").click()
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#hits[data-query]"), "the search result")
        ids = {h.get_attribute("data-id").rsplit("#", 1)[0] for h in browser.find_elements(By.CSS_SELECTOR, "#hits li.hit")}
        return ids, browser.find_element(By.ID, "search-identity").text

    sign_in(browser, server, VIEWER)
    assert browser.find_elements(By.ID, "search-user") == [] and "As user" not in browser.page_source
    ids, view = search()
    assert (
        meeting.id not in ids
        and view == "Public items only: no email known for user 'viewer': add it to the Variable vector_sync_identities"
    )
    browser.save_screenshot(str(SCREENSHOTS / "viewer-search.png"))
    # The API server reads the Variable from the metadata DB on each request.
    Variable.set("vector_sync_identities", json.dumps({VIEWER[0]: member}))
    try:
        ids, view = search()
    finally:
        Variable.delete("vector_sync_identities")
    assert meeting.id in ids and view == f"Results as {member}"

    sign_in(browser, server, ADMIN)
    assert browser.find_element(By.ID, "search-user").is_displayed()
    ids, view = search()
    assert meeting.id not in ids and view.startswith("Public items only: no email known for user 'admin'")
    ids, view = search(as_user=member)
    assert meeting.id in ids and view.startswith(f"Results as {member}")
    browser.save_screenshot(str(SCREENSHOTS / "admin-search-as.png"))
    audit = server.api("/api/v2/eventLogs?event_pattern=vector_sync_search_as_user&limit=100", server.token(ADMIN))["event_logs"]
    assert {"as_user": member, "q": meeting.title} in [json.loads(e["extra"]) for e in audit if e["owner"] == ADMIN[0]]


def test_tiles_show_webhooks_for_the_sources_that_have_them(browser, server):
    from selenium.webdriver.common.by import By

    from vector_sync.webhooks import VENDORS

    sign_in(browser, server, ADMIN)
    tiles = {t.get_attribute("data-source"): t for t in browser.find_elements(By.CSS_SELECTOR, "#tiles .tile")}
    for name, tile in tiles.items():
        lines = [p.text for p in tile.find_elements(By.CSS_SELECTOR, "p.webhooks")]
        if name in VENDORS:
            assert lines == ["Webhooks: 0 received · 0 rejected · 0 pending · last event none yet"], (name, lines)
        else:
            assert lines == [], name  # Tempo: no webhooks
