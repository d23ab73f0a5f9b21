"""The Notion source against the sandbox, through the real notion-client over HTTP."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest

from sandbox.notion import DEEP_CHAIN, NotionData, NotionSimulator
from sandbox.server import Fault, Sandbox
from sandbox.server import RateLimiter as ServerRateLimiter
from sandbox.workspace import Workspace
from vector_sync.errors import CredentialsError, FatalError
from vector_sync.models import Window, parse_time
from vector_sync.ratelimit import RateLimiter
from vector_sync.sources import notion as notion_source
from vector_sync.sources.notion import NotionSource, make_client, project_tagger
from vector_sync.specs import source_settings

TOKEN = "sandbox-token"
PROJECTS = [
    {"key": "SUBS", "name": "Subscriptions", "is_active": True},
    {"key": "BC", "name": "Billing Console", "is_active": True},
    {"key": "ARCH", "name": "Archive Migration", "is_active": False},
]


@pytest.fixture(scope="module")
def box(workspace):
    """One unthrottled server for the module; tests that need limits or latency start their own."""
    with Sandbox([NotionSimulator(workspace)]) as sandbox:
        yield sandbox


@pytest.fixture()
def sandbox(box, clean_slate):
    return clean_slate(box)


@pytest.fixture(scope="module")
def data(workspace) -> NotionData:
    return workspace.data("notion")


def make_source(box: Sandbox, token: str = TOKEN, **options) -> NotionSource:
    settings = source_settings("notion", {"options": {"rps": None, "projects": PROJECTS, **options}})
    return NotionSource(make_client(box.base_url("notion"), token, timeout_s=10), settings)


def last_hours(workspace, hours: float, ending_hours_ago: float = 0) -> Window:
    end = workspace.anchor - timedelta(hours=ending_hours_ago)
    return Window(end - timedelta(hours=hours), end)


def expected(data: NotionData, window: Window) -> set[str]:
    return {f"notion:{p['id']}" for p in data.pages.values() if window.contains(parse_time(p["last_edited_time"])) and not p["in_trash"]}


def by_role(docs, data: NotionData, role: str):
    return next(d for d in docs if d.id == f"notion:{data.named[role]}")


def minute_of(data: NotionData, role: str) -> Window:
    """The one-minute window holding a page's last edit (fetches that page and few others)."""
    edited = parse_time(data.pages[data.named[role]]["last_edited_time"])
    return Window(edited, edited + timedelta(minutes=1))


# ---------------------------------------------------------------- windows and search
@pytest.mark.parametrize("hours, ending", [(1, 0), (2, 1), (6, 3), (80, 0)])
def test_fetch_yields_exactly_the_pages_edited_in_the_window(sandbox, workspace, data, hours, ending):
    window = last_hours(workspace, hours, ending)
    source = make_source(sandbox)
    docs = list(source.fetch(window))
    assert {d.id for d in docs} == expected(data, window)
    assert len(docs) == len({d.id for d in docs})
    assert list(source.removed_ids(window)) == []  # search leaves the trash out, as Notion's does


def test_search_stops_past_the_window_start_with_a_margin(sandbox, workspace, data):
    window = last_hours(workspace, 1)
    list(make_source(sandbox, page_size=5).fetch(window))
    order = sandbox.simulator("notion")._search_order()
    served = [parse_time(data.pages[p]["last_edited_time"]) for p in order if not data.pages[p]["in_trash"]]
    floor = window.start - notion_source.STOP_MARGIN
    # The search page holding the STOP_MARGIN_RESULTS-th result older than the floor is the last.
    enough = [i for i, t in enumerate(served) if t < floor][notion_source.STOP_MARGIN_RESULTS - 1]
    searches = sandbox.log.count("notion", r"^/v1/search$")
    assert searches == enough // 5 + 1
    assert searches < len(served) // 5  # not paging through everything


