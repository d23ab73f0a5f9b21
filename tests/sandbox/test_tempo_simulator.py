"""The Tempo simulator: its sample, its v4 behaviour over plain HTTP, and its answers held
against Tempo's published OpenAPI document (so it cannot drift into a private dialect)."""

from __future__ import annotations

import copy
import time
from collections import Counter
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import requests
import yaml

from sandbox.jira import JiraSimulator
from sandbox.server import Fault, RateLimiter, Sandbox
from sandbox.tempo import (
    BOUNDARY_OFFSET,
    DELETED_AT_OFFSET,
    GUARANTEED_HOURS,
    JIRA_WORKLOG_ID_OFFSET,
    MAX_AUTHORS,
    MAX_LOGGED_ISSUES,
    SLOT,
    UNRESOLVABLE_ISSUE_IDS,
    WORKLOGS_PER_SCALE,
    TempoSimulator,
    generate,
)
from sandbox.workspace import Workspace

TOKEN = "sandbox-token"
EVERYTHING = {"from": "2000-01-01", "to": "2030-12-31"}


@pytest.fixture(scope="module")
def data(workspace):
    return workspace.data("tempo")


@pytest.fixture(scope="module")
def shared_box(workspace):
    with Sandbox([JiraSimulator(workspace), TempoSimulator(workspace)]) as box:
        yield box


@pytest.fixture()
def box(shared_box, workspace, clean_slate):
    sim = clean_slate(shared_box).simulator("tempo")
    sim.now = workspace.anchor
    yield shared_box
    sim.now = workspace.anchor
    sim.deleted = dict(sim.data.deleted)


@pytest.fixture()
def sim(box):
    return box.simulator("tempo")


