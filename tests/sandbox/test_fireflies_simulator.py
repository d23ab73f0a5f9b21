"""The Fireflies simulator against what the real API documents (api-facts.md: Fireflies has no
OpenAPI and no recorded transcript, so the documented field list and types are the check)."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta

import jsonschema
import pytest
import requests
from graphql import execute_sync, parse, validate

import sandbox.fireflies as fireflies_sim
from sandbox.fireflies import (
    LONG_MEETING_MIN,
    MAX_LIMIT,
    MEETINGS_PER_SCALE,
    RECENT_HOURS,
    SCHEMA,
    FirefliesSimulator,
    Unsupported,
    _Root,
    generate,
    project,
)
from sandbox.server import RateLimiter, Sandbox
from sandbox.workspace import Workspace
from vector_sync.sources.fireflies import IDS_QUERY, LIST_QUERY, ONE_QUERY

# --- what api-facts.md and docs.fireflies.ai say -------------------------------------------

# GraphQL types of the Transcript fields the connector relies on.
EXPECTED_TRANSCRIPT_FIELDS = {
    "id": "ID",
    "title": "String",
    "date": "Float",  # ms epoch
    "dateString": "String",
    "duration": "Float",  # minutes
    "organizer_email": "String",
    "participants": "[String]",
    "meeting_attendees": "[MeetingAttendee]",
    "speakers": "[Speaker]",
    "sentences": "[Sentence]",
    "summary": "Summary",
    "meeting_info": "MeetingInfo",
    "transcript_url": "String",
    "privacy": ("String", "MeetingPrivacy"),
}
EXPECTED_SUBTYPES = {
    "MeetingAttendee": {"displayName": "String", "email": "String", "name": "String"},
    "Speaker": {"id": ("Int", "Float", "ID"), "name": "String"},
    # The docs type the times as String, api-facts as seconds: either is accepted here.
    "Sentence": {
        "index": "Int",
        "speaker_name": "String",
        "text": "String",
        "start_time": ("Float", "String"),
        "end_time": ("Float", "String"),
    },
    # api-facts.md: summary_status is processing, processed, failed or skipped.
    "MeetingInfo": {"summary_status": "String"},
    "Summary": {
        "overview": "String",
        "action_items": ("String", "[String]"),
        "keywords": ("[String]", "String"),
        "short_summary": "String",
    },
}
EXPECTED_QUERY_ARGS = {
    "transcripts": {"fromDate": "DateTime", "toDate": "DateTime", "limit": "Int", "skip": "Int"},
    "transcript": {"id": "String!"},
}
PRIVACY_VALUES = ["link", "owner", "participants", "participatingteammates", "teammatesandparticipants", "teammates"]

_STR, _NUM, _OPT_STR = {"type": "string"}, {"type": "number"}, {"type": ["string", "null"]}
TRANSCRIPT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,  # exactly what was asked for
    "required": list(EXPECTED_TRANSCRIPT_FIELDS),
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "title": _STR,
        "date": {"type": "number", "minimum": 1e12},  # milliseconds, not seconds
        "dateString": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"},
        "duration": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
        "organizer_email": {"type": "string", "pattern": r"^[^@\s]+@example\.com$"},
        "participants": {"type": "array", "items": {"type": "string", "pattern": r"@example\.com$"}},
        "meeting_attendees": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["displayName", "email", "name"],
                "properties": {"displayName": _OPT_STR, "email": _OPT_STR, "name": _OPT_STR},
            },
        },
        "speakers": {
            "type": "array",
            "items": {"type": "object", "required": ["id", "name"], "properties": {"id": {"type": ["integer", "string"]}, "name": _STR}},
        },
        "sentences": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "speaker_name", "text", "start_time", "end_time"],
                "properties": {"index": {"type": "integer"}, "speaker_name": _OPT_STR, "text": _STR, "start_time": _NUM, "end_time": _NUM},
            },
        },
        "summary": {
            "type": ["object", "null"],
            "properties": {
                "overview": _OPT_STR,
                "short_summary": _OPT_STR,
                "action_items": {"type": ["string", "array", "null"]},
                "keywords": {"type": ["array", "string", "null"]},
            },
        },
        "meeting_info": {
            "type": "object",
            "required": ["summary_status"],
            "properties": {"summary_status": {"enum": ["processing", "processed", "failed", "skipped"]}},
        },
        "transcript_url": {"type": "string", "pattern": "^https://"},
        "privacy": {"enum": PRIVACY_VALUES},
    },
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["data", "errors"],
    "properties": {
        "data": {"type": "null"},
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["message", "code", "extensions"],
                "properties": {
                    "message": _STR,
                    "code": _STR,
                    "friendly": {"type": "boolean"},
                    "extensions": {"type": "object", "required": ["status"], "properties": {"status": {"type": "integer"}}},
                },
            },
        },
    },
}

FULL_QUERY = """query Q($fromDate: DateTime, $toDate: DateTime, $limit: Int, $skip: Int) {
  transcripts(fromDate: $fromDate, toDate: $toDate, limit: $limit, skip: $skip) {
    id title date dateString duration organizer_email participants privacy transcript_url
    meeting_attendees { displayName email name } speakers { id name }
    sentences { index speaker_name text start_time end_time }
    summary { overview action_items keywords short_summary }
    meeting_info { summary_status }
  }
}"""
INTROSPECT = """{ __schema { queryType { fields { name args { name type { ...T } } } } }
  types: __schema { types { name fields { name type { ...T } } } } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }"""


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def box(workspace):
    with Sandbox([FirefliesSimulator(workspace)]) as sandbox:
        yield sandbox


@pytest.fixture()
def sim(box, workspace, clean_slate):
    simulator = clean_slate(box).simulator("fireflies")
    simulator.now = workspace.anchor + timedelta(days=1)  # everything processed
    yield simulator
    simulator._injected.clear()


def post(box, query, variables=None, token=FirefliesSimulator.token):
    return requests.post(
        f"{box.base_url('fireflies')}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _type_name(ref) -> str:
    if ref["kind"] == "NON_NULL":
        return _type_name(ref["ofType"]) + "!"
    if ref["kind"] == "LIST":
        return f"[{_type_name(ref['ofType'])}]"
    return ref["name"]


def _matches(actual: str, expected) -> bool:
    return actual in (expected if isinstance(expected, tuple) else (expected,))


# --- schema and shapes --------------------------------------------------------------------


def test_schema_declares_the_documented_types(box, sim):
    data = post(box, INTROSPECT).json()["data"]
    types = {t["name"]: {f["name"]: _type_name(f["type"]) for f in t["fields"] or []} for t in data["types"]["types"]}
    for name, expected in EXPECTED_TRANSCRIPT_FIELDS.items():
        assert _matches(types["Transcript"][name], expected), (name, types["Transcript"][name])
    for type_name, fields in EXPECTED_SUBTYPES.items():
        for name, expected in fields.items():
            assert _matches(types[type_name][name], expected), (type_name, name, types[type_name][name])
    root = data["__schema"]["queryType"]["fields"]
    query_fields = {f["name"]: {a["name"]: _type_name(a["type"]) for a in f["args"]} for f in root}
    for field, args in EXPECTED_QUERY_ARGS.items():
        for name, expected in args.items():
            assert query_fields[field][name] == expected


def test_every_transcript_matches_the_documented_fields(box, sim, workspace):
    seen = 0
    for skip in range(0, len(sim.data.transcripts), MAX_LIMIT):
        response = post(box, FULL_QUERY, {"limit": MAX_LIMIT, "skip": skip})
        assert response.status_code == 200
        for transcript in response.json()["data"]["transcripts"]:
            jsonschema.validate(transcript, TRANSCRIPT_SCHEMA)
            stamp = datetime.fromisoformat(transcript["dateString"].replace("Z", "+00:00"))
            assert stamp.timestamp() * 1000 == transcript["date"]
            assert workspace.start <= stamp < workspace.anchor
            seconds = transcript["duration"] * 60 + 1
            assert all(0 <= s["start_time"] <= s["end_time"] <= seconds for s in transcript["sentences"])
            seen += 1
    assert seen == len(sim.data.transcripts)


def test_unknown_field_is_a_validation_error_like_the_real_api(box, sim):
    response = post(box, "{ transcripts(limit: 1) { id nonsense } }")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["message"] == 'Cannot query field "nonsense" on type "Transcript".'
    assert error["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["locations"] == [{"line": 1, "column": 30}]
    assert post(box, '{ transcripts(keyword: "x") { id } }').status_code == 400  # unsimulated filter
    assert post(box, "{ transcripts { id ").json()["errors"][0]["code"] == "GRAPHQL_PARSE_FAILED"


# --- errors in Fireflies' shape ---------------------------------------------------------


def test_limit_above_50_is_invalid_arguments(box, sim):
    response = post(box, "query($l: Int) { transcripts(limit: $l) { id } }", {"l": MAX_LIMIT + 1})
    assert response.status_code == 200
    body = response.json()
    jsonschema.validate(body, ERROR_SCHEMA)
    assert body["errors"][0]["code"] == "invalid_arguments"
    assert body["errors"][0]["extensions"]["status"] == 400


def test_wrong_key_is_auth_failed(box, sim):
    response = post(box, "{ transcripts { id } }", token="wrong")
    assert response.status_code == 401
    jsonschema.validate(response.json(), ERROR_SCHEMA)
    assert response.json()["errors"][0]["code"] == "auth_failed"


def test_unknown_id_is_object_not_found(box, sim):
    body = post(box, "query($id: String!) { transcript(id: $id) { id } }", {"id": "nope"}).json()
    jsonschema.validate(body, ERROR_SCHEMA)
    assert body["errors"][0]["code"] == "object_not_found"
    assert body["errors"][0]["extensions"]["status"] == 404


def test_rate_limit_answers_429_with_retry_after_and_graphql_body(box, sim):
    box.rate_limits["fireflies"] = RateLimiter(1, per_s=3600, burst=1)
    assert post(box, "{ transcripts(limit: 1) { id } }").status_code == 200
    response = post(box, "{ transcripts(limit: 1) { id } }")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    jsonschema.validate(response.json(), ERROR_SCHEMA)
    assert response.json()["errors"][0]["code"] == "too_many_requests"
    assert response.json()["errors"][0]["extensions"]["status"] == 429


def test_injected_error_can_ride_on_http_200(box, sim):
    sim.inject_error("too_many_requests", http_status=200)
    response = post(box, "{ transcripts(limit: 1) { id } }")
    assert response.status_code == 200
    assert response.json()["errors"][0]["code"] == "too_many_requests"
    assert post(box, "{ transcripts(limit: 1) { id } }").json()["data"]["transcripts"]  # once only


# --- behaviour -------------------------------------------------------------------------


def test_list_is_newest_first_filtered_on_meeting_date_and_paged_by_skip(box, sim):
    everything = post(box, "{ transcripts(limit: 50) { id date } }").json()["data"]["transcripts"]
    dates = [t["date"] for t in everything]
    assert dates == sorted(dates, reverse=True)
    low, high = everything[10]["date"], everything[3]["date"]
    iso = lambda ms: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ms / 1000))  # noqa: E731
    query = "query($f: DateTime, $t: DateTime, $l: Int, $s: Int) { transcripts(fromDate: $f, toDate: $t, limit: $l, skip: $s) { id } }"
    page1 = post(box, query, {"f": iso(low), "t": iso(high), "l": 5, "s": 0}).json()["data"]["transcripts"]
    page2 = post(box, query, {"f": iso(low), "t": iso(high), "l": 5, "s": 5}).json()["data"]["transcripts"]
    assert [t["id"] for t in page1 + page2] == [t["id"] for t in everything[3:11]]  # both ends inclusive


def test_datetime_arguments_as_literals_or_variables(box, sim, workspace):
    since = workspace.anchor - timedelta(hours=RECENT_HOURS)
    literal = f'{{ transcripts(fromDate: "{since:%Y-%m-%dT%H:%M:%S}.000Z") {{ date }} }}'
    found = post(box, literal).json()["data"]["transcripts"]
    assert found and all(t["date"] >= since.timestamp() * 1000 for t in found)
    bad = post(box, "query($f: DateTime) { transcripts(fromDate: $f) { id } }", {"f": "yesterday"})
    assert bad.status_code == 200 and bad.json()["errors"][0]["code"] == "invalid_arguments"
    assert post(box, '{ transcripts(fromDate: "yesterday") { id } }').status_code == 400


def test_transcript_is_invisible_until_processed(box, sim):
    transcript = sim.data.transcripts[-1]
    ready = sim.data.visible_at[transcript["id"]]
    meeting = sim.data.meeting_time(transcript)
    assert timedelta(hours=2) <= ready - meeting <= timedelta(hours=8)
    one = "query($id: String!) { transcript(id: $id) { id } }"
    sim.now = ready - timedelta(minutes=1)
    assert post(box, one, {"id": transcript["id"]}).json()["errors"][0]["code"] == "object_not_found"
    assert transcript["id"] not in {t["id"] for t in post(box, "{ transcripts { id } }").json()["data"]["transcripts"]}
    sim.now = ready
    assert post(box, one, {"id": transcript["id"]}).json()["data"]["transcript"]["id"] == transcript["id"]


def test_a_members_key_sees_its_owners_meetings_and_no_one_elses(workspace):
    owner, other = workspace.people[1].email.lower(), workspace.people[2].email.lower()
    with Sandbox([FirefliesSimulator(workspace, key_owner=owner, admin=False)]) as member:
        member.simulator("fireflies").now = workspace.anchor + timedelta(days=1)
        me = post(member, "{ user { email is_admin } }").json()["data"]["user"]
        assert me == {"email": owner, "is_admin": False}
        users = post(member, "{ users { user_id email } }").json()["data"]["users"]
        ids = {u["email"]: u["user_id"] for u in users}
        listed = post(member, "{ transcripts(limit: 50) { organizer_email participants } }").json()["data"]["transcripts"]
        assert listed and all(owner in {p.lower() for p in [t["organizer_email"], *t["participants"]]} for t in listed)
        mine = post(member, "{ transcripts(mine: true) { organizer_email } }").json()["data"]["transcripts"]
        assert all(t["organizer_email"].lower() == owner for t in mine)
        refused = post(member, f'{{ transcripts(user_id: "{ids[other]}") {{ id }} }}').json()
        assert refused["errors"][0]["code"] == "require_elevated_privilege"
        both = post(member, f'{{ transcripts(mine: true, user_id: "{ids[owner]}") {{ id }} }}').json()
        assert both["errors"][0]["code"] == "invalid_arguments"  # one of them at a time (API 2.4.0)


def test_summary_arrives_after_the_transcript(box, sim):
    """Listed while its summary is processing: summary null, summary_status "processing"."""
    transcript = next(t for t in reversed(sim.data.transcripts) if t["summary"] and t["summary"]["overview"])
    tid = transcript["id"]
    visible, ready = sim.data.visible_at[tid], sim.data.summary_at[tid]
    assert timedelta(minutes=10) <= ready - visible <= timedelta(minutes=90)
    one = "query($id: String!) { transcript(id: $id) { summary { overview } meeting_info { summary_status } } }"
    sim.now = visible
    early = post(box, one, {"id": tid}).json()["data"]["transcript"]
    assert early == {"summary": None, "meeting_info": {"summary_status": "processing"}}
    sim.now = ready
    late = post(box, one, {"id": tid}).json()["data"]["transcript"]
    assert late["summary"]["overview"] == transcript["summary"]["overview"]
    assert late["meeting_info"]["summary_status"] == "processed"
    statuses = {t["meeting_info"]["summary_status"] for t in sim.data.transcripts}
    assert statuses == {"processed", "failed"}  # a meeting without a summary ends failed


# --- sample data -----------------------------------------------------------------------


def test_sample_meetings_cover_the_cases(workspace):
    data = workspace.data("fireflies")
    ts = data.transcripts
    assert len(ts) == MEETINGS_PER_SCALE * workspace.scale
    assert all(workspace.start <= data.meeting_time(t) < workspace.anchor for t in ts)
    for hour in range(RECENT_HOURS):  # activity in each of the last schedule intervals
        end = workspace.anchor - timedelta(hours=hour)
        assert any(end - timedelta(hours=1) <= data.meeting_time(t) < end for t in ts)
    long = max(ts, key=lambda t: t["duration"])
    assert abs(long["duration"] - LONG_MEETING_MIN) < 1 and 1200 <= len(long["sentences"]) <= 1400
    assert min(t["duration"] for t in ts) <= 16
    assert {t["privacy"] for t in ts} >= {"teammates", "participants", "link", "owner"}
    assert any(t["summary"] is None for t in ts) and any(t["summary"] and not t["summary"]["overview"] for t in ts)
    named = set().union(*data.projects.values())
    assert named == {"SUBS", "BC", "ARCH"} and any(not tags for tags in data.projects.values())
    people = {p.email for p in workspace.people}
    assert all(e.lower() in people for t in ts for e in t["participants"])
    assert generate(workspace) == data  # deterministic


def test_benchmark_scale_is_quick_and_hour_long(workspace):
    started = time.perf_counter()
    data = generate(Workspace(anchor=workspace.anchor, scale=8))
    assert time.perf_counter() - started < 5
    assert len(data.transcripts) == 200
    sentences = sum(len(t["sentences"]) for t in data.transcripts) / 200
    minutes = sum(t["duration"] for t in data.transcripts) / 200
    assert 50 <= minutes <= 70 and 750 <= sentences <= 1000
    assert json.dumps(data.transcripts[0])  # API-shaped, JSON-serializable
    assert re.fullmatch(r"[A-Za-z0-9]{16}", data.transcripts[0]["id"])


# --- the fast path answers exactly what graphql-core would -----------------------------------

_ISO_WEEK = {"fromDate": "2026-11-13T12:00:00.000Z", "toDate": "2026-11-20T12:00:00.000Z"}
ALIASED = """{
  recent: transcripts(limit: 3, skip: 1) {
    key: id when: date privacy participants
    people: speakers { who: name id }
    sentences { index speaker_id start_time text }
    summary { keywords action_items overview }
    meeting_attendees { email phoneNumber }
  }
  oldest: transcripts(toDate: "2026-11-18T00:00:00Z", limit: 1) { title duration }
}"""
TWO_OPERATIONS = "query A { transcripts(limit: 2) { id } } query B { transcripts(limit: 1, skip: 2) { title date } }"


def _executed(root, query, variables=None, operation=None):
    document = parse(query)
    assert validate(SCHEMA, document) == []
    result = execute_sync(SCHEMA, document, root_value=root, variable_values=variables or {}, operation_name=operation)
    return document, result


def _projection_cases(sim):
    newest = sim.visible_transcripts()[0]["id"]
    return [
        (LIST_QUERY, {**_ISO_WEEK, "limit": MAX_LIMIT, "skip": 0}, None),
        (LIST_QUERY, {"limit": 7, "skip": 20}, None),
        (IDS_QUERY, {**_ISO_WEEK, "limit": 5, "skip": 3}, None),
        (ONE_QUERY, {"id": newest}, None),
        (FULL_QUERY, {"limit": MAX_LIMIT, "skip": 0}, None),
        (ALIASED, None, None),
        (TWO_OPERATIONS, None, "B"),
    ]


def test_projection_equals_graphql_core_execution(sim):
    root = _Root(sim.visible_transcripts())
    for query, variables, operation in _projection_cases(sim):
        document, result = _executed(root, query, variables, operation)
        assert result.errors is None and all(result.data.values()), query  # non-empty answers
        projected = project(document, root, dict(variables or {}), operation)
        # Byte-equal JSON: same keys in the same order, 3 vs 3.0, "0" vs 0 all count.
        assert json.dumps(projected) == json.dumps(result.data), query


def test_projection_coerces_leaves_like_graphql_core():
    odd = {
        "id": 7,
        "title": 5,
        "date": 1,
        "duration": 2.5,
        "privacy": "owner",
        "participants": ("a", None),
        "speakers": [{"id": 2.0, "name": "Ann"}, None],
        "summary": None,
        "sentences": [],
        "meeting_attendees": [{"email": None}],
    }
    root = _Root([odd])
    query = (
        "{ transcripts { id title date duration privacy participants speakers { id name } summary { gist } "
        "sentences { text } meeting_attendees { email name } calendar_id } }"
    )
    document, result = _executed(root, query)
    assert result.errors is None
    assert json.dumps(project(document, root, {})) == json.dumps(result.data)
    assert result.data["transcripts"][0]["id"] == "7" and result.data["transcripts"][0]["date"] == 1.0


@pytest.mark.parametrize(
    "query, variables",
    [
        ("{ transcripts(limit: 1) { ...F } } fragment F on Transcript { id }", {}),
        ("{ transcripts(limit: 1) { ... on Transcript { id } } }", {}),
        ("query($x: Boolean!) { transcripts(limit: 1) { id @include(if: $x) } }", {"x": True}),
        ("{ transcripts(limit: 1) { __typename id } }", {}),
        ("{ __schema { queryType { name } } }", {}),
        ("{ transcripts(limit: 1) { id id } }", {}),
        ("{ transcripts(limit: 1) { sentences { text } sentences { index } } }", {}),
        ("query($l: Int) { transcripts(limit: $l) { id } }", {"l": MAX_LIMIT + 1}),  # the resolver's error
        ("query($f: DateTime) { transcripts(fromDate: $f) { id } }", {"f": "yesterday"}),  # a variable's error
        ('{ transcript(id: "nope") { id } }', {}),
        ("query A { transcripts(limit: 1) { id } } query B { transcripts(limit: 1) { id } }", {}),  # which one?
    ],
)
def test_anything_else_is_left_to_graphql_core(sim, query, variables):
    root = _Root(sim.visible_transcripts())
    document = parse(query)
    assert validate(SCHEMA, document) == []
    with pytest.raises(Exception):
        project(document, root, variables)


def test_values_that_do_not_fit_their_type_are_left_to_graphql_core():
    wrong = ({"id": "x", "date": "soon"}, {"id": "x", "participants": "a@example.com"}, {"id": "x", "privacy": "secret"})
    for bad in wrong:
        root = _Root([bad])
        document, result = _executed(root, "{ transcripts { id date participants privacy } }")
        assert result.errors  # graphql-core reports it...
        with pytest.raises(Exception):
            project(document, root, {})  # ...so the projector must not answer


def test_connector_queries_take_the_fast_path_and_the_rest_graphql_core(box, sim, monkeypatch):
    executed = []
    monkeypatch.setattr(fireflies_sim, "execute_sync", lambda *a, **k: executed.append(1) or execute_sync(*a, **k))
    fast = post(box, LIST_QUERY, {**_ISO_WEEK, "limit": MAX_LIMIT, "skip": 0})
    assert fast.status_code == 200 and fast.json()["data"]["transcripts"] and executed == []
    slow = post(box, "{ transcripts(limit: 2) { ...F } } fragment F on Transcript { id __typename }")
    assert slow.status_code == 200 and executed == [1]
    assert [t["__typename"] for t in slow.json()["data"]["transcripts"]] == ["Transcript", "Transcript"]
    errors = post(box, "query($l: Int) { transcripts(limit: $l) { id } }", {"l": MAX_LIMIT + 1}).json()
    assert errors["errors"][0]["code"] == "invalid_arguments" and executed == [1, 1]
