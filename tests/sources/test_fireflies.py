"""The Fireflies source end to end: the real client (requests + urllib3) against the simulator."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from datetime import timedelta

import pytest

from sandbox.fireflies import RECENT_HOURS, FirefliesSimulator
from sandbox.server import Fault, Sandbox
from sandbox.workspace import Workspace
from tests.sourcekit import sandbox_source
from tests.statekit import backend, pg_database  # noqa: F401 - fixtures
from vector_sync import pipeline
from vector_sync.embedders.hashing import HashingEmbedder
from vector_sync.errors import CredentialsError, FatalError
from vector_sync.models import FetchStats, Window
from vector_sync.paging import follow_offsets
from vector_sync.sources.fireflies import (
    LIST_QUERY,
    ONE_QUERY,
    RECHECK_PART,
    SUMMARY_GIVE_UP,
    FirefliesNotFound,
    FirefliesQueryError,
    FirefliesRateLimited,
    FirefliesSource,
    MemoryPendingSummaries,
    make_client,
    to_document,
)
from vector_sync.sources.projects import ProjectTagger
from vector_sync.specs import source_settings
from vector_sync.staging import StagedRun, run_key
from vector_sync.stores.lancedb import LanceDBStore

GRAPHQL = "/graphql"


@pytest.fixture(scope="module")
def box(workspace):
    with Sandbox([FirefliesSimulator(workspace)]) as sandbox:
        yield sandbox


@pytest.fixture()
def sim(box, workspace, clean_slate):
    simulator = clean_slate(box).simulator("fireflies")
    simulator.now = workspace.anchor + timedelta(days=1)  # every transcript processed
    yield simulator
    simulator._injected.clear()


@pytest.fixture(scope="module")
def every_document(box, workspace):
    """The whole sample fetched once (the read-only tests share it)."""
    box.simulator("fireflies").now = workspace.anchor + timedelta(days=1)
    return list(source(box, workspace).fetch(Window(workspace.start, workspace.anchor)))


def endpoint(box) -> str:
    return f"{box.base_url('fireflies')}{GRAPHQL}"


def source(box, workspace=None, key=FirefliesSimulator.token, stats=None, retries=3, pending=None, **options) -> FirefliesSource:
    if workspace is not None:
        options.setdefault("projects", [{"key": p.key, "name": p.name} for p in workspace.projects])
    client = make_client(endpoint(box), key, total_retries=retries, backoff_factor=0.01)
    return FirefliesSource(client, source_settings("fireflies", {"options": options}), stats, pending=pending)


def expected_ids(sim, window: Window) -> set[str]:
    data = sim.data
    return {
        f"fireflies:{t['id']}"
        for t in data.transcripts
        if window.contains(data.meeting_time(t)) and data.visible_at[t["id"]] <= sim.current_time()
    }


# --- windows, paging, late transcripts -----------------------------------------------------


def test_fetch_yields_exactly_the_meetings_of_the_window(box, sim, workspace):
    sim.now = workspace.anchor
    window = Window(workspace.anchor - timedelta(hours=1), workspace.anchor).widened(timedelta(hours=12))
    docs = list(source(box, workspace).fetch(window))
    assert {d.id for d in docs} == expected_ids(sim, window) and docs
    assert len(docs) == len({d.id for d in docs})
    # The last hours' meetings are still being processed at the anchor.
    assert len(expected_ids(sim, window)) < sum(window.contains(sim.data.meeting_time(t)) for t in sim.data.transcripts)
    assert box.log.count("fireflies", GRAPHQL) == 1


def test_pages_with_skip_until_a_short_page(box, sim, workspace):
    window = Window(workspace.start, workspace.anchor)
    stats = FetchStats()
    docs = list(source(box, workspace, stats=stats, page_size=7).fetch(window))
    assert {d.id for d in docs} == expected_ids(sim, window)
    assert box.log.count("fireflies", GRAPHQL) == len(sim.data.transcripts) // 7 + 1
    assert not stats.skipped
    box.log.reset()
    assert [d.id for d in source(box, workspace, page_size=50).fetch(window)] == [d.id for d in docs]
    assert box.log.count("fireflies", GRAPHQL) == 1
    with pytest.raises(ValueError, match="option 'page_size' of source 'fireflies' must be an integer from 1 to 50"):
        source(box, workspace, page_size=500)  # transcripts(limit:) above 50 is an API error: refused, not clamped


def _eventually(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_next_page_is_requested_while_this_one_becomes_documents(box, sim, workspace):
    window = Window(workspace.start, workspace.anchor)
    documents = source(box, workspace, page_size=7).fetch(window)
    first = next(documents)
    assert _eventually(lambda: box.log.count("fireflies", GRAPHQL) == 2)  # one page ahead...
    time.sleep(0.1)
    assert box.log.count("fireflies", GRAPHQL) == 2  # ...and no further
    rest = list(documents)
    assert sorted(d.id for d in [first, *rest]) == sorted(expected_ids(sim, window))
    assert box.log.count("fireflies", GRAPHQL) == len(sim.data.transcripts) // 7 + 1  # the sequential requests


def test_reading_ahead_asks_exactly_what_sequential_paging_asks():
    for count, expected in ((12, [0, 5, 10]), (10, [0, 5, 10]), (3, [0]), (0, [0])):
        asked = []

        def fetch_page(skip, count=count, asked=asked):
            asked.append(skip)
            return list(range(skip, min(skip + 5, count))), None

        assert list(follow_offsets(fetch_page, page_size=5, read_ahead=True)) == list(range(count))  # none lost, none twice
        assert asked == expected


def test_reading_ahead_raises_the_next_pages_error_after_this_pages_items():
    def fetch_page(skip):
        if skip == 5:
            raise FirefliesRateLimited(200, "slow down", "too_many_requests")
        return list(range(skip, skip + 5)), None

    seen = []
    with pytest.raises(FirefliesRateLimited):
        for item in follow_offsets(fetch_page, page_size=5, read_ahead=True):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]


def test_reading_ahead_stops_without_waiting_for_a_page_nobody_reads():
    release, asked = threading.Event(), []

    def fetch_page(skip):
        asked.append(skip)
        if skip:
            release.wait(10)  # a slow next page
        return list(range(skip, skip + 5)), None

    pages = follow_offsets(fetch_page, page_size=5, read_ahead=True)
    assert next(pages) == 0
    assert _eventually(lambda: asked == [0, 5])
    started = time.monotonic()
    pages.close()
    assert time.monotonic() - started < 2
    release.set()


def test_pages_of_50_when_more_meetings_than_a_page(workspace):
    big = Workspace(anchor=workspace.anchor, scale=3)  # 75 meetings
    simulator = FirefliesSimulator(big, now=big.anchor + timedelta(days=1))
    with Sandbox([simulator]) as sandbox:
        docs = list(source(sandbox, big).fetch(Window(big.start, big.anchor)))
        assert len(docs) == len(simulator.data.transcripts) == 75
        assert sandbox.log.count("fireflies", GRAPHQL) == math.ceil(75 / 50)


def test_late_transcript_is_caught_by_the_overlap(box, sim, workspace):
    overlap = source_settings("fireflies").overlap
    data = sim.data
    delay = lambda t: data.visible_at[t["id"]] - data.meeting_time(t)  # noqa: E731
    late = next(t for t in reversed(data.transcripts) if delay(t) > timedelta(hours=2))
    doc_id, met = f"fireflies:{late['id']}", data.meeting_time(late)
    first_end = met.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)  # the run covering the meeting
    sim.now = first_end
    first = Window(first_end - timedelta(hours=1), first_end).widened(overlap)
    assert doc_id not in {d.id for d in source(box, workspace).fetch(first)}
    ready = data.visible_at[late["id"]]
    later_end = ready.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)  # first run after processing
    sim.now = later_end
    later = Window(later_end - timedelta(hours=1), later_end)
    assert not later.contains(met)  # only the widening reaches back to the meeting
    assert doc_id in {d.id for d in source(box, workspace).fetch(later.widened(overlap))}


def test_a_summary_that_arrives_late_is_fetched_again_until_processed(box, sim, workspace):
    """A transcript listed while its summary is processing is indexed without it and kept
    pending; later runs re-fetch it by id (even past the 12-hour overlap) until it is processed."""
    overlap = source_settings("fireflies").overlap
    data = sim.data
    meeting = next(t for t in reversed(data.transcripts) if t["summary"] and t["summary"]["overview"])
    tid, met = meeting["id"], data.meeting_time(meeting)
    ready = data.visible_at[tid] + overlap + timedelta(hours=3)  # later than any overlap reaches
    sim.summary_ready[tid] = ready
    pending = MemoryPendingSummaries()  # kept across runs, as the state table keeps it

    def run(window: Window, store=pending) -> dict:
        src = source(box, workspace, pending=store)
        src.listed_at = sim.now  # the sample's clock, not the real one (the give-up age counts from it)
        return {d.id: d for d in src.fetch(window)}

    try:
        sim.now = data.visible_at[tid] + timedelta(minutes=5)
        first = Window(sim.now - timedelta(hours=1), sim.now).widened(overlap)
        doc = run(first)[f"fireflies:{tid}"]
        assert doc.metadata["summary_status"] == "processing" and meeting["summary"]["overview"] not in doc.text
        assert set(pending.ids()) == {tid}

        sim.now = ready - timedelta(minutes=10)  # still processing: asked again, kept pending
        box.log.reset()
        middle = Window(sim.now - timedelta(hours=1), sim.now).widened(overlap)
        assert not middle.contains(met)
        assert f"fireflies:{tid}" not in run(middle)
        assert set(pending.ids()) == {tid} and box.log.count("fireflies") == 2  # the listing, then transcript(id)

        sim.now = ready + timedelta(minutes=10)
        last = Window(sim.now - timedelta(hours=1), sim.now).widened(overlap)
        assert f"fireflies:{tid}" not in run(last, MemoryPendingSummaries())  # the overlap alone misses it
        docs = run(last)
        assert docs[f"fireflies:{tid}"].metadata["summary_status"] == "processed"
        assert meeting["summary"]["overview"] in docs[f"fireflies:{tid}"].text
        assert pending.ids() == {}
    finally:
        sim.summary_ready.clear()


def test_a_summary_that_never_arrives_is_given_up(box, sim, workspace):
    data = sim.data
    meeting = data.transcripts[-1]
    tid = meeting["id"]
    sim.summary_ready[tid] = workspace.anchor + timedelta(days=30)
    pending = MemoryPendingSummaries()
    pending.add(tid, data.meeting_time(meeting))
    try:
        src = source(box, workspace, pending=pending)
        src.listed_at = data.meeting_time(meeting) + SUMMARY_GIVE_UP + timedelta(hours=1)
        sim.now = src.listed_at
        far = Window(src.listed_at - timedelta(hours=1), src.listed_at)
        docs = {d.id for d in src.fetch(far)}
        assert f"fireflies:{tid}" in docs and pending.ids() == {}
        assert src.stats.skipped["summary never arrived"] == 1
    finally:
        sim.summary_ready.clear()


def indexed(store: LanceDBStore, doc_id: str) -> tuple[str, dict]:
    """The text of a document's chunks in the index, and its first chunk's metadata."""
    import lancedb

    table = lancedb.connect(store.uri).open_table(store.table_name)
    rows = table.search().where(f"starts_with(id, '{doc_id}#')").select(["id", "text", "metadata_json"]).limit(None).to_arrow().to_pylist()
    rows.sort(key=lambda r: int(r["id"].rsplit("#", 1)[1]))
    return "\n".join(r["text"] for r in rows), json.loads(rows[0]["metadata_json"]) if rows else {}


def test_pending_summaries_outlive_the_run_in_the_state_store(box, sim, workspace, backend, tmp_path):
    """End to end, each run a new source and state connection (an Airflow task is a process):
    run 1 indexes a meeting whose summary is processing and notes it in ``pending_summaries``;
    run 2, a later window that does not reach the meeting, re-fetches it by id once Fireflies
    has the summary, and the index holds it; a summary still processing 2 days after its
    meeting is given up on, counted, and the row goes."""
    overlap = source_settings("fireflies").overlap
    data = sim.data
    late, never = [t for t in reversed(data.transcripts) if t["summary"] and t["summary"]["overview"]][:2]
    tid, met = late["id"], data.meeting_time(late)
    ready = data.visible_at[tid] + overlap + timedelta(hours=3)  # later than any overlap reaches
    sim.summary_ready.update({tid: ready, never["id"]: workspace.anchor + timedelta(days=30)})
    store = LanceDBStore(str(tmp_path / "lancedb"))
    with backend.store() as state:
        state.migrate()
        state.projects.upsert((p.key, p.name, True) for p in workspace.projects)

    def run(now, run_id: str) -> tuple[Window, dict]:
        sim.now = now
        window = Window(now - timedelta(hours=1), now).widened(overlap)
        with backend.store() as state:
            src = sandbox_source("fireflies", box, state)
            src.listed_at = now  # the sample's clock (the give-up age counts from it)
            staged = StagedRun(tmp_path / "staging", "fireflies", run_key(run_id, window))
            settings = source_settings("fireflies")
            chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)
            counts = pipeline.run_window(src, window, staged, state, HashingEmbedder(), store, chunking, run_id)
        return window, counts

    def pending() -> dict:
        with backend.store() as state:
            return state.pending_summaries.ids("fireflies")

    try:
        first, _ = run(data.visible_at[tid] + timedelta(minutes=5), "run-1")
        text, metadata = indexed(store, f"fireflies:{tid}")
        assert metadata["summary_status"] == "processing" and late["summary"]["overview"] not in text
        assert pending()[tid] == met

        second, _ = run(ready + timedelta(minutes=10), "run-2")
        assert second.start >= first.end and not second.contains(met)  # only the re-fetch by id reaches it
        text, metadata = indexed(store, f"fireflies:{tid}")
        assert metadata["summary_status"] == "processed" and late["summary"]["overview"] in text
        assert tid not in pending()

        gone_at = data.meeting_time(never)
        run(data.visible_at[never["id"]] + timedelta(minutes=5), "run-3")
        assert never["id"] in pending()
        _, counts = run(gone_at + SUMMARY_GIVE_UP + timedelta(hours=1), "run-4")
        assert never["id"] not in pending()
        assert counts["skip_reasons"]["summary never arrived"] == 1
        text, metadata = indexed(store, f"fireflies:{never['id']}")
        assert metadata["summary_status"] == "processing" and never["summary"]["overview"] not in text  # indexed as it is
    finally:
        sim.summary_ready.clear()


def test_only_the_first_part_of_a_split_window_fetches_the_pending_summaries(box, sim, workspace):
    """Parts run as separate tasks, each with its own source: one of them re-fetches."""
    data = sim.data
    meeting = data.transcripts[0]
    window = Window(workspace.anchor - timedelta(days=2), workspace.anchor)  # two 24-hour parts
    assert not window.contains(data.meeting_time(meeting))

    def requests(scope, pending_ids) -> int:
        pending = MemoryPendingSummaries()
        for tid in pending_ids:
            pending.add(tid, data.meeting_time(meeting))
        box.log.reset()
        list(source(box, workspace, pending=pending).fetch_part(FirefliesSource.part_window(window, scope), scope))
        return box.log.count("fireflies")

    scopes = source(box, workspace).parts(window)
    assert len(scopes) > 1 and [bool(s.get(RECHECK_PART)) for s in scopes] == [True] + [False] * (len(scopes) - 1)
    extra = [requests(scope, [meeting["id"]]) - requests(scope, []) for scope in scopes]
    assert extra == [1] + [0] * (len(scopes) - 1)  # one transcript(id), in the first part only


@pytest.mark.parametrize("admin", [True, False], ids=["admin-key", "member-key"])
def test_a_key_lists_its_owners_meetings_and_per_user_listing_needs_an_admin(workspace, admin):
    """Fireflies: a key reaches its owner's data, and teammates' only from an admin's account.
    Without user_id the listing holds the owner's meetings; list_per_user lists each teammate's
    (deduplicated) when the key is an admin's, and falls back to the owner's otherwise."""
    owner = workspace.people[1].email.lower()
    window = Window(workspace.start, workspace.anchor)
    with Sandbox([FirefliesSimulator(workspace, key_owner=owner, admin=admin)]) as other:
        sim = other.simulator("fireflies")
        sim.now = workspace.anchor + timedelta(days=1)
        everyone = expected_ids(sim, window)
        attended = {
            f"fireflies:{t['id']}"
            for t in sim.data.transcripts
            if owner in {p.lower() for p in [t["organizer_email"], *t["participants"]]} and window.contains(sim.data.meeting_time(t))
        }
        own = {d.id for d in source(other, workspace).fetch(window)}
        assert own == attended and 0 < len(own) < len(everyone)
        per_user = [d.id for d in source(other, workspace, list_per_user=True).fetch(window)]
        assert len(per_user) == len(set(per_user))
        assert set(per_user) == (everyone if admin else attended)


# --- documents ---------------------------------------------------------------------------


def test_privacy_decides_access(sim, every_document):
    docs = {d.id: d for d in every_document}
    kinds = set()
    for t in sim.data.transcripts:
        doc = docs[f"fireflies:{t['id']}"]
        kinds.add(t["privacy"])
        people = {e.lower() for e in t["participants"]} | {t["organizer_email"].lower()}
        if t["privacy"] in ("teammates", "teammatesandparticipants", "link"):
            assert doc.access_type == "all" and doc.access_list == ()
        elif t["privacy"] == "owner":
            assert doc.access_type == "shared" and doc.access_list == (t["organizer_email"],)
        else:
            assert doc.access_type == "shared" and set(doc.access_list) == people
            assert all(e == e.lower() for e in doc.access_list) and len(set(doc.access_list)) == len(doc.access_list)
        assert doc.metadata["access_type"] == doc.access_type and doc.metadata["access_list"] == list(doc.access_list)
    assert kinds >= {"teammates", "participants", "owner", "link"}


def test_document_fields_metadata_and_projects(box, sim, workspace, every_document):
    docs = every_document
    by_id = {d.id: d for d in docs}
    for t in sim.data.transcripts:
        doc = by_id[f"fireflies:{t['id']}"]
        assert doc.projects == sim.data.projects[t["id"]]
        md = doc.metadata
        assert md["source"] == "fireflies" and md["meeting_id"] == t["id"] and md["title"] == t["title"]
        assert md["timestamp_epoch"] == int(t["date"] / 1000) == int(doc.updated_at.timestamp())
        assert md["project_tags"] == list(doc.projects) and md["url"] == t["transcript_url"] == doc.url
        assert md["organizer"] == t["organizer_email"] and md["duration"] == pytest.approx(t["duration"])
        assert set(md["attendee_emails"]) == {e.lower() for e in t["participants"]}
        for value in md.values():
            assert isinstance(value, (str, int, float, bool)) or all(isinstance(v, str) for v in value)
    assert {tag for d in docs for tag in d.projects} == {"SUBS", "BC", "ARCH"}
    untagged = list(source(box).fetch(Window(workspace.anchor - timedelta(hours=12), workspace.anchor)))
    assert untagged and all(d.projects == () for d in untagged)  # no project option: no tags
    again = source(box, workspace).fetch(Window(workspace.start, workspace.anchor))
    assert [d.content_hash() for d in docs] == [d.content_hash() for d in again]  # a re-run changes nothing


def test_speaker_turns_become_segments_with_start_times(box, sim, workspace):
    summarized = [t for t in sim.data.transcripts if t["summary"] and t["summary"]["overview"]]
    long = max(summarized, key=lambda t: len(t["sentences"]))
    when = sim.data.meeting_time(long)
    doc = next(d for d in source(box, workspace).fetch(Window(when, when + timedelta(seconds=1))))
    header, turns = doc.segments[0], doc.segments[1:]
    assert header.text.startswith(long["title"]) and header.metadata == {}
    assert f"Date: {when:%Y-%m-%d %H:%M} UTC" in header.text and "Duration: 90 min" in header.text
    assert "Summary:\n" + long["summary"]["overview"] in header.text
    assert all(f"- {line}" in header.text for line in long["summary"]["action_items"].splitlines())
    names = [s["speaker_name"] for s in long["sentences"]]
    runs = [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]
    assert [s.metadata["speaker"] for s in turns] == runs
    starts = [s.metadata["start_time"] for s in turns]
    assert starts == sorted(starts) and starts[0] == 0 and isinstance(starts[1], float)
    for segment in turns[:50]:
        name, at = segment.metadata["speaker"], segment.metadata["start_time"]
        minutes, seconds = divmod(int(at), 60)
        clock = f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}" if at >= 3600 else f"{minutes:02d}:{seconds:02d}"
        assert segment.text.startswith(f"{name} [{clock}]: ")
    assert re.match(r"^.+ \[1:\d\d:\d\d\]: ", turns[-1].text)  # past the first hour
    words = sum(len(s["text"].split()) for s in long["sentences"])
    assert sum(len(t.text.split(": ", 1)[1].split()) for t in turns) == words  # every sentence, once
    assert doc.text == "\n\n".join(s.text for s in doc.segments)


def test_tolerates_list_action_items_string_keywords_and_string_times():
    raw = {
        "id": "abc",
        "title": "BC sync",
        "date": 1_763_600_000_000,
        "duration": "30.5",
        "privacy": None,
        "organizer_email": "Dana.Reyes@example.com",
        "participants": ["luis.ortega@example.com"],
        "meeting_attendees": [{"displayName": "Luis Ortega", "email": "Luis.Ortega@example.com"}],
        "speakers": [{"id": 1, "name": "Luis Ortega"}],
        "sentences": [
            {"index": 1, "speaker_id": "1", "speaker_name": None, "text": "Second.", "start_time": "4.5"},
            {"index": 0, "speaker_id": "1", "speaker_name": None, "text": "First.", "start_time": "0.5"},
            {"index": 2, "speaker_name": "Dana Reyes", "text": "  ", "start_time": 9},
        ],
        "summary": {
            "overview": ["Line one.", "Line two."],
            "action_items": ["**Dana Reyes**", "- send notes"],
            "keywords": "Subscriptions, exports",
        },
    }
    doc = to_document(raw, ProjectTagger(names={"SUBS": "Subscriptions", "BC": None}))
    assert doc.projects == ("BC", "SUBS")
    assert doc.access_type == "shared" and doc.access_list == ("dana.reyes@example.com", "luis.ortega@example.com")
    assert [s.text for s in doc.segments[1:]] == ["Luis Ortega [00:00]: First. Second."]
    assert doc.segments[1].metadata == {"start_time": 0.5, "speaker": "Luis Ortega"}
    assert "Action items:\nDana Reyes:\n- send notes" in doc.text and "Keywords: Subscriptions, exports" in doc.text
    assert doc.metadata["duration"] == 30.5
    broken = [
        ({"id": "x"}, "malformed transcript"),
        ({**raw, "date": "soon"}, "malformed transcript"),
        ({**raw, "sentences": [], "summary": None}, "empty transcript"),
        ("nope", "malformed transcript"),
    ]
    for item, reason in broken:
        stats = FetchStats()
        assert to_document(item, ProjectTagger(), stats) is None
        assert stats.skipped == {reason: 1}


def test_malformed_transcripts_are_skipped_and_counted(workspace):
    private = Workspace(anchor=workspace.anchor)
    simulator = FirefliesSimulator(private, now=private.anchor + timedelta(days=1))
    first, second = simulator.data.transcripts[:2]
    first["sentences"], first["summary"] = [], None
    simulator.data.visible_at[""] = simulator.data.visible_at[second["id"]]
    second["id"] = ""
    with Sandbox([simulator]) as sandbox:
        stats = FetchStats()
        docs = list(source(sandbox, private, stats=stats).fetch(Window(private.start, private.anchor)))
    assert len(docs) == len(simulator.data.transcripts) - 2
    assert stats.skipped == {"empty transcript": 1, "malformed transcript": 1}


# --- GraphQL errors and HTTP retries ----------------------------------------------------


def test_auth_failed_is_fatal_at_once(box, sim, workspace):
    with pytest.raises(CredentialsError, match="fireflies_default") as caught:
        list(source(box, workspace, key="wrong-key").fetch(Window(workspace.start, workspace.anchor)))
    assert "wrong-key" not in str(caught.value)
    assert box.log.count("fireflies") == 1  # no retry storm
    with pytest.raises(FatalError, match="API key"):
        make_client(endpoint(box), "")


def test_too_many_requests_in_http_200_raises_a_retryable_error(box, sim, workspace):
    sim.inject_error("too_many_requests", http_status=200)
    with pytest.raises(FirefliesRateLimited) as caught:
        list(source(box, workspace).fetch(Window(workspace.start, workspace.anchor)))
    assert not isinstance(caught.value, FatalError)  # Airflow's task retry handles it
    assert box.log.count("fireflies") == 1


def test_http_429_with_retry_after_is_retried_by_the_session(box, sim, workspace):
    box.faults.add(Fault(api="fireflies", kind="status", status=429, retry_after_s=1))
    recent = Window(workspace.anchor - timedelta(hours=RECENT_HOURS), workspace.anchor)
    started = time.monotonic()
    docs = list(source(box, workspace).fetch(recent))
    assert time.monotonic() - started >= 0.9 and {d.id for d in docs} == expected_ids(sim, recent)
    assert box.log.status_count("fireflies", 429) == 1


def test_http_429_past_the_retries_raises_rate_limited(box, sim, workspace):
    box.faults.add(Fault(api="fireflies", kind="status", status=429, retry_after_s=1, times=5))
    with pytest.raises(FirefliesRateLimited):
        list(source(box, workspace, retries=1).fetch(Window(workspace.start, workspace.anchor)))
    assert box.log.count("fireflies") == 2


def test_503_is_retried_by_the_session(box, sim, workspace):
    box.faults.add(Fault(api="fireflies", kind="status", status=503, retry_after_s=1))
    recent = Window(workspace.anchor - timedelta(hours=RECENT_HOURS), workspace.anchor)
    docs = list(source(box, workspace).fetch(recent))
    assert {d.id for d in docs} == expected_ids(sim, recent) and box.log.status_count("fireflies", 503) == 1


def test_object_not_found_is_skipped_and_counted(box, sim, workspace):
    window = Window(workspace.start, workspace.anchor)
    newest = f"fireflies:{sim.data.transcripts[-1]['id']}"  # the first one fetched by id
    sim.inject_error("object_not_found", match="transcript(id:")  # deleted after the listing
    stats = FetchStats()
    docs = list(source(box, workspace, stats=stats, fetch_mode="detail").fetch(window))
    assert {d.id for d in docs} == expected_ids(sim, window) - {newest}
    assert stats.skipped == {"transcript not found": 1}
    assert box.log.count("fireflies") == 1 + len(sim.data.transcripts)
    with pytest.raises(FirefliesNotFound):  # the simulator's own answer for an unknown id
        source(box).client.query(ONE_QUERY, {"id": "no-such-id"})


def test_invalid_arguments_and_invalid_queries_are_fatal(box, sim):
    client = source(box).client
    with pytest.raises(FirefliesQueryError, match="invalid_arguments") as caught:
        client.query(LIST_QUERY, {"limit": 51, "skip": 0})
    assert isinstance(caught.value, FatalError)
    with pytest.raises(FirefliesQueryError, match='Cannot query field "nonsense"'):
        client.query("{ transcripts { id nonsense } }")
    assert box.log.count("fireflies") == 2  # 400s are not retried


# --- the Airflow hook -------------------------------------------------------------------


def test_hook_builds_the_client_from_an_env_connection(box, sim, workspace, monkeypatch):
    from vector_sync.hooks.fireflies import FirefliesHook

    conn = {
        "conn_type": "fireflies",
        "host": endpoint(box),
        "password": FirefliesSimulator.token,
        "extra": {"timeout_s": 30, "total_retries": 2},
    }
    monkeypatch.setenv("AIRFLOW_CONN_FIREFLIES_DEFAULT", json.dumps(conn))
    hook = FirefliesHook()
    assert hook.client is hook.client and hook.client.endpoint == endpoint(box)
    assert hook.client.session.get_adapter(endpoint(box)).max_retries.total == 2
    recent = Window(workspace.anchor - timedelta(hours=RECENT_HOURS), workspace.anchor)
    docs = list(FirefliesSource(hook.client, source_settings("fireflies")).fetch(recent))
    assert {d.id for d in docs} == expected_ids(sim, recent) and docs
    monkeypatch.setenv("AIRFLOW_CONN_FIREFLIES_DEFAULT", json.dumps({"conn_type": "fireflies"}))
    with pytest.raises(FatalError, match="API key"):
        FirefliesHook().get_conn()
    assert FirefliesHook.default_conn_name == source_settings("fireflies").conn_id