def test_a_page_sorted_out_of_line_is_still_found(workspace, data):
    """Search order is not promised: pages stray from their last_edited_time rank (the simulator
    moves each by up to ``order_jitter`` places). A wider stray than the sample's default still
    lands within the stop margin."""
    window = last_hours(workspace, 2)
    with Sandbox([NotionSimulator(workspace, order_jitter=8)]) as box:
        order = box.simulator("notion")._search_order()
        ranks = [parse_time(data.pages[p]["last_edited_time"]) for p in order]
        assert ranks != sorted(ranks, reverse=True)  # the order really is unstable
        docs = {d.id for d in make_source(box, page_size=5).fetch(window)}
    assert docs == expected(data, window)


def test_a_page_indexed_20_minutes_late_is_found_by_the_next_run(workspace, data):
    """Search indexing is not immediate. A page edited 15 minutes before a run but searchable 20
    minutes after its edit is missed by that run; the next hourly run, whose window reaches back
    the source's overlap, still finds it."""
    settings = source_settings("notion")
    page_id = data.named["runbook"]
    edited = parse_time(data.pages[page_id]["last_edited_time"])
    first_end = edited + timedelta(minutes=15)
    first = Window(first_end - timedelta(hours=1), first_end).widened(settings.overlap)
    second = Window(first_end, first_end + timedelta(hours=1)).widened(settings.overlap)
    with Sandbox([NotionSimulator(workspace)]) as box:
        sim = box.simulator("notion")
        sim.index_delay[page_id] = timedelta(minutes=20)
        sim.now = first_end
        assert f"notion:{page_id}" not in {d.id for d in make_source(box).fetch(first)}
        sim.now = second.end
        assert f"notion:{page_id}" in {d.id for d in make_source(box).fetch(second)}
    assert settings.overlap >= timedelta(minutes=20)


def test_a_long_window_is_listed_once_and_its_pages_split_among_the_parts(workspace):
    """Time slices would each page search from the newest page down to their own start; the
    parts share one listing instead: together they fetch what one fetch does, search paged once."""
    big = Workspace(anchor=workspace.anchor, scale=6)
    window = Window(big.start, big.anchor)
    with Sandbox([NotionSimulator(big)]) as box:
        whole = {d.id for d in make_source(box).fetch(window)}
        one_listing = box.log.count("notion", r"^/v1/search$")
        box.log.reset()
        planner = make_source(box)
        scopes = planner.parts(window)
        assert len(scopes) >= 3 and all(len(s["pages"]) > 10 for s in scopes)
        assert box.log.count("notion", r"^/v1/search$") == one_listing > 1
        ids: list[str] = []
        for scope in scopes:  # each part in a task of its own: a fresh source
            part = make_source(box)
            ids += [d.id for d in part.fetch_part(window, scope)]
            assert list(part.removed_ids(window)) == []
        assert box.log.count("notion", r"^/v1/search$") == one_listing  # the parts search nothing
        read = {path.rsplit("/", 1)[1] for (api, _method, path) in box.log.calls if api == "notion" and path.startswith("/v1/pages/")}
    sample = big.data("notion")
    parents = {o["parent"].get("page_id") for o in [*sample.pages.values(), *sample.blocks.values()]}
    assert read <= parents  # pages are retrieved only as some page's ancestor, never for themselves
    assert sorted(ids) == sorted(whole) and len(whole) > 100
    assert planner.part_label(scopes[0]).endswith(" pages")


def test_window_edges_are_half_open(sandbox, workspace, data):
    runbook = data.pages[data.named["runbook"]]
    edited = parse_time(runbook["last_edited_time"])
    before, starting = Window(edited - timedelta(hours=1), edited), Window(edited, edited + timedelta(minutes=1))
    assert f"notion:{runbook['id']}" not in {d.id for d in make_source(sandbox).fetch(before)}
    assert f"notion:{runbook['id']}" in {d.id for d in make_source(sandbox).fetch(starting)}
    # Consecutive windows split the pages between them: none lost, none twice.
    windows = [last_hours(workspace, 1, n) for n in range(1, 4)]
    split = [d.id for w in windows for d in make_source(sandbox).fetch(w)]
    assert sorted(split) == sorted(d.id for d in make_source(sandbox).fetch(last_hours(workspace, 3, 1)))