@pytest.fixture()
def api(box):
    """Call the Tempo simulator with the right bearer token; returns the raw response."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    base = box.base_url("tempo")

    def call(path: str, method: str = "GET", **kwargs) -> requests.Response:
        url = path if "://" in path else base + path
        return session.request(method, url, timeout=10, **kwargs)

    return call


def all_pages(api, params) -> list[dict]:
    out, url = [], "/4/worklogs"
    body = api(url, params=params).json()
    while True:
        out += body["results"]
        if "next" not in body["metadata"]:
            return out
        body = api(body["metadata"]["next"]).json()


# --- the sample ------------------------------------------------------------------------------------


def test_generation_is_deterministic(workspace, data):
    again = generate(Workspace(anchor=workspace.anchor))
    assert [w.body for w in again.worklogs] == [w.body for w in data.worklogs]
    assert again.deleted == data.deleted


def test_sample_covers_every_case_on_jira_issues_by_the_workspace_people(workspace, data):
    jira = workspace.data("jira")
    kinds = Counter(w.kind for w in data.worklogs)
    assert {"new", "edited", "backdated", "unresolvable", "deleted"} <= set(kinds)
    assert kinds["deleted"] == 1 and len(data.deleted) == 1
    for w in data.worklogs:
        issue = jira.by_id.get(w.issue_id)
        if w.kind == "unresolvable":
            assert issue is None and w.issue_id in UNRESOLVABLE_ISSUE_IDS
        else:
            assert issue is not None and issue.project == w.project
        assert workspace.person_by_account(w.account_id) is not None
        assert w.created <= w.updated < workspace.anchor
    assert {w.project for w in data.worklogs} == {"SUBS", "BC", "ARCH", None}
    edited = data.of_kind("edited")
    assert all(w.updated - w.created >= timedelta(days=1) and w.start_date <= w.created.date() for w in edited)
    backdated = data.of_kind("backdated")
    assert all(w.created == w.updated and (w.updated.date() - w.start_date).days >= 3 for w in backdated)


def test_every_recent_slot_has_activity_and_one_update_sits_on_a_boundary(workspace, data):
    anchor = workspace.anchor
    for slot in range(GUARANTEED_HOURS * 2):
        lo = anchor - (slot + 1) * SLOT
        assert data.updated_between(lo, lo + SLOT, anchor), f"no worklog in slot {slot}"
    on_boundary = [w for w in data.worklogs if int(w.updated.timestamp()) % int(SLOT.total_seconds()) == 0]
    assert [w.updated for w in on_boundary] == [anchor - BOUNDARY_OFFSET]


def test_scale_maps_to_the_benchmark(workspace):
    """scale=50: 20,000 worklogs (plus the fixed cases) on 500 issues by 40 people."""
    started = time.perf_counter()
    big = Workspace(anchor=workspace.anchor, scale=50).data("tempo")
    elapsed = time.perf_counter() - started
    resolvable = {w.issue_id for w in big.worklogs if w.kind != "unresolvable"}
    assert WORKLOGS_PER_SCALE * 50 <= len(big.worklogs) < WORKLOGS_PER_SCALE * 50 + 50
    assert len(resolvable) == MAX_LOGGED_ISSUES == 500
    assert len({w.account_id for w in big.worklogs}) == MAX_AUTHORS == 40
    assert elapsed < 10, f"generating scale 50 (Jira included) took {elapsed:.1f}s"


# --- /4/worklogs --------------------------------------------------------------------------------


def test_pages_follow_metadata_next_as_absolute_urls(api, sim, box):
    listed = all_pages(api, {**EVERYTHING, "limit": 100})
    assert sorted(w["tempoWorklogId"] for w in listed) == sorted(w.id for w in sim.live())
    first = api("/4/worklogs", params={**EVERYTHING, "limit": 100}).json()
    meta = first["metadata"]
    assert meta["count"] == 100 and meta["offset"] == 0 and meta["limit"] == 100
    assert meta["next"].startswith(box.base_url("tempo") + "/4/worklogs?")
    assert parse_qs(urlsplit(meta["next"]).query)["offset"] == ["100"]
    assert "previous" not in meta
    second = api(meta["next"]).json()
    assert second["metadata"]["offset"] == 100 and "previous" in second["metadata"]


def test_last_page_omits_next_and_default_limit_is_50(api, sim):
    body = api("/4/worklogs", params=EVERYTHING).json()
    assert body["metadata"]["limit"] == 50 and len(body["results"]) == 50
    total = len(sim.live())
    last = api("/4/worklogs", params={**EVERYTHING, "offset": total - 3, "limit": 50}).json()
    assert last["metadata"]["count"] == 3 and "next" not in last["metadata"]


def test_updated_from_is_inclusive_at_second_precision(api, data, workspace):
    boundary = workspace.anchor - BOUNDARY_OFFSET
    at = all_pages(api, {"updatedFrom": boundary.strftime("%Y-%m-%dT%H:%M:%SZ"), "limit": 1000})
    after = all_pages(api, {"updatedFrom": (boundary + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    expected = {w.id for w in data.updated_between(boundary, workspace.anchor + timedelta(days=1), workspace.anchor)}
    assert {w["tempoWorklogId"] for w in at} == expected
    assert {w["tempoWorklogId"] for w in at} - {w["tempoWorklogId"] for w in after} == {
        w.id for w in data.worklogs if w.updated == boundary
    }
    day = all_pages(api, {"updatedFrom": workspace.anchor.date().isoformat(), "limit": 1000})
    assert all(w["updatedAt"] >= workspace.anchor.strftime("%Y-%m-%dT00:00:00Z") for w in day) and day


@pytest.mark.parametrize("alone", [True, False], ids=["strict", "combining"])
def test_updated_from_beside_other_parameters_follows_the_chosen_reading(workspace, data, alone):
    """Tempo's help centre (v3): updatedFrom "does not work in conjunction with other
    parameters"; v4 says nothing. Strict (the default): beside anything but offset/limit it is
    ignored. Combining: it filters along with them."""
    since = (workspace.anchor - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = {w.id for w in data.updated_between(workspace.anchor - timedelta(hours=2), workspace.anchor, workspace.anchor)}
    live = {w.id for w in data.live(workspace.anchor)}
    with Sandbox([TempoSimulator(workspace, now=workspace.anchor, updated_from_alone=alone)]) as other:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"

        def ids(params):
            body = session.get(other.base_url("tempo") + "/4/worklogs", params={**params, "limit": 5000}, timeout=10).json()
            return {w["tempoWorklogId"] for w in body["results"]}

        assert ids({"updatedFrom": since}) == recent  # alone: honoured under both readings
        assert ids({"updatedFrom": since, **EVERYTHING}) == (live if alone else recent)
        assert ids({"updatedFrom": since, "orderBy": "UPDATED"}) == (live if alone else recent)


def test_jira_to_tempo_maps_existing_worklogs_only(api, sim, data, workspace):
    first, second = data.worklogs[0], data.worklogs[1]
    body = {"jiraWorklogIds": [first.id + JIRA_WORKLOG_ID_OFFSET, second.id + JIRA_WORKLOG_ID_OFFSET, 1]}
    mapped = api("/4/worklogs/jira-to-tempo", "POST", json=body).json()
    assert mapped["results"] == [
        {"jiraWorklogId": first.id + JIRA_WORKLOG_ID_OFFSET, "tempoWorklogId": first.id},
        {"jiraWorklogId": second.id + JIRA_WORKLOG_ID_OFFSET, "tempoWorklogId": second.id},
    ]
    sim.delete(first.id, workspace.anchor - timedelta(minutes=1))
    after = api("/4/worklogs/jira-to-tempo", "POST", json=body).json()["results"]
    assert [pair["tempoWorklogId"] for pair in after] == [second.id]  # "existing Tempo Worklog ids"
    assert api("/4/worklogs/jira-to-tempo", "POST", json={"jiraWorklogIds": []}).status_code == 400


def test_from_and_to_filter_the_work_date_inclusively(api, data, workspace):
    day = data.of_kind("backdated")[0].start_date
    listed = all_pages(api, {"from": day.isoformat(), "to": day.isoformat(), "limit": 1000})
    assert {w["tempoWorklogId"] for w in listed} == {w.id for w in data.live(workspace.anchor) if w.start_date == day}
    assert {w["startDate"] for w in listed} == {day.isoformat()}


def test_order_by_sorts_descending_and_default_is_start_time_ascending(api):
    default = api("/4/worklogs", params={**EVERYTHING, "limit": 200}).json()["results"]
    starts = [(w["startDate"], w["startTime"]) for w in default]
    assert starts == sorted(starts)
    by_update = api("/4/worklogs", params={**EVERYTHING, "limit": 200, "orderBy": "UPDATED"}).json()["results"]
    assert [w["updatedAt"] for w in by_update] == sorted((w["updatedAt"] for w in by_update), reverse=True)


def test_issue_and_project_filters(api, data, workspace):
    issue_id = data.worklogs[0].issue_id
    by_issue = all_pages(api, {**EVERYTHING, "issueId": issue_id})
    assert {w["issue"]["id"] for w in by_issue} == {issue_id}
    project_id = next(p["id"] for p in workspace.data("jira").projects if p["key"] == "ARCH")
    by_project = all_pages(api, {**EVERYTHING, "projectId": project_id, "limit": 1000})
    assert len(by_project) == len([w for w in data.live(workspace.anchor) if w.project == "ARCH"])


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"from": "2026/11/01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-11-20", "to": "2026-11-01"}, "after"),
        ({"updatedFrom": "2026-11-20 10:00"}, "updatedFrom"),
        ({"updatedFrom": "1700000000"}, "updatedFrom"),
        ({"limit": 5001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"orderBy": "CREATED"}, "orderBy"),
    ],
)
def test_bad_parameters_are_400_in_tempo_shape(api, params, fragment):
    response = api("/4/worklogs", params=params)
    assert response.status_code == 400
    assert fragment in response.json()["errors"][0]["message"]


def test_wrong_token_is_401(box):
    response = requests.get(box.base_url("tempo") + "/4/worklogs", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert response.status_code == 401 and response.json()["errors"][0]["message"]
    assert requests.get(box.base_url("tempo") + "/4/worklogs", timeout=10).status_code == 401


def test_rate_limits_answer_429_with_retry_after_in_tempo_shape(api, box, workspace):
    box.faults.add(Fault(api="tempo", kind="status", status=429, retry_after_s=3))
    response = api("/4/worklogs")
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    assert "Rate limit" in response.json()["errors"][0]["message"]
    with Sandbox([TempoSimulator(workspace)], rate_limits={"tempo": RateLimiter(1, per_s=60)}) as limited:
        url = limited.base_url("tempo") + "/4/worklogs"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert requests.get(url, headers=headers, timeout=10).status_code == 200
        second = requests.get(url, headers=headers, timeout=10)
        assert second.status_code == 429 and int(second.headers["Retry-After"]) >= 1


def test_single_worklog_and_404(api, data):
    first = data.worklogs[0]
    assert api(f"/4/worklogs/{first.id}").json()["tempoWorklogId"] == first.id
    assert api("/4/worklogs/123").status_code == 404
    deleted = next(iter(data.deleted))
    assert api(f"/4/worklogs/{deleted}").status_code == 404


def test_links_point_at_the_host_the_client_used(api, box):
    worklog = api("/4/worklogs", params={"limit": 1}).json()["results"][0]
    assert worklog["self"].startswith(box.base_url("tempo") + "/4/worklogs/")
    assert worklog["issue"]["self"].startswith(box.base_url("jira") + "/rest/api/")
    assert "{{" not in str(worklog)


# --- deletions and the audit log ------------------------------------------------------------------


def deleted_events(api, body, limit=1000) -> list[dict]:
    out, token = [], None
    while True:
        params = {"limit": limit, **({"nextPageToken": token} if token else {})}
        page = api("/4/papertrail/search", "POST", json=body, params=params).json()
        out += page["results"]
        token = page["metadata"].get("nextPageToken")
        if not token:
            return out


def test_deleted_worklog_is_listed_until_deleted_then_in_the_audit_log(api, sim, data, workspace):
    wid, deleted_at = next(iter(data.deleted.items()))
    assert deleted_at == workspace.anchor - DELETED_AT_OFFSET
    query = {"from": (workspace.anchor - timedelta(days=1)).isoformat(), "entityType": ["worklog"], "action": ["Deleted"]}
    sim.now = deleted_at - timedelta(minutes=1)
    assert wid in {w["tempoWorklogId"] for w in all_pages(api, {**EVERYTHING, "limit": 1000})}
    assert deleted_events(api, query) == []
    sim.now = workspace.anchor
    assert wid not in {w["tempoWorklogId"] for w in all_pages(api, {**EVERYTHING, "limit": 1000})}
    events = deleted_events(api, query)
    assert [(e["entityId"], e["action"], e["timestamp"]) for e in events] == [
        (str(wid), "Deleted", deleted_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    ]
    sim.delete(data.worklogs[0].id, workspace.anchor - timedelta(minutes=5))
    assert {e["entityId"] for e in deleted_events(api, query)} == {str(wid), str(data.worklogs[0].id)}


def test_audit_log_pages_with_tokens_bound_to_their_search(api, workspace):
    query = {"from": (workspace.anchor - timedelta(days=30)).isoformat(), "entityType": ["worklog"]}
    everything = deleted_events(api, query, limit=1000)
    paged = deleted_events(api, query, limit=50)
    assert len(everything) > 50 and paged == everything
    assert {e["action"] for e in everything} == {"Created", "Updated", "Deleted"}
    first = api("/4/papertrail/search", "POST", json=query, params={"limit": 50}).json()
    assert first["metadata"]["nextPageUrl"].startswith("http")
    other = {**query, "action": ["Created"]}
    reused = api("/4/papertrail/search", "POST", json=other, params={"nextPageToken": first["metadata"]["nextPageToken"]})
    assert reused.status_code == 400


@pytest.mark.parametrize(
    "body, params",
    [
        ({"entityType": ["worklog"]}, {}),  # from is required
        ({"from": "last week"}, {}),
        ({"from": "2026-11-19T00:00:00Z", "entityType": ["worklogs"]}, {}),
        ({"from": "2026-11-19T00:00:00Z"}, {"limit": 1001}),
        ({"from": "2026-01-01T00:00:00Z"}, {}),  # older than 180 days before the simulator's now
    ],
)
def test_audit_log_refuses_bad_searches(api, body, params):
    response = api("/4/papertrail/search", "POST", json=body, params=params)
    assert response.status_code == 400 and response.json()["errors"][0]["message"]


# --- conformance with Tempo's OpenAPI document ------------------------------------------------


def _to_json_schema(node):
    """OpenAPI 3.0 ``nullable`` -> JSON Schema, so jsonschema can check the document."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@pytest.fixture(scope="session")
