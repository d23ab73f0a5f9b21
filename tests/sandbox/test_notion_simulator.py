"""The Notion simulator against Notion's recorded responses, and the sample it serves."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import httpx
import pytest
import yaml

from sandbox.notion import MAX_PAGE_SIZE, ORDER_JITTER, NotionData, NotionSimulator, generate
from sandbox.server import Fault, RateLimiter, Sandbox
from sandbox.workspace import Workspace
from vector_sync.notion_blocks import SUPPORTED_TYPES

HEADERS = {"Authorization": "Bearer sandbox-token", "Notion-Version": "2025-09-03"}


@pytest.fixture(scope="module")
def box(workspace):
    """One server for the module (the simulator only reads); faults are cleared per test."""
    with Sandbox([NotionSimulator(workspace)]) as sandbox:
        yield sandbox


@pytest.fixture()
def api(box, clean_slate):
    clean_slate(box)
    with httpx.Client(base_url=box.base_url("notion") + "/v1", headers=HEADERS) as client:
        yield client


@pytest.fixture(scope="module")
def data(workspace) -> NotionData:
    return workspace.data("notion")


@pytest.fixture(scope="module")
def recorded(vendor_dir):
    """Recorded responses: (method, path, status) -> [body] from the cassettes and block files."""
    found: dict[tuple[str, str, int], list] = {}
    for cassette in sorted((vendor_dir / "notion").glob("*.cassette.yaml")):
        for interaction in yaml.safe_load(cassette.read_text())["interactions"]:
            request, response = interaction["request"], interaction["response"]
            path = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "{id}", request["uri"].split("api.notion.com")[1].split("?")[0])
            key = (request["method"], path, response["status"]["code"])
            found.setdefault(key, []).append(json.loads(response["body"]["string"]))
    # Recorded with an older API version (no in_trash, no paragraph icon): kept apart.
    for listing in sorted((vendor_dir / "notion").glob("retrieve_block_children_*.json")):
        found.setdefault(("OLD", "/v1/blocks/{id}/children", 200), []).append(json.loads(listing.read_text()))
    return found


def shape_diff(actual, expected, path="$", ignore=frozenset()) -> list[str]:
    """Differences in keys and JSON types (null matches anything: nullable fields)."""
    if actual is None or expected is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: {type(actual).__name__} instead of object"]
        kinds = (actual.get("type"), expected.get("type"))
        if all(isinstance(k, str) for k in kinds) and kinds[0] != kinds[1]:
            ignore = ignore | set(kinds)  # {"type": X, X: {...}}: the X bodies differ by design
        problems = [f"{path}: keys {sorted(set(actual) ^ set(expected) - ignore)}"] if (set(actual) ^ set(expected)) - ignore else []
        for key in set(actual) & set(expected):
            problems += shape_diff(actual[key], expected[key], f"{path}.{key}", ignore)
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: {type(actual).__name__} instead of array"]
        return shape_diff(actual[0], expected[0], f"{path}[0]", ignore) if actual and expected else []
    numbers = (int, float)
    same = isinstance(actual, numbers) and isinstance(expected, numbers) and not isinstance(actual, bool) and not isinstance(expected, bool)
    if not same and type(actual) is not type(expected):
        return [f"{path}: {type(actual).__name__} instead of {type(expected).__name__}"]
    return []


def recorded_blocks(recorded) -> dict[str, tuple[dict, frozenset]]:
    """One recorded block per type -> (block, keys to ignore), the pinned version's first."""
    blocks: dict[str, tuple[dict, frozenset]] = {}
    for method, ignore in (("GET", frozenset()), ("OLD", frozenset({"in_trash", "icon"}))):
        for listing in recorded[(method, "/v1/blocks/{id}/children", 200)]:
            for block in listing["results"]:
                blocks.setdefault(block["type"], (block, ignore))
    return blocks


# ---------------------------------------------------------------- shapes vs recordings
def test_page_object_matches_the_recorded_page(api, data, recorded):
    expected = recorded[("GET", "/v1/pages/{id}", 200)][0]
    page = api.get(f"/pages/{data.named['runbook']}").json()
    assert shape_diff(page, expected) == []
    assert page["properties"]["title"]["title"][0]["plain_text"] == "Runbook"


def test_block_objects_match_the_recorded_blocks_per_type(api, data, recorded):
    expected = recorded_blocks(recorded)
    served: dict[str, dict] = {}
    for role in ("gallery", "deep", "runbook", "root"):
        pending = [data.named[role]]
        while pending:
            listing = api.get(f"/blocks/{pending.pop()}/children").json()
            for block in listing["results"]:
                served.setdefault(block["type"], block)
                if block["has_children"] and block["type"] not in ("child_page", "child_database"):
                    pending.append(block["id"])
    compared = set(served) & set(expected)
    assert compared >= SUPPORTED_TYPES - {"pdf", "audio"}  # not in the recordings
    for kind in sorted(compared):
        block, ignore = expected[kind]
        assert shape_diff(served[kind], block, kind, ignore=ignore) == [], kind


