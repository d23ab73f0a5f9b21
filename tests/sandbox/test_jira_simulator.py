"""The Jira simulator: its data, its behaviour under the real ``jira`` library, and its shapes
held against Atlassian's published OpenAPI document (so it cannot drift into a private dialect)."""

from __future__ import annotations

import copy
import json
import re
import time
import types
from collections import Counter
from datetime import timedelta

import jsonschema
import pytest
import requests
from jira import JIRA, JIRAError, resilientsession

from sandbox import build_sandbox, jql
from sandbox.jira import (
    BOUNDARY_OFFSET,
    EMBEDDED_COMMENTS,
    LONG_THREAD_COMMENTS,
    SEARCH_REQUEST_SCHEMA,
    SLOT,
    JiraSimulator,
    epoch_ms,
    generate,
    parse_time,
)
from sandbox.server import Fault, RateLimiter, Sandbox
from sandbox.workspace import Workspace

EMAIL = "dana.reyes@example.com"
TOKEN = "sandbox-token"
ALL_PROJECTS = "project in (SUBS, BC, ARCH)"
JIRA_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(workspace):
    return workspace.data("jira")


@pytest.fixture(scope="module")
def shared_box(workspace):
    """Only the Jira simulator, so other simulators cannot affect these tests; shared because
    starting and stopping a server costs about half a second."""
    with build_sandbox(workspace, apis=["jira"]) as sandbox:
        yield sandbox


@pytest.fixture()
def box(shared_box, clean_slate):
    """The shared sandbox with no faults and an empty request log (tests that mutate data make their own)."""
    return clean_slate(shared_box)


@pytest.fixture()
def client(box) -> JIRA:
    return JIRA(server=box.base_url("jira"), basic_auth=(EMAIL, TOKEN), options={"rest_api_version": "3"}, max_retries=0)


@pytest.fixture()
def api(box):
    """GET/POST against /rest/api/3 with valid credentials; returns the raw response."""
    session = requests.Session()
    session.auth = (EMAIL, TOKEN)
    base = box.base_url("jira") + "/rest/api/3"

    def call(path: str, method: str = "GET", **kwargs) -> requests.Response:
        return session.request(method, base + path, timeout=10, **kwargs)

    yield call
    session.close()


def window_jql(start, end) -> str:
    return f"updated >= {epoch_ms(start)} AND updated < {epoch_ms(end)} ORDER BY updated ASC"


def keys_by_update(issues) -> list[str]:
    return [i.key for i in sorted(issues, key=lambda i: (i.updated_ms, i.id))]


# --- generated data --------------------------------------------------------------------------------


def test_generation_is_deterministic(workspace, data):
    again = generate(Workspace(anchor=workspace.anchor))
    assert [(i.key, i.updated_ms, i.fields["summary"]) for i in again.issues] == [
        (i.key, i.updated_ms, i.fields["summary"]) for i in data.issues
    ]
    assert again.issues[5].fields == data.issues[5].fields


def test_generated_issues_cover_the_projects_and_the_sample_period(workspace, data):
    assert 120 <= len(data.issues) <= 140  # > 100: a full listing needs two pages
    assert set(Counter(i.project for i in data.issues)) == {"SUBS", "BC", "ARCH"}
    start, anchor = epoch_ms(workspace.start), epoch_ms(workspace.anchor)
    for issue in data.issues:
        assert start <= issue.created_ms <= issue.updated_ms < anchor
        assert issue.key == f"{issue.project}-{issue.number}"
        assert JIRA_TIME.match(issue.fields["created"]) and JIRA_TIME.match(issue.fields["updated"])
        for comment in issue.comments:
            created, updated = epoch_ms_of(comment["created"]), epoch_ms_of(comment["updated"])
            assert issue.created_ms <= created <= updated <= issue.updated_ms
    emails = {u["emailAddress"] for u in data.users.values()}
    assert all(e.endswith("@example.com") for e in emails)


def epoch_ms_of(text: str) -> int:
    return epoch_ms(parse_time(text))


def test_every_recent_slot_has_activity_and_one_update_sits_on_a_boundary(workspace, data):
    anchor = workspace.anchor
    for n in range(8):  # the 30-minute slots of the last 4 hours
        end = anchor - n * SLOT
        assert data.updated_between(end - SLOT, end), f"no update in slot ending {end}"
    on_boundary = [i for i in data.issues if i.updated_ms % int(SLOT.total_seconds() * 1000) == 0]
    assert len(on_boundary) == 1
    assert on_boundary[0].updated == anchor - BOUNDARY_OFFSET
    assert on_boundary[0].fields["updated"].endswith(":00.000+0000")