def spec(vendor_dir):
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load((vendor_dir / "tempo" / "tempo-v4.openapi.yaml").read_text(), Loader=loader)
    return {"paths": raw["paths"], "components": _to_json_schema(raw["components"])}


def validator(spec, path: str, method: str, status: str = "200") -> jsonschema.Draft7Validator:
    schema = spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    # Refs are "#/components/schemas/X": the document's components become the schema's root.
    # Formats are not asserted (the spec writes "format: string" and Java date patterns).
    return jsonschema.Draft7Validator({**_to_json_schema(schema), "components": spec["components"]})


def component(spec, name: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


def assert_valid(check: jsonschema.Draft7Validator, body) -> None:
    errors = sorted(check.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_worklog_pages_match_the_spec(spec, api):
    check = validator(spec, "/4/worklogs", "get")
    body = api("/4/worklogs", params={**EVERYTHING, "limit": 1000}).json()
    assert_valid(check, body)
    while "next" in body["metadata"]:
        body = api(body["metadata"]["next"]).json()
        assert_valid(check, body)
    assert_valid(validator(spec, "/4/worklogs/{id}", "get"), api("/4/worklogs", params={"limit": 1}).json()["results"][0])


def test_every_worklog_of_the_benchmark_scale_matches_the_worklog_schema(spec, workspace):
    check = component(spec, "Worklog")
    for worklog in Workspace(anchor=workspace.anchor, scale=3).data("tempo").worklogs:
        assert_valid(check, worklog.body)


def test_audit_log_pages_match_the_spec(spec, api, workspace):
    body = {"from": (workspace.anchor - timedelta(days=3)).isoformat(), "entityType": ["worklog"]}
    check = validator(spec, "/4/papertrail/search", "post")
    assert_valid(component(spec, "AuditLogSearchInput"), body)
    page = api("/4/papertrail/search", "POST", json=body, params={"limit": 100}).json()
    assert page["metadata"].get("nextPageToken")
    assert_valid(check, page)
    assert_valid(check, api("/4/papertrail/search", "POST", json={**body, "action": ["Deleted"]}).json())


def test_jira_to_tempo_pages_match_the_spec(spec, api, data):
    body = {"jiraWorklogIds": [w.id + JIRA_WORKLOG_ID_OFFSET for w in data.worklogs[:60]]}
    assert_valid(component(spec, "JiraWorklogIdList"), body)
    page = api("/4/worklogs/jira-to-tempo", "POST", json=body).json()
    assert len(page["results"]) == 50 and page["metadata"]["next"]  # default limit 50
    assert_valid(validator(spec, "/4/worklogs/jira-to-tempo", "post"), page)


def test_error_bodies_match_the_error_bean(spec, api, box):
    check = component(spec, "ErrorBean")
    assert_valid(check, api("/4/worklogs", params={"limit": "x"}).json())
    assert_valid(check, api("/4/worklogs/1").json())
    assert_valid(check, requests.get(box.base_url("tempo") + "/4/worklogs", timeout=10).json())
    box.faults.add(Fault(api="tempo", kind="status", status=429))
    assert_valid(check, api("/4/worklogs").json())


def test_validation_catches_drift(spec, api, workspace):
    """The checks above are only worth something if a wrong type fails them."""
    page = api("/4/worklogs", params={"limit": 2}).json()
    check = validator(spec, "/4/worklogs", "get")
    drifts = []
    wrong_id = copy.deepcopy(page)
    wrong_id["results"][0]["tempoWorklogId"] = str(wrong_id["results"][0]["tempoWorklogId"])
    drifts.append((check, wrong_id))
    no_issue = copy.deepcopy(page)
    del no_issue["results"][1]["issue"]
    drifts.append((check, no_issue))
    wrong_meta = copy.deepcopy(page)
    wrong_meta["metadata"]["count"] = "2"
    drifts.append((check, wrong_meta))
    body = {"from": (workspace.anchor - timedelta(days=1)).isoformat(), "entityType": ["worklog"]}
    audit = api("/4/papertrail/search", "POST", json=body).json()
    audit["results"][0]["changes"] = "timeSpentSeconds"
    drifts.append((validator(spec, "/4/papertrail/search", "post"), audit))
    for check_one, body in drifts:
        assert list(check_one.iter_errors(body)), body


def test_work_dates_are_plain_dates(data):
    assert all(isinstance(w.start_date, date) and w.body["startDate"] == w.start_date.isoformat() for w in data.worklogs)