def test_rich_text_items_match_the_recording(api, data, recorded):
    recorded_items = {}
    for listing in recorded[("GET", "/v1/blocks/{id}/children", 200)] + recorded[("OLD", "/v1/blocks/{id}/children", 200)]:
        for block in listing["results"]:
            for item in (block.get(block["type"]) or {}).get("rich_text") or []:
                recorded_items.setdefault(item["type"] + ":" + item.get("mention", {}).get("type", ""), item)
    listing = api.get(f"/blocks/{data.named['gallery']}/children").json()
    mention_paragraph = next(b for b in listing["results"] if b["type"] == "paragraph")
    served = {i["type"] + ":" + i.get("mention", {}).get("type", ""): i for i in mention_paragraph["paragraph"]["rich_text"]}
    assert set(served) == {"text:", "mention:user", "equation:"}
    for kind, item in served.items():
        assert shape_diff(item, recorded_items[kind], kind) == []


def test_list_envelopes_match_the_recordings(api, data, recorded):
    search = api.post("/search", json={"filter": {"property": "object", "value": "page"}, "page_size": 2}).json()
    assert shape_diff(search, recorded[("POST", "/v1/search", 200)][0]) == []
    assert search["type"] == "page_or_data_source" and search["has_more"] is True
    children = api.get(f"/blocks/{data.named['runbook']}/children", params={"page_size": 2}).json()
    recorded_children = next(r for r in recorded[("GET", "/v1/blocks/{id}/children", 200)] if r["has_more"])
    assert shape_diff(children, recorded_children) == []
    assert children["object"] == "list" and children["type"] == "block" and children["block"] == {}