def test_comments_average_three_and_one_thread_is_long(data):
    long_thread = data.long_thread()
    assert len(long_thread.comments) == LONG_THREAD_COMMENTS
    others = [len(i.comments) for i in data.issues if i is not long_thread]
    assert max(others) <= 6 and 2.3 <= sum(others) / len(others) <= 3.7
    ids = [int(c["id"]) for i in data.issues for c in i.comments]
    assert len(ids) == len(set(ids))


def test_descriptions_use_rich_adf(data):
    kinds, marks, languages = Counter(), Counter(), set()

    def walk(node):
        kinds[node["type"]] += 1
        for mark in node.get("marks", []):
            marks[mark["type"]] += 1
        if node["type"] == "codeBlock":
            languages.add(node["attrs"]["language"])
        if node["type"] == "mention":
            assert node["attrs"]["text"].startswith("@") and node["attrs"]["id"] in data.users
        for child in node.get("content", []):
            walk(child)

    for issue in data.issues:
        if issue.fields["description"] is not None:
            assert issue.fields["description"]["version"] == 1
            walk(issue.fields["description"])
        for comment in issue.comments:
            walk(comment["body"])
    for kind in ("doc", "paragraph", "heading", "bulletList", "orderedList", "listItem", "codeBlock", "mention", "inlineCard", "text"):
        assert kinds[kind], kind
    assert marks["link"] and marks["strong"] and marks["em"]
    assert len(languages) >= 3
    assert any(i.fields["description"] is None for i in data.issues)
    assert any(i.fields["assignee"] is None for i in data.issues)


def test_scale_multiplies_issues_and_generation_stays_fast(workspace):
    big = Workspace(anchor=workspace.anchor, scale=40)
    started = time.perf_counter()
    generated = generate(big)
    elapsed = time.perf_counter() - started
    assert len(generated.issues) >= 5000
    assert 2.5 <= generated.comment_count / len(generated.issues) <= 3.5
    assert elapsed < 2.0, f"generating {len(generated.issues)} issues took {elapsed:.2f}s"


# --- the jira library against the simulator -----------------------------------------------------


def test_jira_library_connects_as_cloud(client, box):
    info = client.server_info()
    assert info["deploymentType"] == "Cloud" and client._is_cloud
    assert info["baseUrl"] == box.base_url("jira")
    assert client.myself()["emailAddress"] == EMAIL
    assert box.log.count("jira", r"/serverInfo$") >= 1


def test_served_by_the_shared_sandbox(sandbox, data):
    """The project-wide fixture (every simulator on one port) serves Jira under /jira."""
    shared = JIRA(server=sandbox.base_url("jira"), basic_auth=(EMAIL, TOKEN), options={"rest_api_version": "3"}, max_retries=0)
    assert len(shared.enhanced_search_issues(ALL_PROJECTS, maxResults=0, fields="key")) == len(data.issues)


def test_enhanced_search_pages_with_next_page_token(client, data):
    pages, token, seen = 0, None, []
    while True:
        page = client.enhanced_search_issues(
            f"{ALL_PROJECTS} ORDER BY key", nextPageToken=token, maxResults=100, fields=["summary", "updated"]
        )
        pages += 1
        seen += [issue.key for issue in page]
        token = page.nextPageToken
        if not token:
            break
    assert pages == 2
    assert sorted(seen) == sorted(i.key for i in data.issues) and len(seen) == len(set(seen))
    assert seen[0] == "ARCH-1"  # key order: project key, then number


@pytest.mark.parametrize("use_post", [False, True], ids=["GET", "POST"])
def test_search_pages_report_is_last_and_omit_the_token_at_the_end(client, data, use_post):
    jql_text = "project in (SUBS, BC) ORDER BY updated DESC"
    expected = [i for i in data.issues if i.project in ("SUBS", "BC")]

    def search(**params):  # a clean body: the library's own would post nulls (refused below)
        return client._get_json("search/jql", params={"jql": jql_text, "fields": ["updated"], **params}, use_post=use_post)

    first = search(maxResults=60)
    assert first["isLast"] is False and first["nextPageToken"] and "total" not in first
    assert len(first["issues"]) == 60
    second = search(nextPageToken=first["nextPageToken"], maxResults=100)
    assert second["isLast"] is True and "nextPageToken" not in second
    got = [i["key"] for i in first["issues"] + second["issues"]]
    assert got == [i.key for i in sorted(expected, key=lambda i: (-i.updated_ms, i.id))]