def test_trashed_pages_are_not_searched_so_the_prune_removes_them(sandbox, workspace, data):
    """Notion's search leaves the trash out: a window never sees a page being trashed (nor reads
    its blocks). The prune's listing does not list it and retrieving it confirms it is gone."""
    window = last_hours(workspace, 1)
    trashed = f"notion:{data.named['trashed']}"
    source = make_source(sandbox)
    docs = list(source.fetch(window))
    assert trashed not in {d.id for d in docs}
    assert list(source.removed_ids(window)) == [] == list(make_source(sandbox).removed_ids(window))
    assert sandbox.log.count("notion", data.named["trashed"]) == 0  # its blocks are never read
    assert trashed not in set(source.live_ids())
    assert source.confirm_gone([trashed, docs[0].id]) == [trashed]


# ---------------------------------------------------------------- content
def test_nesting_is_followed_to_any_depth_and_children_are_paged(sandbox, workspace, data):
    source = make_source(sandbox, block_page_size=10)
    deep = by_role(source.fetch(minute_of(data, "deep")), data, "deep").text
    assert "▸ Level 1\n  ▸ Level 2\n    ▸ Level 3\n      ▸ Level 4" in deep
    assert "Level 10" in deep and "Bottom of the chain" in deep  # no fixed depth limit
    assert "  - Item 1\n" in deep and "  - Item 105" in deep  # children of a block, paged
    assert "        - Bullet depth 5" in deep
    assert not source.stats.skipped
    runbook = by_role(source.fetch(minute_of(data, "runbook")), data, "runbook").text
    assert runbook.count("Step 18: check") == 6  # 115 blocks over 12 pages of 10
    assert sandbox.log.count("notion", f"/v1/blocks/{data.named['runbook']}/children") == 12


def test_a_chain_in_a_column_thirty_deep_and_a_synced_cycle(sandbox, workspace, data):
    """Toggles in a column 30 levels deep are read to the bottom; a duplicate synced block inside
    its own original is read once, and the cycle counted."""
    source = make_source(sandbox)
    text = by_role(source.fetch(minute_of(data, "synced")), data, "synced").text
    assert f"Column level {DEEP_CHAIN}" in text and "Bottom of the column chain" in text
    assert text.count("Synced original text") == 1
    assert source.stats.skipped == {"block cycle": 1}


def test_a_page_over_the_block_budget_is_cut_and_counted(sandbox, workspace, data):
    source = make_source(sandbox, max_blocks=20)
    text = by_role(source.fetch(minute_of(data, "runbook")), data, "runbook").text
    assert "Step 1: check webhook retries" in text and "Step 18: check plan upgrades" not in text
    assert source.stats.skipped["block budget"] == 1


