"""The Tempo source end to end: requests + urllib3 against the Tempo simulator, and the real
``jira`` library against the Jira simulator for naming issues and people."""

from __future__ import annotations

import json
import math
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from sandbox.jira import JiraSimulator
from sandbox.server import Fault, Request, Response, Sandbox, route
from sandbox.tempo import BOUNDARY_OFFSET, JIRA_WORKLOG_ID_OFFSET, SLOT, TempoSimulator
from tests.sourcekit import Backends
from vector_sync import pipeline
from vector_sync.cli import _search_json
from vector_sync.errors import CredentialsError, FatalError
from vector_sync.models import SearchFilter, Window
from vector_sync.paging import PagingLoopError
from vector_sync.search import search
from vector_sync.sources.jira import make_client as make_jira
from vector_sync.sources.tempo import (
    TempoError,
    TempoRequestError,
    TempoSource,
    format_duration,
    make_client,
    parse_worklog,
)
from vector_sync.specs import source_settings
from vector_sync.staging import StagedRun, run_key

EMAIL = "dana.reyes@example.com"
TOKEN = "sandbox-token"
PROJECTS = [
    {"key": "SUBS", "name": "Subscriptions"},
    {"key": "BC", "name": "Billing Console"},
    {"key": "ARCH", "name": "Archive Migration"},
]


@pytest.fixture(scope="module")
def box(workspace):
    with Sandbox([JiraSimulator(workspace), TempoSimulator(workspace)]) as sandbox:
        yield sandbox


@pytest.fixture()
def sim(box, workspace, clean_slate):
    simulator = clean_slate(box).simulator("tempo")
    simulator.now = workspace.anchor
    yield simulator
    simulator.now = workspace.anchor
    simulator.deleted = dict(simulator.data.deleted)


@pytest.fixture(scope="module")
def jira(box):
    return make_jira(box.base_url("jira"), EMAIL, TOKEN)


@pytest.fixture(scope="module")
def data(workspace):
    return workspace.data("tempo")


def source(box, jira, token=TOKEN, stats=None, **options) -> TempoSource:
    options.setdefault("projects", PROJECTS)
    client = make_client(box.base_url("tempo"), token, jira, total_retries=2, backoff_factor=0.01)
    return TempoSource(client, source_settings("tempo", {"options": options}), stats)


def everything(workspace) -> Window:
    return Window(workspace.start - timedelta(days=11), workspace.anchor)


def expected(data, window: Window, at: datetime, projects=None) -> set[str]:
    """Worklogs alive at ``at``, updated in ``window``, on an issue Jira knows."""
    return {
        f"tempo:{w.id}"
        for w in data.updated_between(window.start, window.end, at)
        if w.project is not None and (projects is None or w.project in projects)
    }


def requests_to(box, path: str, api: str = "tempo") -> int:
    return box.log.count(api=api, path=path)


# --- windows and paging -------------------------------------------------------------------------


def test_fetch_yields_every_resolvable_worklog_of_the_window(box, sim, jira, data, workspace):
    window = everything(workspace)
    docs = list(source(box, jira).fetch(window))
    assert {d.id for d in docs} == expected(data, window, workspace.anchor)
    assert len(docs) == len({d.id for d in docs})
    assert all(window.contains(d.updated_at) for d in docs)
    assert requests_to(box, "/4/worklogs") == 1  # one page of 1,000


def test_small_pages_follow_metadata_next(box, sim, jira, data, workspace):
    window = everything(workspace)
    listed = len([w for w in data.updated_between(window.start, window.end, workspace.anchor)])
    docs = list(source(box, jira, page_size=50).fetch(window))
    assert {d.id for d in docs} == expected(data, window, workspace.anchor)
    assert requests_to(box, "/4/worklogs") == math.ceil(listed / 50) > 3