def test_fetch_all_mode_of_the_library_gets_everything(client, data):
    issues = client.enhanced_search_issues(ALL_PROJECTS, maxResults=0, fields="summary")
    assert len(issues) == len(data.issues)


@pytest.mark.parametrize("minutes", [(90, 60), (60, 30), (240, 0)])
def test_window_with_epoch_ms_is_half_open(client, data, workspace, minutes):
    start, end = (workspace.anchor - timedelta(minutes=m) for m in minutes)
    expected = keys_by_update(data.updated_between(start, end))
    found = client.enhanced_search_issues(window_jql(start, end), maxResults=0, fields=["updated"])
    assert [i.key for i in found] == expected and expected
    boundary = next(i for i in data.issues if i.updated == workspace.anchor - BOUNDARY_OFFSET)
    assert (boundary.key in expected) == (start <= boundary.updated < end)


def test_absolute_dates_have_minute_precision_in_the_user_time_zone(workspace, data, api):
    anchor = workspace.anchor  # 12:00 UTC
    body = api("/search/jql", params={"jql": 'updated >= "2026/11/20 11:00" AND updated < "2026-11-20 11:30"', "maxResults": 100}).json()
    expected = data.updated_between(anchor - timedelta(minutes=60), anchor - timedelta(minutes=30))
    assert sorted(int(i["id"]) for i in body["issues"]) == sorted(i.id for i in expected)

    # The same string read in Los Angeles (UTC-8 in November) means 8 hours later in UTC.
    with Sandbox([JiraSimulator(workspace, time_zone="America/Los_Angeles")]) as la:
        found = requests.get(
            la.base_url("jira") + "/rest/api/3/search/jql",
            auth=(EMAIL, TOKEN),
            timeout=10,
            params={"jql": 'updated >= "2026/11/20 02:00" AND updated < "2026/11/20 03:30"', "maxResults": 100},
        ).json()
    expected = data.updated_between(anchor - timedelta(minutes=120), anchor - timedelta(minutes=30))
    assert sorted(int(i["id"]) for i in found["issues"]) == sorted(i.id for i in expected)


def test_default_fields_are_ids_only(api, data):
    body = api("/search/jql", params={"jql": ALL_PROJECTS}).json()
    assert len(body["issues"]) == 50  # default maxResults
    assert all(set(issue) == {"id"} for issue in body["issues"])
    keyed = api("/search/jql", params={"jql": "project = BC", "fields": "key"}).json()
    assert {"id", "key"} <= set(keyed["issues"][0]) and "fields" not in keyed["issues"][0]


def test_page_size_caps_depend_on_the_fields(api, data):
    full = api("/search/jql", params={"jql": ALL_PROJECTS, "maxResults": 1000, "fields": "*all"}).json()
    assert len(full["issues"]) == 100 and not full["isLast"]
    ids = api("/search/jql", params={"jql": ALL_PROJECTS, "maxResults": 1000, "fields": "id"}).json()
    assert len(ids["issues"]) == len(data.issues) and ids["isLast"]


def test_field_selection(api, data):
    long_thread = data.long_thread()
    jql_text = f"key = {long_thread.key}"
    every = api("/search/jql", params={"jql": jql_text, "fields": "*all"}).json()["issues"][0]["fields"]
    assert {
        "summary",
        "description",
        "status",
        "assignee",
        "reporter",
        "priority",
        "labels",
        "issuetype",
        "project",
        "created",
        "updated",
        "comment",
    } <= set(every)
    assert every["comment"]["total"] == LONG_THREAD_COMMENTS
    assert len(every["comment"]["comments"]) == EMBEDDED_COMMENTS == every["comment"]["maxResults"]
    navigable = api("/search/jql", params={"jql": jql_text, "fields": "*navigable"}).json()["issues"][0]["fields"]
    assert "comment" not in navigable and "summary" in navigable
    minus = api("/search/jql", params=[("jql", jql_text), ("fields", "*all"), ("fields", "-comment,-description")])
    assert set(minus.json()["issues"][0]["fields"]) == set(every) - {"comment", "description"}
    some = api("/search/jql", "POST", json={"jql": jql_text, "fields": ["summary", "updated"]}).json()
    assert some["issues"][0]["fields"] == {"summary": long_thread.fields["summary"], "updated": long_thread.fields["updated"]}