def test_every_supported_block_type_is_rendered(sandbox, workspace, data):
    source = make_source(sandbox)
    text = by_role(source.fetch(minute_of(data, "gallery")), data, "gallery").text
    for snippet in [
        "# Gallery",
        "Owner: @Dana Reyes, see [the docs](https://docs.example.com/billing)$E = mc^2$",
        "## Lists",
        "- Bullet one\n  - Nested bullet",
        "1. First\n2. Second",
        "- [x] Done item\n- [ ] Open item",
        "▸ Toggle title\n  Hidden detail\n  Child page: Gallery child",
        "### Quotes and code",
        "> Ship small changes",
        "> ⚠️ Mind the cut-off\n> Invoices close at 18:00 UTC",
        "```sql\nSELECT count(*) FROM invoices;\n```",
        "$$ a^2 + b^2 = c^2 $$",
        "---",
        "| Plan | Price |\n| --- | --- |\n| Basic | 10 EUR |\n| Pro | 25 EUR |",
        "Bookmark: [Status page](https://status.example.com)",
        "Embed: https://embed.example.com/chart",
        "Link: https://github.com/example/billing/pull/42",
        "Image: [Architecture diagram](https://cdn.example.com/arch.png)",
        "Video: https://video.example.com/demo.mp4",
        "File: Pricing sheet",
        "PDF: [Contract template](https://docs.example.com/contract.pdf)",
        "Audio: https://media.example.com/standup.mp3",
        "### Toggle heading",
        "Under a toggle heading",
        f"Link to page: https://www.notion.so/{data.named['runbook'].replace('-', '')}",
        "Left column",
        "Right column",
        "Synced text",
    ]:
        assert snippet in text, snippet
    assert "X-Amz-Signature" not in text  # Notion-hosted file URLs expire: never indexed
    assert source.stats.skipped["unsupported block: unsupported"] == 1
    # Child pages and databases are their own documents; the parent names them.
    root = by_role(make_source(sandbox).fetch(minute_of(data, "root")), data, "root")
    assert "Child page: Handbook" in root.text and "Child database: Incidents" in root.text


# ---------------------------------------------------------------- documents
def test_document_fields_segments_and_breadcrumb(sandbox, workspace, data):
    docs = list(make_source(sandbox).fetch(last_hours(workspace, 1)))
    runbook = by_role(docs, data, "runbook")
    page = data.pages[data.named["runbook"]]
    hub = data.named["hub:SUBS"]
    assert runbook.id == f"notion:{page['id']}" and runbook.source == "notion"
    assert runbook.title == "Runbook" and runbook.url == page["url"]
    assert runbook.updated_at == parse_time(page["last_edited_time"])
    assert runbook.projects == ("SUBS",) and runbook.access_type == "all"
    assert dict(runbook.metadata) == {
        "source": "notion",
        "page_id": page["id"],
        "url": page["url"],
        "created_time": parse_time(page["created_time"]).isoformat(),
        "last_edited_time": parse_time(page["last_edited_time"]).isoformat(),
        "timestamp_epoch": int(parse_time(page["last_edited_time"]).timestamp()),
        "access_type": "all",
        "title": "Runbook",
        "parent": f"page_id:{hub}",
        "breadcrumb": "Engineering / Subscriptions (SUBS) / Runbook",
    }
    headings = [s.metadata["heading"] for s in runbook.segments]
    assert headings == [
        "Runbook",
        "1. Webhook retries",
        "2. Proration rules",
        "3. Invoice pdfs",
        "4. Dunning emails",
        "5. Tax rounding",
        "6. Plan upgrades",
    ]
    assert runbook.segments[0].text.startswith("Runbook\n\nOn-call runbook")
    assert runbook.segments[1].text.startswith("## 1. Webhook retries\n\n1. Step 1: check webhook retries")
    assert runbook.text == "\n\n".join(s.text for s in runbook.segments)
    for doc in docs:
        assert all(isinstance(v, (str, int, float, bool)) for v in doc.metadata.values())
        assert doc.text.strip() and doc.segments


def test_database_rows_and_block_parents(sandbox, workspace, data):
    docs = list(make_source(sandbox).fetch(last_hours(workspace, 1)))
    row = by_role(docs, data, "incident:0")
    page = data.pages[data.named["incident:0"]]
    assert row.metadata["breadcrumb"] == "Engineering / Incidents / SUBS incident: Webhook retries"
    assert row.metadata["parent"] == f"data_source_id:{page['parent']['data_source_id']}"
    assert row.text.startswith("SUBS incident: Webhook retries\nStatus: Open\nOwner: Dana Reyes")
    assert row.projects == ("SUBS",)
    child = by_role(docs, data, "gallery_child")
    assert child.metadata["breadcrumb"] == "Engineering / Handbook / Block gallery / Gallery child"
    assert child.projects == ()  # handbook pages belong to no project (kept: keep_unmapped)