def test_parts_split_the_listing_by_work_date_without_listing_twice(box, sim, jira, data, workspace):
    """Each worklog is listed by one part only, without updatedFrom (whether it combines with
    from/to is not documented): together the parts page the history once."""
    window = everything(workspace)
    scopes = source(box, jira).parts(window)
    assert len(scopes) == 4 and scopes[0]["from"] == "2000-01-01"
    assert all(date.fromisoformat(a["to"]) + timedelta(days=1) == date.fromisoformat(b["from"]) for a, b in zip(scopes, scopes[1:]))
    box.log.reset()
    ids: list[str] = []
    for scope in scopes:
        ids += [d.id for d in source(box, jira, page_size=50).fetch_part(window, scope)]
    assert sorted(ids) == sorted(expected(data, window, workspace.anchor))
    assert requests_to(box, "/4/worklogs") <= math.ceil(len(sim.live()) / 50) + len(scopes)


@pytest.mark.parametrize("alone", [True, False], ids=["updatedFrom-alone", "updatedFrom-combines"])
def test_a_scheduled_run_pages_only_its_updates_under_either_reading(workspace, jira, data, alone):
    """Whether Tempo ignores updatedFrom beside other parameters (its v3 help says it does) or
    not, the scheduled listing (updatedFrom, orderBy=UPDATED) stops at the window start."""
    window = Window(workspace.anchor - timedelta(hours=4), workspace.anchor)
    listed = len(data.updated_between(window.start, workspace.anchor + timedelta(days=1), workspace.anchor))
    with Sandbox([JiraSimulator(workspace), TempoSimulator(workspace, now=workspace.anchor, updated_from_alone=alone)]) as other:
        client = make_client(other.base_url("tempo"), TOKEN, make_jira(other.base_url("jira"), EMAIL, TOKEN))
        docs = {d.id for d in TempoSource(client, source_settings("tempo", {"options": {"page_size": 5}})).fetch(window)}
        pages = requests_to(other, "/4/worklogs")
    assert docs == expected(data, window, workspace.anchor)
    assert pages < len(data.worklogs) / 5 / 5  # far from paging the whole history
    assert pages <= math.ceil(listed / 5) + 1  # the window's updates, and one page past them at most


def test_a_repeated_next_link_is_refused(workspace, jira):
    class Looping(TempoSimulator):
        @route("GET", r"/4/worklogs")
        def worklogs(self, request: Request) -> Response:
            response = super().worklogs(request)
            body = json.loads(response.body)
            body["metadata"]["next"] = f"http://{request.headers['Host']}/tempo/4/worklogs?offset=50&limit=50"
            return Response(200, body)

    with Sandbox([Looping(workspace)]) as looping:
        client = make_client(looping.base_url("tempo"), TOKEN, jira)
        with pytest.raises(PagingLoopError, match="twice"):
            list(TempoSource(client, source_settings("tempo")).fetch(everything(workspace)))


def test_the_window_is_half_open_and_finer_than_updated_from(box, sim, jira, data, workspace):
    boundary = workspace.anchor - BOUNDARY_OFFSET
    on_it = {f"tempo:{w.id}" for w in data.worklogs if w.updated == boundary}
    after = Window(boundary, boundary + SLOT)
    before = Window(boundary - SLOT, boundary)
    assert on_it <= {d.id for d in source(box, jira).fetch(after)}
    assert not on_it & {d.id for d in source(box, jira).fetch(before)}
    # updatedFrom is floored to the second, so the API sends it: the client drops it.
    half_second_late = Window(boundary + timedelta(milliseconds=500), boundary + SLOT)
    assert not on_it & {d.id for d in source(box, jira).fetch(half_second_late)}


def test_updated_from_is_sent_alone_newest_first(workspace, jira):
    class Recording(TempoSimulator):
        queries: list = []

        @route("GET", r"/4/worklogs")
        def worklogs(self, request: Request) -> Response:
            self.queries.append({k: v[0] for k, v in request.query.items()})
            return super().worklogs(request)

    window = Window(workspace.anchor - SLOT + timedelta(microseconds=250), workspace.anchor)
    with Sandbox([Recording(workspace)]) as recording:
        client = make_client(recording.base_url("tempo"), TOKEN, jira)
        list(TempoSource(client, source_settings("tempo")).fetch(window))
    assert Recording.queries[0] == {
        "updatedFrom": (workspace.anchor - SLOT).strftime("%Y-%m-%dT%H:%M:%SZ"),  # floored to the second
        "orderBy": "UPDATED",  # newest update first: the listing stops at the window start
        "offset": "0",
        "limit": "1000",
    }