def test_issue_membership_clauses(api, data):
    picked = data.issues[3:8]
    for jql_text in (
        f"key in ({', '.join(i.key for i in picked)})",
        f"id in ({', '.join(str(i.id) for i in picked)}) ORDER BY key",
        f"issuekey = {picked[0].key} OR issue = {picked[1].id} "
        f"OR (key in ({picked[2].key}, {picked[3].key}) AND project != ARCH) OR id = {picked[4].id}",
    ):
        body = api("/search/jql", params={"jql": jql_text, "fields": "key"}).json()
        expected = {i.key for i in picked}
        if "project != ARCH" in jql_text:
            expected -= {i.key for i in picked[2:4] if i.project == "ARCH"}
        assert {i["key"] for i in body["issues"]} == expected, jql_text


def test_approximate_count(client, data):
    assert client.approximate_issue_count("project = SUBS") == sum(i.project == "SUBS" for i in data.issues)


class _Catalog:
    def project_key(self, value):
        return {"SUBS": "SUBS", "10000": "SUBS", "SUBSCRIPTIONS": "SUBS", "ARCH": "ARCH"}.get(value.upper())

    def issue_id(self, value):
        return {"SUBS-1": 1, "1": 1, "ARCH-2": 2, "2": 2}.get(value.upper())


_RECORDS = [
    types.SimpleNamespace(id=1, project="SUBS", created_ms=1_000, updated_ms=5_000),
    types.SimpleNamespace(id=2, project="ARCH", created_ms=2_000, updated_ms=3_000),
]


@pytest.mark.parametrize(
    "jql_text, ids",
    [
        ("updated > 3000", [1]),
        ("updated >= 3000 AND updated < 5000", [2]),
        ("updated <= 3000 || createdDate = 1000", [1, 2]),
        ("NOT project = ARCH", [1]),
        ("project not in (subscriptions) && updatedDate != 5000", [2]),
        ("(project = 10000 OR key = ARCH-2) AND NOT (id in (1))", [2]),
        ('created < "1970/01/01 00:01"', [1, 2]),
        ("project = SUBS or project = ARCH ORDER BY updated ASC, key DESC", [2, 1]),
        ("ISSUEKEY IN (SUBS-1, 2) order by created desc", [2, 1]),
        ("issue in (1, ARCH-2) ORDER BY id DESC", [2, 1]),
    ],
)
def test_jql_evaluation(jql_text, ids):
    query = jql.parse(jql_text)
    matches = jql.compile_filter(query, _Catalog())
    found = jql.sort_records(
        [r for r in _RECORDS if matches(r)],
        query.order_by,
        lambda r, f: {"updated": r.updated_ms, "created": r.created_ms, "key": r.id, "id": r.id}[f],
    )
    assert [r.id for r in found] == ids


@pytest.mark.parametrize(
    "jql_text, fragment",
    [
        ("ORDER BY updated DESC", "Unbounded JQL queries are not allowed here"),
        ("", "Unbounded JQL queries are not allowed here"),
        ("updated >>= 5", "Error in the JQL Query"),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("key = SUBS-99999", "An issue with key 'SUBS-99999' does not exist for field 'key'."),
        ("summary ~ billing", "Field 'summary' does not exist"),
        ('updated >= "yesterday"', "Date value 'yesterday' for field 'updated' is invalid."),
        ("updated >= startOfDay()", "Error in the JQL Query"),
        ("project = SUBS ORDER BY rank", "Field 'rank' does not exist"),
        ("(project = SUBS", "Error in the JQL Query"),
    ],
)
def test_bad_jql_is_a_400_in_jira_shape(api, jql_text, fragment):
    response = api("/search/jql", params={"jql": jql_text})
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {} and any(fragment in m for m in body["errorMessages"]), body


def test_unbounded_jql_raises_in_the_library(client):
    with pytest.raises(JIRAError) as caught:
        client.enhanced_search_issues("ORDER BY updated DESC", maxResults=10)
    assert caught.value.status_code == 400 and "Unbounded" in caught.value.text


def test_page_tokens_are_opaque_stable_and_bound_to_their_query(api):
    params = {"jql": ALL_PROJECTS, "maxResults": 10}
    token = api("/search/jql", params=params).json()["nextPageToken"]
    assert token == api("/search/jql", params=params).json()["nextPageToken"]
    assert api("/search/jql", params={**params, "nextPageToken": token}).status_code == 200
    for bad in ("garbage!", "eyJ4IjogMX0", token[:-2]):
        response = api("/search/jql", params={**params, "nextPageToken": bad})
        assert response.status_code == 400, bad
    other = api("/search/jql", params={"jql": "project = SUBS", "nextPageToken": token})
    assert other.status_code == 400 and other.json()["errorMessages"]