def test_parents_are_retrieved_once(sandbox, workspace, data):
    list(make_source(sandbox, workers=8).fetch(last_hours(workspace, 6)))
    lookups = [(path, n) for (api, method, path), n in sandbox.log.calls.items() if method == "GET" and not path.endswith("/children")]
    assert lookups and all(n == 1 for _path, n in lookups), lookups


def test_project_rule():
    rule = project_tagger({"project_keys": ["SUBS", "BC"], "projects": PROJECTS})
    assert rule("BC-12 rollout", "Engineering") == ("BC",)
    assert rule("Runbook", "Engineering / Subscriptions / Runbook") == ("SUBS",)
    assert rule("Archive migration notes") == ("ARCH",)
    assert rule("abc subs bcd", "ABC") == ()  # keys are whole words in capitals
    assert project_tagger({})("SUBS and BC plans / Notes") == ("BC", "SUBS")  # fallback
    assert project_tagger({"project_keys": ["SUBS"]})("BC plan") == ()


# ---------------------------------------------------------------- throughput and limits
def test_rate_limiter_holds_three_requests_per_second(workspace, data):
    limits = {"notion": ServerRateLimiter(3)}  # Notion's own limit, simulated: 429 above it
    with Sandbox([NotionSimulator(workspace)], latency_ms=20, rate_limits=limits) as box:
        source = make_source(box, rps=3, workers=4)
        started = time.monotonic()
        docs = list(source.fetch(last_hours(workspace, 0.6)))
        elapsed = time.monotonic() - started
        times = box.log.times("notion")
        assert box.log.status_count("notion", 429) == 0
    assert docs and len(times) >= 8
    busiest = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert busiest <= 4, busiest
    assert elapsed >= (len(times) - 1) / 3 - 0.1  # held to 3/s ...
    assert elapsed <= 1.3 * (len(times) - 1) / 3 + 0.5  # ... and no slower


def test_pages_are_read_concurrently(workspace, data):
    latency_s = 0.1
    with Sandbox([NotionSimulator(workspace)], latency_ms=latency_s * 1000) as box:
        source = make_source(box, workers=8)
        started = time.monotonic()
        # Ordinary pages (the ten-level page is a chain of requests that cannot overlap).
        docs = list(source.fetch(last_hours(workspace, 3, ending_hours_ago=1)))
        elapsed = time.monotonic() - started
        requests = box.log.count("notion")
    assert len(docs) >= 10
    assert elapsed < requests * latency_s / 2, (elapsed, requests)  # one after another: all of it


def test_throughput_without_limit(workspace):
    big = Workspace(anchor=workspace.anchor, scale=3)
    with Sandbox([NotionSimulator(big)]) as box:
        source = make_source(box)
        started = time.monotonic()
        docs = list(source.fetch(Window(big.start, big.anchor)))
        elapsed = time.monotonic() - started
    assert len(docs) > 120
    assert len(docs) / elapsed * 60 >= 5000, f"{len(docs) / elapsed * 60:.0f} pages/min"