def test_error_bodies_match_the_recordings(api, box, recorded):
    unauthorized = httpx.get(box.base_url("notion") + "/v1/users", headers={**HEADERS, "Authorization": "Bearer wrong"})
    assert unauthorized.status_code == 401
    assert unauthorized.json()["code"] == "unauthorized"
    assert shape_diff(unauthorized.json(), recorded[("GET", "/v1/users", 401)][0]) == []
    missing = api.get("/pages/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "object_not_found"
    assert shape_diff(missing.json(), recorded[("GET", "/v1/pages/{id}", 404)][0], ignore={"additional_data"}) == []
    invalid = api.get("/invalid")
    assert invalid.status_code == 400
    assert {k: v for k, v in invalid.json().items() if k != "request_id"} == {
        k: v for k, v in recorded[("GET", "/v1/invalid", 400)][0].items() if k != "request_id"
    }


# ---------------------------------------------------------------- API behaviour
def test_search_pages_newest_first_with_cursors(api, data):
    seen, cursor, requests = [], None, 0
    while True:
        body = {
            "filter": {"property": "object", "value": "page"},
            "sort": {"direction": "descending", "timestamp": "last_edited_time"},
            "page_size": 7,
        }
        if cursor:
            body["start_cursor"] = cursor
        page = api.post("/search", json=body).json()
        requests += 1
        seen += page["results"]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    # Every page once, the trash left out (notion-sdk-js: in_trash "was and remains excluded by
    # default"), roughly newest first: Notion promises no strict order (ORDER_JITTER places).
    live = [p for p in data.search_order if not data.pages[p]["in_trash"]]
    assert sorted(p["id"] for p in seen) == sorted(live) and len(seen) == len(live)
    assert data.named["trashed"] not in {p["id"] for p in seen}
    assert requests == -(-len(live) // 7)
    assert [p["id"] for p in seen] != live  # out of line somewhere ...
    assert all(abs(live.index(p["id"]) - i) <= ORDER_JITTER + 1 for i, p in enumerate(seen))  # ... but not far
    edited = [p["last_edited_time"] for p in seen]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z", t) for t in edited)  # minute precision
    # Ascending is the same order reversed, so a listing's cursors stay consistent.
    ascending = api.post("/search", json={"sort": {"direction": "ascending", "timestamp": "last_edited_time"}, "page_size": 100})
    assert [p["id"] for p in ascending.json()["results"] if p["object"] == "page"] == [p["id"] for p in seen][::-1]


def test_search_indexes_late_and_leaves_trashed_pages_out(box, workspace, data):
    sim = box.simulator("notion")
    runbook = data.named["runbook"]
    edited = _time(data.pages[runbook]["last_edited_time"])

    def searched() -> set[str]:
        body = {"filter": {"property": "object", "value": "page"}, "page_size": 100}
        return {p["id"] for p in httpx.post(box.base_url("notion") + "/v1/search", headers=HEADERS, json=body).json()["results"]}

    try:
        sim.index_delay[runbook] = timedelta(minutes=20)
        sim.now = edited + timedelta(minutes=19)
        assert runbook not in searched()
        assert httpx.get(box.base_url("notion") + f"/v1/pages/{runbook}", headers=HEADERS).status_code == 200
        sim.now = edited + timedelta(minutes=20)
        assert runbook in searched()
        sim.trashed.add(runbook)
        assert runbook not in searched()
        page = httpx.get(box.base_url("notion") + f"/v1/pages/{runbook}", headers=HEADERS).json()
        assert page["in_trash"] is True  # retrieving still shows it, in the trash
    finally:
        sim.index_delay.clear()
        sim.now = None
        sim.trashed.clear()


def test_search_validates_its_body(api):
    too_big = api.post("/search", json={"page_size": MAX_PAGE_SIZE + 1})
    assert too_big.status_code == 400 and too_big.json()["code"] == "validation_error"
    assert api.post("/search", json={"filter": {"property": "object", "value": "database"}}).status_code == 400
    assert api.post("/search", json={"start_cursor": "nonsense"}).status_code == 400
    broken = api.post("/search", content=b"{", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["code"] == "invalid_json"
    assert api.get("/blocks/not-a-block/children").status_code == 400  # no such route: invalid_request_url
    sources = api.post("/search", json={"filter": {"property": "object", "value": "data_source"}}).json()
    assert [r["object"] for r in sources["results"]] == ["data_source"]


def test_block_children_are_paged_first_level_only(api, data):
    runbook = data.named["runbook"]
    first = api.get(f"/blocks/{runbook}/children").json()
    assert len(first["results"]) == 100 and first["has_more"]
    rest = api.get(f"/blocks/{runbook}/children", params={"start_cursor": first["next_cursor"]}).json()
    assert len(rest["results"]) == len(data.children[runbook]) - 100 and not rest["has_more"]
    assert api.get(f"/blocks/{runbook}/children", params={"page_size": 101}).status_code == 400
    # Ids are accepted without dashes too, as Notion does.
    assert api.get(f"/pages/{runbook.replace('-', '')}").json()["id"] == runbook


def test_a_duplicate_synced_block_lists_its_originals_children(api, data):
    page = data.named["synced"]
    original = next(b for b in api.get(f"/blocks/{page}/children").json()["results"] if b["type"] == "synced_block")
    assert original["synced_block"]["synced_from"] is None and original["has_children"]
    inside = api.get(f"/blocks/{original['id']}/children").json()["results"]
    duplicate = next(b for b in inside if b["type"] == "synced_block")
    assert duplicate["synced_block"]["synced_from"] == {"type": "block_id", "block_id": original["id"]}
    again = api.get(f"/blocks/{duplicate['id']}/children").json()["results"]
    assert [b["id"] for b in again] == [b["id"] for b in inside]  # the original's content, itself included


def test_parents_resolve_through_data_sources_databases_and_blocks(api, data):
    row = data.pages[data.named["incident:0"]]
    assert row["parent"]["type"] == "data_source_id"
    source = api.get(f"/data_sources/{row['parent']['data_source_id']}").json()
    assert source["object"] == "data_source" and source["database_parent"]["page_id"] == data.named["root"]
    database = api.get(f"/databases/{row['parent']['database_id']}").json()
    assert database["data_sources"][0]["id"] == source["id"]
    child = data.pages[data.named["gallery_child"]]
    block = api.get(f"/blocks/{child['parent']['block_id']}").json()
    assert block["type"] == "toggle" and block["parent"]["page_id"] == data.named["gallery"]


def test_missing_version_and_rate_limit_answers(box, workspace):
    response = httpx.post(box.base_url("notion") + "/v1/search", headers={"Authorization": HEADERS["Authorization"]}, json={})
    assert response.status_code == 400 and response.json()["code"] == "missing_version"
    box.faults.add(Fault(api="notion", kind="status", status=429, retry_after_s=1))
    limited = httpx.post(box.base_url("notion") + "/v1/search", headers=HEADERS, json={})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json()["code"] == "rate_limited" and limited.json()["object"] == "error"
    with Sandbox([NotionSimulator(workspace)], rate_limits={"notion": RateLimiter(3)}) as limited_box:
        statuses = [httpx.post(limited_box.base_url("notion") + "/v1/search", headers=HEADERS, json={}).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]


# ---------------------------------------------------------------- the sample
def test_sample_covers_what_the_connector_must_handle(data, workspace):
    block_types = {b["type"] for b in data.blocks.values()}
    assert block_types >= SUPPORTED_TYPES
    assert "unsupported" in block_types
    assert len(data.children[data.named["runbook"]]) > 100
    assert _depth(data, data.named["deep"]) > 8  # deeper than the default depth limit
    assert any(len(kids) > 100 for bid, kids in data.children.items() if bid in data.blocks and bid not in data.pages)
    assert data.pages[data.named["trashed"]]["in_trash"] is True
    assert sum(p["parent"]["type"] == "data_source_id" for p in data.pages.values()) >= 3
    titles = [data.title(p) for p in data.pages]
    for project in workspace.projects:
        assert any(project.key in t for t in titles)
    # Every person is fictional, every address example.com.
    emails = re.findall(r'"email": "([^"]+)"', json.dumps([data.pages, data.blocks]))
    assert emails and all(e.endswith("@example.com") for e in emails)
    # Activity in each of the last six hourly windows, all of it before the anchor.
    edited = [_time(p["last_edited_time"]) for p in data.pages.values()]
    assert max(edited) < workspace.anchor and min(edited) >= workspace.start
    for hours_ago in range(6):
        end = workspace.anchor - timedelta(hours=hours_ago)
        assert sum(end - timedelta(hours=1) <= t < end for t in edited) >= 3


def test_sample_is_deterministic_and_scales_quickly(workspace):
    again = generate(Workspace(anchor=workspace.anchor))
    assert again.search_order == workspace.data("notion").search_order
    started = time.monotonic()
    big = generate(Workspace(anchor=workspace.anchor, scale=50))
    assert time.monotonic() - started < 5
    assert len(big.pages) > 40 * 50


def _depth(data: NotionData, block_id: str) -> int:
    kids = data.children.get(block_id) or []
    return 1 + max((_depth(data, k) for k in kids if k not in data.pages), default=0) if kids else 0


def _time(text: str):
    from vector_sync.models import parse_time

    return parse_time(text)


# ---------------------------------------------------------------- people's edits and new pages
def test_an_edited_page_serves_its_new_text_and_comes_first_in_search(workspace, data, recorded):
    sim = NotionSimulator(workspace, order_jitter=0)
    with Sandbox([sim]) as box, httpx.Client(base_url=box.base_url("notion") + "/v1", headers=HEADERS) as api:
        handbook = data.named["handbook"]
        before = api.get(f"/pages/{handbook}").json()
        block = sim.edit_page(handbook, "Team conventions, rewritten: platypus-5.")
        page = api.get(f"/pages/{handbook}").json()
        assert page["last_edited_time"] > before["last_edited_time"] and page["last_edited_time"].endswith(":00.000Z")
        texts = [b["paragraph"]["rich_text"][0]["plain_text"] for b in api.get(f"/blocks/{handbook}/children").json()["results"] if b["type"] == "paragraph"]  # fmt: skip
        assert texts[0] == "Team conventions, rewritten: platypus-5."
        assert api.get(f"/blocks/{block['id']}").json()["last_edited_time"] == page["last_edited_time"]
        newest = api.post("/search", json={"filter": {"property": "object", "value": "page"}, "page_size": 1}).json()["results"]
        assert [p["id"] for p in newest] == [handbook]

        created = sim.create_page(handbook, "Wombat review", "Notes from the wombat-3 review.")
        assert created["id"] not in data.pages and created["parent"] == {"type": "page_id", "page_id": handbook}
        assert shape_diff(api.get(f"/pages/{created['id']}").json(), recorded[("GET", "/v1/pages/{id}", 200)][0]) == []
        [paragraph] = api.get(f"/blocks/{created['id']}/children").json()["results"]
        assert paragraph["paragraph"]["rich_text"][0]["plain_text"] == "Notes from the wombat-3 review."
        assert created["id"] in [b["id"] for b in api.get(f"/blocks/{handbook}/children").json()["results"] if b["type"] == "child_page"]
        # The shared sample is untouched, and a reset forgets the changes.
        assert data.pages[handbook]["last_edited_time"] == before["last_edited_time"]
        assert data.blocks[block["id"]]["paragraph"]["rich_text"][0]["plain_text"] == "Team conventions."
        assert created["id"] not in data.children[handbook]
        sim.reset_changes()
        assert api.get(f"/pages/{created['id']}").status_code == 404
        with pytest.raises(KeyError):
            sim.edit_page("00000000-0000-4000-8000-00000000dead", "x")