def test_edited_and_back_dated_worklogs_arrive_in_the_window_of_their_update(box, sim, jira, data, workspace):
    recent = Window(workspace.anchor - timedelta(hours=4), workspace.anchor)
    docs = {d.id: d for d in source(box, jira).fetch(recent)}
    for kind in ("edited", "backdated"):
        changed = [w for w in data.of_kind(kind) if recent.contains(w.updated)]
        assert changed, f"the sample needs a recent {kind} worklog"
        for w in changed:
            doc = docs[f"tempo:{w.id}"]
            assert doc.metadata["work_date"] == w.start_date.isoformat() < recent.start.date().isoformat()
            assert doc.updated_at == w.updated
    edited = next(w for w in data.of_kind("edited") if recent.contains(w.updated))
    at_creation = Window(edited.created - timedelta(minutes=1), edited.created + timedelta(minutes=1))
    assert f"tempo:{edited.id}" not in {d.id for d in source(box, jira).fetch(at_creation)}


# --- resolution through Jira ------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1000, 40])
def test_issues_and_people_are_resolved_in_bulk_once_per_run(box, sim, jira, data, workspace, page_size):
    window = everything(workspace)
    listed = data.updated_between(window.start, window.end, workspace.anchor)
    resolvable = {w.issue_id for w in listed if w.project is not None}
    unresolvable = {w.issue_id for w in listed if w.project is None}
    authors = {w.account_id for w in listed if w.project is not None}
    assert len(resolvable) > 100 and unresolvable
    docs = list(source(box, jira, page_size=page_size).fetch(window))
    assert len(docs) == len(expected(data, window, workspace.anchor))
    searches = requests_to(box, "search/jql", api="jira")
    # Jira reports unknown ids with a 400: each report costs one repeated search.
    assert searches <= math.ceil(len(resolvable) / 100) + len(unresolvable)
    assert requests_to(box, "/rest/api/3/user", api="jira") == len(authors)
    assert requests_to(box, "/issue/", api="jira") == 0  # never one call per worklog


def test_unresolvable_issues_are_skipped_and_counted(box, sim, jira, data, workspace):
    window = Window(workspace.anchor - timedelta(hours=3), workspace.anchor)
    lost = [w for w in data.updated_between(window.start, window.end, workspace.anchor) if w.project is None]
    assert lost
    src = source(box, jira)
    docs = list(src.fetch(window))
    assert not {f"tempo:{w.id}" for w in lost} & {d.id for d in docs}
    assert src.stats.skipped == {"unresolvable issue": len(lost)}


def test_a_jira_search_without_unknown_ids_costs_one_request_per_100_issues(box, sim, jira, data, workspace):
    window = Window(workspace.anchor - timedelta(hours=12), workspace.anchor - timedelta(hours=3))
    listed = data.updated_between(window.start, window.end, workspace.anchor)
    assert all(w.project is not None for w in listed)
    list(source(box, jira, resolve_batch_size=10).fetch(window))
    assert requests_to(box, "search/jql", api="jira") == math.ceil(len({w.issue_id for w in listed}) / 10)