def test_limiter_spacing_bursts_and_threads():
    now = [0.0]
    slept = []
    limiter = RateLimiter(4, clock=lambda: now[0], sleep=slept.append)
    assert [limiter.reserve() for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    limiter.acquire()
    assert slept == [1.0]  # the caller sleeps until its slot, outside the lock
    now[0] = 10.0  # idle long enough: no debt carried over
    assert limiter.reserve() == 0.0
    bursty = RateLimiter(4, burst=3, clock=lambda: now[0])
    assert [bursty.reserve() for _ in range(4)] == [0.0, 0.0, 0.0, 0.25]
    assert RateLimiter(None).reserve() == 0.0 and not RateLimiter(0).enabled

    shared = RateLimiter(200)
    stamps = []
    lock = threading.Lock()

    def worker():
        for _ in range(10):
            shared.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(5)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started >= 49 / 200 - 0.01  # 50 slots, 5 ms apart, across threads


# ---------------------------------------------------------------- failures
@pytest.mark.parametrize("status, path", [(429, r"^/v1/search$"), (503, r"^/v1/search$"), (504, "/children$")])
def test_rate_limit_and_server_errors_are_retried(sandbox, workspace, data, status, path):
    # Search is a POST: the SDK alone would not retry its 503 (ReadClient does: it only reads).
    sandbox.faults.add(Fault(api="notion", kind="status", status=status, times=1, path=path, retry_after_s=1))
    window = minute_of(data, "runbook")
    started = time.monotonic()
    docs = list(make_source(sandbox).fetch(window))
    assert {d.id for d in docs} == expected(data, window)
    assert sandbox.log.status_count("notion", status) == 1
    if status != 504:  # (the sandbox sends no Retry-After with 504: the SDK backs off 0.5-1.5 s)
        assert time.monotonic() - started >= 1.0  # Retry-After was honoured


def test_wrong_token_fails_at_once(sandbox, workspace):
    with pytest.raises(CredentialsError, match="notion_default"):
        list(make_source(sandbox, token="wrong").fetch(last_hours(workspace, 1)))
    assert sandbox.log.count("notion") == 1 and sandbox.log.status_count("notion", 401) == 1


def test_unreadable_page_is_skipped_and_counted(sandbox, workspace, data):
    sandbox.faults.add(Fault(api="notion", kind="status", status=404, times=1, path=data.named["gallery"]))
    window = last_hours(workspace, 1)
    source = make_source(sandbox)
    docs = list(source.fetch(window))
    assert {d.id for d in docs} == expected(data, window) - {f"notion:{data.named['gallery']}"}
    assert source.stats.skipped["page vanished"] == 1


# ---------------------------------------------------------------- the Airflow hook
def test_hook_builds_the_client_from_an_env_connection(monkeypatch, sandbox, workspace, data, caplog):
    from vector_sync.hooks.notion import NotionHook

    connection = {
        "conn_type": "notion",
        "host": sandbox.base_url("notion"),
        "password": TOKEN,
        "extra": {"notion_version": "2025-09-03", "timeout_s": 5, "max_retries": 1},
    }
    monkeypatch.setenv("AIRFLOW_CONN_NOTION_DEFAULT", json.dumps(connection))
    client = NotionHook().get_conn()
    assert client.options.notion_version == "2025-09-03" and client.options.timeout_ms == 5000
    assert client._max_retries == 1
    assert TOKEN not in caplog.text
    settings = source_settings("notion", {"options": {"rps": None}})
    window = last_hours(workspace, 1)
    assert {d.id for d in NotionSource(client, settings).fetch(window)} == expected(data, window)


def test_hook_defaults_and_uri_connections(monkeypatch, sandbox):
    from vector_sync.hooks.notion import NotionHook

    monkeypatch.setenv("AIRFLOW_CONN_NOTION_CLOUD", json.dumps({"conn_type": "notion", "password": "ntn_x"}))
    cloud = NotionHook(notion_conn_id="notion_cloud").get_conn()
    assert str(cloud.client.base_url) == "https://api.notion.com/v1/"
    host, port = sandbox.url.rsplit("/", 1)[1].split(":")
    monkeypatch.setenv("AIRFLOW_CONN_NOTION_URI", f"notion://:{TOKEN}@{host}:{port}/notion")
    client = NotionHook(notion_conn_id="notion_uri").get_conn()
    assert client.search(page_size=1)["object"] == "list"
    monkeypatch.setenv("AIRFLOW_CONN_NOTION_EMPTY", json.dumps({"conn_type": "notion"}))
    with pytest.raises(FatalError, match="notion_empty"):
        NotionHook(notion_conn_id="notion_empty").get_conn()
    monkeypatch.delenv("AIRFLOW_CONN_NOTION_MISSING", raising=False)
    with pytest.raises(FatalError, match="notion_missing"):
        NotionHook(notion_conn_id="notion_missing").get_conn()
    assert NotionHook.default_conn_name == "notion_default" and NotionHook.conn_type == "notion"