def test_comment_paging(client, api, data):
    long_thread = data.long_thread()
    first = client.comments(long_thread.key, start_at=0, max_results=100)
    rest = client.comments(long_thread.key, start_at=100, max_results=100)
    assert len(first) == 100 and len(rest) == LONG_THREAD_COMMENTS - 100
    assert [c.id for c in first + rest] == [c["id"] for c in long_thread.comments]
    page = api(f"/issue/{long_thread.id}/comment").json()  # by id, default page size
    assert (page["startAt"], page["maxResults"], page["total"], len(page["comments"])) == (0, 100, 130, 100)
    newest = api(f"/issue/{long_thread.key}/comment", params={"orderBy": "-created", "maxResults": 5}).json()
    assert [c["id"] for c in newest["comments"]] == [c["id"] for c in long_thread.comments[::-1][:5]]
    assert api(f"/issue/{long_thread.key}/comment", params={"orderBy": "author"}).status_code == 400
    assert api("/issue/NOPE-1/comment").status_code == 404


def test_issue_user_and_projects(client, api, data):
    issue = data.issues[0]
    fetched = client.issue(issue.key)
    assert fetched.id == str(issue.id) and fetched.fields.summary == issue.fields["summary"]
    only_summary = api(f"/issue/{issue.id}", params={"fields": "summary"}).json()
    assert only_summary["fields"] == {"summary": issue.fields["summary"]}
    missing = api("/issue/SUBS-99999")
    assert missing.status_code == 404 and missing.json()["errorMessages"]
    person = next(iter(data.users.values()))
    assert client.user(person["accountId"]).displayName == person["displayName"]
    unknown = api("/user", params={"accountId": "000000000000000000000000"})
    assert unknown.status_code == 404 and unknown.json() == {
        "errorMessages": ["Specified user does not exist or you do not have required permissions"],
        "errors": {},
    }
    assert [p.key for p in client.projects()] == ["SUBS", "BC", "ARCH"]


def test_v2_alias_answers_text_where_v3_answers_adf(box, data):
    issue = next(i for i in data.issues if i.fields["description"] and len(i.comments) > 1)
    url = box.base_url("jira") + f"/rest/api/2/issue/{issue.key}"
    body = requests.get(url, auth=(EMAIL, TOKEN), timeout=10).json()
    assert isinstance(body["fields"]["description"], str) and issue.key in body["fields"]["description"]
    assert isinstance(body["fields"]["comment"]["comments"][0]["body"], str)
    assert "/rest/api/2/issue/" in body["self"]
    v2 = JIRA(server=box.base_url("jira"), basic_auth=(EMAIL, TOKEN), max_retries=0)  # the library's default v2
    assert len(v2.enhanced_search_issues("project = SUBS", maxResults=5)) == 5