def test_documents_read_as_a_sentence_with_flat_metadata(box, sim, jira, data, workspace):
    backdated = next(w for w in data.of_kind("backdated") if w.project == "SUBS")
    window = Window(backdated.updated, backdated.updated + timedelta(seconds=1))
    doc = next(d for d in source(box, jira).fetch(window) if d.id == f"tempo:{backdated.id}")
    issue = workspace.data("jira").by_id[backdated.issue_id]
    person = workspace.person_by_account(backdated.account_id)
    day = backdated.start_date.isoformat()
    spent = format_duration(backdated.body["timeSpentSeconds"])
    assert doc.text.startswith(f"{person.name} logged {spent} on {issue.key} {issue.fields['summary']} on {day}")
    assert "Project: Subscriptions (SUBS)." in doc.text
    assert doc.title == f"Worklog: {person.name} on {issue.key} ({day})"
    assert doc.url == f"{box.base_url('jira')}/browse/{issue.key}"
    assert doc.projects == ("SUBS",) and doc.updated_at == backdated.updated
    md = doc.metadata
    assert md["hours"] == backdated.hours and isinstance(md["hours"], float)
    assert md["billable_hours"] == backdated.body["billableSeconds"] / 3600
    assert (md["issue_key"], md["project_key"], md["author"], md["author_account_id"], md["work_date"]) == (
        issue.key,
        "SUBS",
        person.name,
        person.account_id,
        day,
    )
    assert md["timestamp_epoch"] == int(datetime.fromisoformat(f"{day}T00:00:00+00:00").timestamp())
    assert md["worklog_id"] == str(backdated.id) and md["access_type"] == "all" and md["source"] == "tempo"
    assert None not in md.values()


def test_malformed_worklogs_are_skipped_and_counted():
    good = {
        "tempoWorklogId": 1,
        "issue": {"id": 2},
        "timeSpentSeconds": 60,
        "startDate": "2026-11-20",
        "updatedAt": "2026-11-20T10:00:00Z",
        "author": {"accountId": "a"},
    }
    assert parse_worklog(good) is not None
    for broken in (
        {**good, "issue": {}},
        {**good, "updatedAt": "soon"},
        {**good, "startDate": None},
        {**good, "timeSpentSeconds": "lots"},
        {k: v for k, v in good.items() if k != "tempoWorklogId"},
        [],
    ):
        assert parse_worklog(broken) is None
    assert [format_duration(s) for s in (2700, 3600, 9000, 28800, 60)] == ["45m", "1h", "2h 30m", "8h", "1m"]


# --- deletions and pruning -------------------------------------------------------------------------


def run(kit: Backends, src: TempoSource, window: Window) -> dict:
    settings = source_settings("tempo")
    staged = StagedRun(kit.folder / "staging", "tempo", run_key(f"t-{time.time_ns()}", window))
    chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)
    return pipeline.run_window(src, window, staged, kit.state, kit.embedder, kit.store, chunking, "test")


def test_a_deleted_worklog_leaves_the_index(box, sim, jira, data, workspace, tmp_path):
    wid, deleted_at = next(iter(data.deleted.items()))
    kit = Backends(tmp_path)
    # The sample's dates are fixed while the real clock moves on: no 180-day cut here.
    options = {"deleted_lookback_days": 0}
    sim.now = deleted_at - timedelta(minutes=1)
    run(kit, source(box, jira, **options), Window(workspace.anchor - timedelta(hours=4), sim.now))
    assert list(kit.store.ids(f"tempo:{wid}#"))
    sim.now = workspace.anchor
    window = Window(deleted_at - SLOT / 2, workspace.anchor)
    assert list(source(box, jira, **options).removed_ids(window)) == [f"tempo:{wid}"]
    counts = run(kit, source(box, jira, **options), window)
    assert counts["removed_documents"] == 1 and counts["deleted"] >= 1
    assert not list(kit.store.ids(f"tempo:{wid}#"))
    assert requests_to(box, "/4/papertrail/search") >= 1
    assert not list(source(box, jira, **options).removed_ids(Window(deleted_at + timedelta(seconds=1), workspace.anchor)))