def test_wrong_credentials_get_401(box, api):
    with pytest.raises(JIRAError) as caught:
        JIRA(server=box.base_url("jira"), basic_auth=(EMAIL, "wrong"), options={"rest_api_version": "3"}, max_retries=0)
    assert caught.value.status_code == 401
    url = box.base_url("jira") + "/rest/api/3/search/jql"
    for kwargs in ({"auth": (EMAIL, "wrong")}, {"headers": {"Authorization": "Bearer wrong"}}, {}):
        response = requests.get(url, params={"jql": "project = BC"}, timeout=10, **kwargs)
        assert response.status_code == 401
        assert response.json() == {"errorMessages": ["Client must be authenticated to access this resource."], "errors": {}}
    bearer = requests.get(url, params={"jql": "project = BC"}, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200


def test_removed_search_endpoints_answer_410(box):
    base = box.base_url("jira")
    for version in ("2", "3"):
        for method in ("GET", "POST"):
            response = requests.request(
                method, f"{base}/rest/api/{version}/search", auth=(EMAIL, TOKEN), timeout=10, params={"jql": "project = SUBS"}
            )
            assert response.status_code == 410
            assert "/rest/api/3/search/jql" in response.json()["errorMessages"][0]


def test_injected_429_is_retried_by_the_library_honouring_retry_after(box, client, monkeypatch):
    slept: list[float] = []
    # The library sleeps 2 * Retry-After * uniform(0.5, 1) seconds: record instead of waiting.
    monkeypatch.setattr(resilientsession, "time", types.SimpleNamespace(sleep=slept.append))
    client._session.max_retries = 3
    box.faults.add(Fault(api="jira", kind="status", status=429, retry_after_s=1, path="search/jql"))
    found = client.enhanced_search_issues("project = BC", maxResults=5, fields="summary")
    assert len(found) == 5
    assert box.log.status_count("jira", 429) == 1
    assert len(slept) == 1 and 1.0 <= slept[0] <= 2.0  # without Retry-After it would be 10-20 s


def test_429_carries_retry_after_and_rate_limit_headers(box, api):
    box.faults.add(Fault(api="jira", kind="status", status=429, retry_after_s=1))
    response = api("/search/jql", params={"jql": "project = BC"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    for header in (
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-FillRate",
        "X-RateLimit-Interval-Seconds",
        "X-RateLimit-Reset",
    ):
        assert header in response.headers
    assert response.json()["errorMessages"] and response.json()["errors"] == {}


def test_sandbox_rate_limit_answers_in_jira_dialect(workspace):
    limits = {"jira": RateLimiter(rate=1, per_s=60, burst=2)}
    with build_sandbox(workspace, apis=["jira"], rate_limits=limits) as limited:
        url = limited.base_url("jira") + "/rest/api/3/myself"
        statuses = [requests.get(url, auth=(EMAIL, TOKEN), timeout=10) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert int(statuses[2].headers["Retry-After"]) >= 1 and statuses[2].headers["X-RateLimit-Limit"] == "2"


@pytest.fixture()
def own_box(workspace):
    with build_sandbox(workspace, apis=["jira"]) as sandbox:
        yield sandbox


def test_touch_add_comment_and_delete_change_only_this_simulator(own_box, workspace, data):
    client = JIRA(server=own_box.base_url("jira"), basic_auth=(EMAIL, TOKEN), options={"rest_api_version": "3"}, max_retries=0)
    sim = own_box.simulator("jira")
    old = data.issues[0]
    when = workspace.anchor - timedelta(minutes=5)
    sim.touch(old.key, when, summary="Renamed after the pricing review")
    recent = client.enhanced_search_issues(window_jql(when, workspace.anchor), maxResults=0, fields="summary")
    assert {i.key for i in recent} == {i.key for i in data.updated_between(when, workspace.anchor)} | {old.key}
    assert {i.key: i.fields.summary for i in recent}[old.key] == "Renamed after the pricing review"
    assert data.issues[0].fields["summary"] == old.fields["summary"]  # shared data untouched

    later = workspace.anchor - timedelta(minutes=2)
    comment = sim.add_comment(data.issues[1].key, later, "Confirmed fixed in production.")
    fetched = client.comments(data.issues[1].key)
    assert fetched[-1].id == comment["id"]
    assert fetched[-1].raw["body"]["content"][0]["content"][0]["text"].startswith("Confirmed")
    assert data.issues[1].key in {i.key for i in client.enhanced_search_issues(window_jql(later, workspace.anchor), maxResults=0)}

    sim.delete(data.issues[2].key)
    with pytest.raises(JIRAError) as caught:
        client.issue(data.issues[2].key)
    assert caught.value.status_code == 404
    keys = {i.key for i in client.enhanced_search_issues(ALL_PROJECTS, maxResults=0, fields="key")}
    assert data.issues[2].key not in keys and len(keys) == len(data.issues) - 1


def test_malformed_issue_is_opt_in_and_appears_in_window_searches(workspace, data):
    start, end = workspace.anchor - timedelta(hours=1), workspace.anchor
    with Sandbox([JiraSimulator(workspace, malformed=True)]) as broken:
        url = broken.base_url("jira") + "/rest/api/3/search/jql"
        body = requests.post(
            url, auth=(EMAIL, TOKEN), timeout=10, json={"jql": window_jql(start, end), "fields": ["*all"], "maxResults": 100}
        ).json()
    bad = [i for i in body["issues"] if "summary" not in i["fields"]]
    assert len(bad) == 1 and bad[0]["fields"]["updated"] == "not-a-date"
    assert len(body["issues"]) == len(data.updated_between(start, end)) + 1
    assert all(i.fields.get("summary") for i in data.issues)  # off by default


def test_full_scan_at_benchmark_scale_is_fast(workspace):
    """5,200 issues with every field through the HTTP API, far faster than 10,000 issues a minute."""
    big = Workspace(anchor=workspace.anchor, scale=40)
    with Sandbox([JiraSimulator(big)]) as sandbox, requests.Session() as session:
        session.auth = (EMAIL, TOKEN)
        url = sandbox.base_url("jira") + "/rest/api/3/search/jql"
        started, token, fetched = time.perf_counter(), None, 0
        while True:
            body = session.post(
                url,
                timeout=30,
                json={"jql": f"{ALL_PROJECTS} ORDER BY updated ASC", "fields": ["*all"], "maxResults": 100}
                | ({"nextPageToken": token} if token else {}),
            ).json()
            fetched += len(body["issues"])
            token = body.get("nextPageToken")
            if body["isLast"]:
                break
        elapsed = time.perf_counter() - started
    assert fetched == len(big.data("jira").issues) >= 5000
    assert elapsed < 15, f"{fetched} issues took {elapsed:.1f}s"


# --- conformance with Atlassian's OpenAPI document ---------------------------------------------


def _openapi_30_to_json_schema(node):
    """Rewrite OpenAPI 3.0's ``nullable`` into JSON Schema so jsonschema can check the document."""
    if isinstance(node, list):
        return [_openapi_30_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _openapi_30_to_json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture(scope="session")
def spec(vendor_dir):
    raw = json.loads((vendor_dir / "jira" / "jira-cloud-platform-v3.openapi.json").read_text())
    return {"paths": raw["paths"], "components": _openapi_30_to_json_schema(raw["components"])}


def _validator(spec, schema) -> jsonschema.Draft7Validator:
    # Refs are "#/components/schemas/X": give the schema the document's components as its root.
    # Formats are not asserted: Jira's own "...+0000" timestamps are not RFC 3339 date-times.
    return jsonschema.Draft7Validator({**_openapi_30_to_json_schema(schema), "components": spec["components"]})


def response_validator(spec, path: str, method: str, status: int = 200) -> jsonschema.Draft7Validator:
    operation = spec["paths"][path][method]
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    return _validator(spec, schema)


def component_validator(spec, name: str) -> jsonschema.Draft7Validator:
    return _validator(spec, {"$ref": f"#/components/schemas/{name}"})


def assert_valid(validator: jsonschema.Draft7Validator, body) -> None:
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


# Issue fields are free-form in IssueBean; these are the schemas Jira documents for their values.
FIELD_SCHEMAS = {
    "assignee": "UserDetails",
    "reporter": "UserDetails",
    "status": "StatusDetails",
    "priority": "Priority",
    "issuetype": "IssueTypeDetails",
    "project": "ProjectDetails",
    "comment": "PageOfComments",
}


def assert_issue_fields_valid(spec, issue: dict) -> None:
    for name, schema in FIELD_SCHEMAS.items():
        value = issue.get("fields", {}).get(name)
        if value is not None:
            assert_valid(component_validator(spec, schema), value)
    fields = issue.get("fields", {})
    for name in ("created", "updated"):
        if name in fields:
            assert JIRA_TIME.match(fields[name])
    for comment in fields.get("comment", {}).get("comments", []):
        assert JIRA_TIME.match(comment["created"]) and JIRA_TIME.match(comment["updated"])


def _user_id(data) -> str:
    return next(iter(data.users))


CASES = [
    # (operation path in the spec, method, request path, request kwargs)
    ("/rest/api/3/serverInfo", "get", "/serverInfo", {}),
    ("/rest/api/3/field", "get", "/field", {}),
    ("/rest/api/3/myself", "get", "/myself", {}),
    ("/rest/api/3/project", "get", "/project", {}),
    ("/rest/api/3/project/search", "get", "/project/search", {}),
    ("/rest/api/3/user", "get", "/user", {"params": {"accountId": "{account}"}}),
    ("/rest/api/3/issue/{issueIdOrKey}", "get", "/issue/{long}", {}),
    ("/rest/api/3/issue/{issueIdOrKey}/comment", "get", "/issue/{long}/comment", {"params": {"maxResults": 100}}),
    ("/rest/api/3/search/jql", "get", "/search/jql", {"params": {"jql": ALL_PROJECTS}}),
    (
        "/rest/api/3/search/jql",
        "get",
        "/search/jql",
        {"params": {"jql": ALL_PROJECTS, "fields": "*all", "maxResults": 100, "expand": "names"}},
    ),
    (
        "/rest/api/3/search/jql",
        "post",
        "/search/jql",
        {"json": {"jql": f"{ALL_PROJECTS} ORDER BY updated DESC", "fields": ["*all"], "maxResults": 100}},
    ),
]


def _case_id(case) -> str:
    return f"{case[1].upper()} {case[2]} {sorted(case[3].get('params') or case[3].get('json') or {})}"


@pytest.mark.parametrize("operation, method, path, kwargs", CASES, ids=[_case_id(c) for c in CASES])
def test_responses_match_the_openapi_document(spec, api, data, operation, method, path, kwargs):
    kwargs = json.loads(json.dumps(kwargs).replace("{account}", _user_id(data)))
    response = api(path.replace("{long}", data.long_thread().key), method.upper(), **kwargs)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid(response_validator(spec, operation, method), body)
    if isinstance(body, dict):
        for issue in body.get("issues", []) + ([body] if "fields" in body else []):
            assert_issue_fields_valid(spec, issue)


def test_search_body_schema_is_the_specs(spec):
    """The simulator's copy of SearchAndReconcileRequestBean is the vendored spec's, descriptions cut."""

    def cut(node):
        if isinstance(node, dict):
            return {k: cut(v) for k, v in node.items() if k not in ("description", "example")}
        return [cut(v) for v in node] if isinstance(node, list) else node

    assert SEARCH_REQUEST_SCHEMA == cut(spec["components"]["schemas"]["SearchAndReconcileRequestBean"])


@pytest.mark.parametrize(
    "body, problem",
    [
        ({"jql": ALL_PROJECTS, "expand": None}, "expand"),
        ({"jql": ALL_PROJECTS, "properties": None}, "properties"),
        ({"jql": ALL_PROJECTS, "nextPageToken": None}, "nextPageToken"),
        ({"jql": ALL_PROJECTS, "fields": "summary"}, "fields"),
        ({"jql": ALL_PROJECTS, "startAt": 0}, "startAt"),
    ],
)
def test_search_bodies_are_validated_against_the_spec(api, body, problem):
    response = api("/search/jql", "POST", json=body)
    assert response.status_code == 400 and problem in response.json()["errorMessages"][0]


def test_the_jira_librarys_own_post_is_refused(client):
    """jira 3.10's enhanced_search_issues(use_post=True) posts ``expand: null, properties: null``."""
    with pytest.raises(JIRAError) as caught:
        client.enhanced_search_issues("project = BC", maxResults=5, fields="summary", use_post=True)
    assert caught.value.status_code == 400


def test_only_id_and_key_get_the_big_pages(api, data):
    assert len(data.issues) > 100
    keys = api("/search/jql", params={"jql": ALL_PROJECTS, "fields": "key", "maxResults": 5000}).json()
    assert len(keys["issues"]) == len(data.issues) and all(set(i) == {"id", "self", "key"} for i in keys["issues"])
    # `issuekey` (the jira library's rewrite of `key`) is a field: the spec promises it nothing.
    rewritten = api("/search/jql", params={"jql": ALL_PROJECTS, "fields": "issuekey", "maxResults": 5000}).json()
    assert len(rewritten["issues"]) == 100 and rewritten["nextPageToken"]


@pytest.mark.parametrize(
    "path, kwargs, status",
    [
        ("/search/jql", {"params": {"jql": "ORDER BY key"}}, 400),
        ("/search", {}, 410),
        ("/issue/NOPE-1", {}, 404),
        ("/user", {"params": {"accountId": "nobody"}}, 404),
    ],
)
def test_error_bodies_match_the_error_collection(spec, api, path, kwargs, status):
    response = api(path, **kwargs)
    assert response.status_code == status
    assert_valid(component_validator(spec, "ErrorCollection"), response.json())


def test_error_body_for_401_matches_the_error_collection(spec, box):
    response = requests.get(box.base_url("jira") + "/rest/api/3/myself", auth=(EMAIL, "nope"), timeout=10)
    assert response.status_code == 401
    assert_valid(component_validator(spec, "ErrorCollection"), response.json())


def test_validation_catches_drift(spec, api):
    """The checks above are only worth something if a wrong type or an unknown property fails them."""
    page = api("/search/jql", params={"jql": "project = SUBS", "fields": "*all", "maxResults": 2}).json()
    search = response_validator(spec, "/rest/api/3/search/jql", "get")
    drifts = []
    wrong_id = copy.deepcopy(page)
    wrong_id["issues"][0]["id"] = int(wrong_id["issues"][0]["id"])
    drifts.append((search, wrong_id))
    with_total = copy.deepcopy(page)
    with_total["total"] = 130  # the old search's field: not part of the enhanced search
    drifts.append((search, with_total))
    author = copy.deepcopy(next(i for i in page["issues"] if i["fields"]["comment"]["comments"])["fields"]["comment"])
    author["comments"][0]["author"]["name"] = 5
    drifts.append((component_validator(spec, "PageOfComments"), author))
    info = api("/serverInfo").json()
    info["versionNumbers"] = [str(n) for n in info["versionNumbers"]]
    drifts.append((response_validator(spec, "/rest/api/3/serverInfo", "get"), info))
    for validator, body in drifts:
        assert list(validator.iter_errors(body)), body