@pytest.mark.parametrize("audit_ids", ["tempo", "jira"])
def test_audit_entity_ids_are_read_both_ways_and_only_a_404_removes(workspace, jira, data, audit_ids):
    """The spec calls entityId only the "Identifier of the entity being audited". Read as a Tempo
    id and translated from a Jira id (jira-to-tempo), each candidate is removed only when Tempo
    answers 404: an id that is some live worklog's under the other reading is never removed."""
    options = {"deleted_lookback_days": 0}
    # A worklog whose Jira id is another live worklog's Tempo id, and the other way round.
    victim = next(w for w in data.worklogs if w.id + JIRA_WORKLOG_ID_OFFSET in {v.id for v in data.live(workspace.anchor)})
    deleted_at = workspace.anchor - timedelta(minutes=5)
    with Sandbox([JiraSimulator(workspace), TempoSimulator(workspace, now=workspace.anchor, audit_ids=audit_ids)]) as other:
        other.simulator("tempo").delete(victim.id, deleted_at)
        client = make_client(other.base_url("tempo"), TOKEN, make_jira(other.base_url("jira"), EMAIL, TOKEN))
        src = TempoSource(client, source_settings("tempo", {"options": options}))
        removed = list(src.removed_ids(Window(deleted_at - timedelta(minutes=1), workspace.anchor)))
        assert requests_to(other, "/4/worklogs/jira-to-tempo") == 1
    live = {f"tempo:{w.id}" for w in data.live(workspace.anchor)} - {f"tempo:{victim.id}"}
    assert not set(removed) & live  # never a live worklog
    if audit_ids == "tempo":
        assert removed == [f"tempo:{victim.id}"]
    else:  # Tempo maps only existing worklogs: the deleted one is left to the prune
        assert f"tempo:{victim.id}" not in removed


def test_deletions_older_than_tempo_keeps_are_not_asked_for(box, sim, jira, data, workspace):
    wid, deleted_at = next(iter(data.deleted.items()))
    window = Window(deleted_at - SLOT, workspace.anchor)
    assert workspace.anchor < datetime.now(timezone.utc) - timedelta(days=1)
    assert list(source(box, jira, deleted_lookback_days=1).removed_ids(window)) == []
    assert requests_to(box, "/4/papertrail/search") == 0


def test_live_ids_list_every_worklog_tempo_still_has(box, sim, jira, data, workspace):
    assert set(source(box, jira, page_size=100).live_ids()) == {f"tempo:{w.id}" for w in data.live(workspace.anchor)}


# --- search -------------------------------------------------------------------------------------------


def test_search_lists_a_projects_worklogs_of_one_work_week_with_hours_per_person(box, sim, jira, data, workspace, tmp_path):
    """`vector-sync search "time logged" --source tempo --project SUBS --since 2026-11-16 --until 2026-11-22`."""
    kit = Backends(tmp_path)
    window = everything(workspace)
    run(kit, source(box, jira), window)
    monday = workspace.anchor.date() - timedelta(days=workspace.anchor.weekday())
    since = datetime(monday.year, monday.month, monday.day, tzinfo=timezone.utc)
    until = since + timedelta(days=7)  # --until SUNDAY is inclusive: the CLI adds a day
    flt = SearchFilter(sources=("tempo",), projects=("SUBS",), since=since, until=until)
    hits = search("time logged", kit.embedder, kit.store, flt, top_k=1000)
    week = [
        w
        for w in data.updated_between(window.start, window.end, workspace.anchor)
        if w.project == "SUBS" and since.date() <= w.start_date < until.date()
    ]
    assert week and len(week) < len([w for w in data.worklogs if w.project == "SUBS"])
    assert {h.id.rsplit("#", 1)[0] for h in hits} == {f"tempo:{w.id}" for w in week}
    hours: dict[str, float] = {}
    for w in week:
        name = workspace.person_by_account(w.account_id).name
        hours[name] = round(hours.get(name, 0.0) + w.hours, 2)
    assert _search_json(hits)["hours_by_person"] == pytest.approx(hours)


# --- errors ---------------------------------------------------------------------------------------------


def test_wrong_tempo_token_is_a_credentials_error_naming_the_connection(box, sim, jira, workspace):
    with pytest.raises(CredentialsError, match="tempo_default") as caught:
        list(source(box, jira, token="wrong-token").fetch(everything(workspace)))
    assert "wrong-token" not in str(caught.value)
    assert box.log.status_count("tempo", 401) == 1  # not retried


def test_wrong_jira_token_is_a_credentials_error_naming_the_jira_connection(box, sim, workspace):
    with pytest.raises(CredentialsError, match="jira_default"):
        make_jira(box.base_url("jira"), EMAIL, "wrong-token")


def test_refused_parameters_are_fatal(box, sim, jira, workspace):
    with pytest.raises(TempoRequestError, match="400"):
        list(source(box, jira, history_start="2030-01-01", future_days=0).live_ids())
    with pytest.raises(FatalError, match="history_start"):
        source(box, jira, history_start="last year").parts(everything(workspace))
    with pytest.raises(FatalError, match="token"):
        make_client(box.base_url("tempo"), "", jira)


def test_retries_honour_retry_after_then_give_up_with_a_retryable_error(box, sim, jira, workspace):
    window = Window(workspace.anchor - timedelta(hours=2), workspace.anchor)
    box.faults.add(Fault(api="tempo", kind="status", status=429, times=2, retry_after_s=1))
    started = time.monotonic()
    assert list(source(box, jira).fetch(window))
    assert time.monotonic() - started >= 2 and box.log.status_count("tempo", 429) == 2
    box.faults.add(Fault(api="tempo", kind="status", status=503, times=10, retry_after_s=0))
    with pytest.raises(TempoError, match="503") as caught:
        list(source(box, jira).fetch(window))
    assert not isinstance(caught.value, FatalError)


# --- the hook --------------------------------------------------------------------------------------


def test_hook_builds_both_clients_from_env_connections(box, sim, data, workspace, monkeypatch, tmp_path):
    from vector_sync.hooks.tempo import TempoHook

    tempo = {"conn_type": "tempo", "host": box.base_url("tempo"), "password": TOKEN, "extra": {"timeout_s": 30, "total_retries": 2}}
    jira = {"conn_type": "jira", "host": box.base_url("jira"), "login": EMAIL, "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_TEMPO_DEFAULT", json.dumps(tempo))
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_DEFAULT", json.dumps(jira))
    hook = TempoHook()
    client = hook.client
    assert hook.client is client and client.base_url == box.base_url("tempo")
    assert client.jira.server_url == box.base_url("jira") and client.jira_conn_id == "jira_default"
    assert client.session.get_adapter(client.base_url).max_retries.total == 2
    window = Window(workspace.anchor - timedelta(hours=2), workspace.anchor)
    docs = list(TempoSource(client, source_settings("tempo")).fetch(window))
    assert {d.id for d in docs} == expected(data, window, workspace.anchor) and docs

    monkeypatch.setenv("AIRFLOW_CONN_WORK_JIRA", json.dumps(jira))
    assert TempoHook(jira_conn_id="work_jira").get_conn().jira_conn_id == "work_jira"
    # The hook reads no Variable: the Airflow layer passes the tempo option jira_conn_id in.
    from vector_sync.airflow.backends import build_source
    from vector_sync.airflow.settings import settings_for
    from vector_sync.state import StateStore

    monkeypatch.setenv("AIRFLOW_VAR_VECTOR_SYNC_TEMPO", json.dumps({"options": {"jira_conn_id": "work_jira"}}))
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    state.migrate()
    assert build_source("tempo", settings_for("tempo"), state).client.jira_conn_id == "work_jira"
    assert TempoHook().get_conn().jira_conn_id == "jira_default"
    monkeypatch.setenv("AIRFLOW_CONN_TEMPO_DEFAULT", json.dumps({"conn_type": "tempo", "host": "api.eu.tempo.io"}))
    with pytest.raises(FatalError, match="token"):
        TempoHook().get_conn()
    assert TempoHook.default_conn_name == source_settings("tempo").conn_id


def test_hook_reads_regional_hosts_without_a_scheme(monkeypatch):
    from airflow.sdk import Connection

    from vector_sync.hooks.connection import base_url
    from vector_sync.sources.tempo import API_BASE

    def url(host):
        return base_url(Connection(conn_id="tempo_default", conn_type="tempo", host=host), API_BASE)

    assert url("api.eu.tempo.io") == "https://api.eu.tempo.io"
    assert url(None) == "https://api.tempo.io"
    assert url("https://api.us.tempo.io/") == "https://api.us.tempo.io"
