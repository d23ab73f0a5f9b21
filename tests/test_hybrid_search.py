"""Keyword and hybrid search end to end on a real LanceDB (no mocks): what people ask for is
found first, work content is ranked the way it is looked for, and the filters and the access
rule let exactly the same documents through in every mode."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from tests.sourcekit import Backends, sandbox_settings
from vector_sync.chunking import chunk_document
from vector_sync.embedders.hashing import HashingEmbedder
from vector_sync.models import SEARCH_MODES, Document, SearchFilter, VectorRecord, Window
from vector_sync.search import search
from vector_sync.stores.lancedb import LanceDBStore

UPDATED = datetime(2026, 11, 2, tzinfo=timezone.utc)
CODE_NAME = "Bluefinch"


def doc(id: str, title: str, text: str, **kwargs) -> Document:
    return Document(id=id, source=id.split(":")[0], title=title, text=text, url=f"https://example.com/{id}", updated_at=UPDATED, **kwargs)


def index(store: LanceDBStore, embedder: HashingEmbedder, docs: list[Document]) -> None:
    """Chunk (the pipeline's defaults: 512 tokens, 64 overlap), embed and upsert."""
    chunks = [c for d in docs for c in chunk_document(d)]
    vectors = embedder.embed([c.text for c in chunks])
    store.upsert([VectorRecord(c.id, c.document_id, v, c.text, c.metadata) for c, v in zip(chunks, vectors)])


def document_ids(hits) -> list[str]:
    return [h.metadata["document_id"] for h in hits]


def runbook() -> Document:
    """Issue #17's page: 140 near-identical steps, the code name two toggles deep in one."""
    lines = ["On-call runbook for the Subscriptions service."]
    for n in range(1, 141):
        lines.append(f"Step {n} of the runbook: check the service dashboard and the runbook alerts.")
        if n == 97:
            lines += ["▸ Escalation", "    ▸ Break-glass access", f"        Ask for the {CODE_NAME} credentials in the vault."]
    return doc("notion:runbook", "Runbook", "\n".join(lines))


@pytest.fixture()
def workspace_index(tmp_path):
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    index(
        store,
        embedder,
        [
            runbook(),
            doc("jira:SUBS-1", "SUBS-1: Runbook alerts are noisy", "The runbook alerts fire on every deploy; check the dashboard."),
            doc("slack:C1:1", "#ops: dashboard is red", "The service dashboard is red again, check step 4 of the runbook."),
            doc("fireflies:m1", "Weekly ops review", "We reviewed the runbook and the on-call rota."),
        ],
    )
    return embedder, store


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_a_rare_word_in_a_long_repetitive_page_is_found_first(workspace_index, mode):
    embedder, store = workspace_index
    chunks = [c for c in chunk_document(runbook()) if CODE_NAME in c.text]
    assert len(chunk_document(runbook())) > 3 and len(chunks) == 1  # one chunk of many holds it

    hits = search(CODE_NAME.lower(), embedder, store, top_k=5, mode=mode)
    assert hits[0].id == chunks[0].id  # the page, by the chunk that holds the word (its snippet)
    assert document_ids(hits).count("notion:runbook") == 1


def test_the_rare_word_query_survives_what_people_type_around_it(workspace_index):
    embedder, store = workspace_index
    pasted = f"{CODE_NAME} " + "lorem ipsum dolor sit amet " * 4_000  # 100,000 characters
    for query in [f'"{CODE_NAME}"', f"where are the {CODE_NAME} credentials?", f"title:{CODE_NAME} AND (", "ＢＬＵＥＦＩＮＣＨ", pasted]:
        hits = search(query, embedder, store, top_k=3)  # the default mode: hybrid
        assert hits[0].metadata["document_id"] == "notion:runbook", query[:80]


@pytest.fixture()
def demo(sandbox, monkeypatch, tmp_path, workspace):
    """The demo's Jira issues and Tempo worklogs, synced from the sandbox by the pipeline."""
    kit = Backends(tmp_path, sandbox_settings(monkeypatch, sandbox))
    window = Window(workspace.start - timedelta(hours=1), workspace.anchor)
    for name in ("jira", "tempo"):
        kit.run(name, window)
    return kit


@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_the_demo_query_puts_the_issue_before_worklogs_quoting_it(demo, mode):
    query = "invoice PDF export times out"
    hits = search(query, demo.embedder, demo.store, SearchFilter(projects=("BC",)), top_k=20, mode=mode)
    # The sample's issue is "BC-n: Invoice PDF export times out for enterprise accounts".
    assert hits[0].source == "jira" and query.lower() in hits[0].title.lower(), [h.title for h in hits]
    quoting = [h for h in hits if h.source == "tempo" and query.lower() in h.text.lower()]
    assert quoting, ("worklogs quoting the issue's title are found too, after it", [(h.title, h.score) for h in hits])
    assert hits[0].score > max(h.score for h in quoting)


@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_a_primary_artifact_comes_before_a_secondary_mention_that_matches_equally(tmp_path, mode):
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    body = "The invoice PDF export times out for accounts with many invoices."
    # The same words in title and body (the message's channel is #bc-7); the message is indexed
    # first and its id sorts first: neither order nor id decides.
    index(store, embedder, [doc("slack:C1:2", "#bc-7: Invoice PDF export times out", body)])
    index(store, embedder, [doc("tempo:9", "Worklog: Dana Reyes on BC-7 (2026-11-02)", f"Dana Reyes logged 1h on BC-7 {body}")])
    index(store, embedder, [doc("jira:BC-7", "BC-7: Invoice PDF export times out", body)])
    hits = search("invoice PDF export times out", embedder, store, top_k=3, mode=mode)
    assert document_ids(hits)[:2] == ["jira:BC-7", "slack:C1:2"]


@pytest.mark.parametrize("mode", SEARCH_MODES)
@pytest.mark.parametrize("query", ["BC-7", "what's the status of bc-7?", "Invoice PDF export times out"])
def test_a_document_named_by_its_key_or_whole_title_comes_first(tmp_path, mode, query):
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    issue = "BC-7: Invoice PDF export times out"
    # Short worklogs quote the key and the title in a few words, which BM25 and a mean vector
    # favour over the issue's long description; BC-70 and BC-7x are other documents.
    long_body = "Steps to reproduce: open the billing console, pick an account, export. " * 30
    index(
        store,
        embedder,
        [doc(f"tempo:{n}", f"Worklog: Dana Reyes on BC-7 (2026-11-0{n})", f"Dana logged 1h on {issue}") for n in range(1, 6)],
    )
    index(store, embedder, [doc("jira:BC-70", "BC-70: Invoice PDF export styling", "BC-7 follow-up."), doc("jira:BC-7", issue, long_body)])
    hits = search(query, embedder, store, top_k=5, mode=mode)
    assert document_ids(hits)[0] == "jira:BC-7", [(h.title, h.score) for h in hits]


# Not "keyword" alone: BM25 scores the short worklog at twice the meeting, past the hint (half
# the best relevance); the hint is for documents that match about as well.
@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_a_question_naming_a_kind_of_document_prefers_that_kind(tmp_path, mode):
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    index(
        store,
        embedder,
        [
            doc("tempo:1", "Worklog: Kofi Novak on SUBS-2", "Kofi Novak logged 2h on SUBS-2: renewal emails."),
            doc("fireflies:m1", "SUBS weekly sync", "Organizer: Kofi Novak. Agenda: hiring, pricing, renewal emails."),
            # Weaker matches, as a workspace has many: min-max fusion scores the weakest 0.
            doc("slack:C1:1", "#random: out on Friday", "Kofi is out on Friday."),
            doc("jira:SUBS-9", "SUBS-9: Dark mode for the invoice table", "Dark mode, as asked in the emails."),
        ],
    )
    assert document_ids(search("Kofi Novak renewal emails", embedder, store, top_k=2, mode=mode))[0] == "tempo:1"
    assert document_ids(search("meetings Kofi Novak on renewal emails", embedder, store, top_k=2, mode=mode))[0] == "fireflies:m1"


@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_a_person_named_in_full_lifts_the_documents_they_own_of_the_kind_asked(tmp_path, mode):
    """ "tickets assigned to Bruno Moreau": his assigned issue first, before the one he only
    reported and his worklogs (he is their author, but they are not tickets); a meeting's
    organiser is read from its email."""
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    index(
        store,
        embedder,
        [
            doc("jira:SUBS-5", "SUBS-5: Renewal emails in the EU", "Assignee: Aiko Sato. Reporter: Bruno Moreau. Renewal emails.",
                metadata={"assignee": "Aiko Sato", "reporter": "Bruno Moreau"}),
            doc("jira:SUBS-4", "SUBS-4: Renewal emails", "Assignee: Bruno Moreau. Reporter: Aiko Sato. Renewal emails.",
                metadata={"assignee": "Bruno Moreau", "reporter": "Aiko Sato"}),
            doc("tempo:7", "Worklog: Bruno Moreau on SUBS-5", "Bruno Moreau logged 2h on SUBS-5: renewal emails.",
                metadata={"author": "Bruno Moreau"}),
            doc("fireflies:m1", "Renewals sync", "Bruno Moreau and Kofi Novak on renewal emails.", metadata={"organizer": "mei.kaya@example.com"}),
            doc("fireflies:m2", "Renewals follow-up", "Kofi Novak and Bruno Moreau on renewal emails.", metadata={"organizer": "kofi.novak@example.com"}),
        ],
    )  # fmt: skip
    ids = document_ids(search("tickets assigned to Bruno Moreau", embedder, store, top_k=5, mode=mode))
    assert ids[0] == "jira:SUBS-4" and ids.index("jira:SUBS-4") < ids.index("jira:SUBS-5")
    assert document_ids(search("meetings Kofi Novak organised", embedder, store, top_k=2, mode=mode))[0] == "fireflies:m2"


@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_a_sentence_quoted_word_for_word_finds_its_page_first(tmp_path, mode):
    """A rule or an error string pasted whole names the document that says it, ahead of
    messages sharing most of its words."""
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    policy = (
        "Billing calendar.\n"
        + "Payment runs and reminders follow the schedule below. " * 12
        + "Invoices close at 18:00 UTC on the last day."
    )
    index(
        store,
        embedder,
        [
            doc("notion:p1", "Billing handbook", policy),
            doc("slack:C1:1", "#bc-billing: invoice export", "Invoice export runs at 03:00 UTC, invoices close soon."),
            doc("slack:C1:2", "#bc-billing: close", "Invoices close today at UTC midnight?"),
        ],
    )
    assert document_ids(search("Invoices close at 18:00 UTC", embedder, store, top_k=3, mode=mode))[0] == "notion:p1"


def test_a_quote_needs_three_words_in_order():
    from vector_sync.search import quotes

    assert quotes("Invoices close at 18:00 UTC", "... and invoices  close at 18:00 (UTC) daily")
    assert not quotes("invoice export", "the invoice export page")  # two words: a topic, not a quote
    assert not quotes("close at invoices", "invoices close at 18:00")


def test_only_a_full_name_counts_as_naming_the_actor():
    from vector_sync.models import Hit
    from vector_sync.search import actor_named

    def hit(**md):
        return Hit(id="jira:X-1#0", score=1.0, source="jira", title="X-1", text="", url="", metadata=md)

    assert actor_named("tickets assigned to bruno moreau", hit(assignee="Bruno Moreau"))
    assert not actor_named("tickets assigned to bruno", hit(assignee="Bruno Moreau"))
    assert not actor_named("tickets assigned to bruno moreaux", hit(assignee="Bruno Moreau"))
    assert actor_named("meetings kofi novak organised", hit(organizer="Kofi.Novak@example.com"))
    assert not actor_named("meetings kofi novak organised", hit(reporter="Kofi Novak"))  # not the actor


@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_a_channel_named_lifts_what_was_said_there(tmp_path, mode):
    """ "#bc-billing" asks for the channel's messages, not the Jira BC issues about billing
    whose titles hold more of its words."""
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    channel = {"channel_name": "bc-billing", "channel_id": "C1"}
    index(
        store,
        embedder,
        [
            doc("jira:BC-1", "BC-1: BC billing export", "BC billing export of the BC billing run.", projects=("BC",)),
            doc("jira:BC-2", "BC-2: Billing retries for BC", "Billing retries; BC billing.", projects=("BC",)),
            doc("slack:C1:1", "#bc-billing: who owns dunning now?", "who owns dunning now?", metadata=channel),
            doc("slack:C2:1", "#random: bc billing lunch", "bc billing lunch at noon", metadata={"channel_name": "random"}),
        ],
    )
    for asked in ("#bc-billing", "the bc-billing channel", "what was said in channel bc-billing"):
        assert document_ids(search(asked, embedder, store, top_k=4, mode=mode))[0] == "slack:C1:1", asked


def test_a_channel_counts_as_named_with_its_hash_or_beside_the_word_channel():
    from vector_sync.models import Hit
    from vector_sync.search import channel_named

    hit = Hit(id="slack:C1:1#0", score=1.0, source="slack", title="#random: hi", text="hi", url="", metadata={"channel_name": "random"})
    assert channel_named("anything in #random?", hit)
    assert channel_named("the random channel", hit)
    assert channel_named("Channel random today", hit)
    assert not channel_named("a random question", hit)  # a bare word is not the channel
    assert not channel_named("#random-ideas", hit)  # another channel
    assert not channel_named("#random", Hit(id="jira:X-1#0", score=1.0, source="jira", title="X-1", text="", url="", metadata={}))


# Hybrid, the default: dense or keyword alone score the long transcript far below 60 worklogs
# that say the name in five words, past what the kind hint adds.
@pytest.mark.parametrize("mode", ["hybrid"])
def test_a_named_kind_is_found_past_a_flood_of_other_matches_and_the_access_rule_holds(tmp_path, mode):
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    # 60 short worklogs name Kofi Novak and fill every candidate slot of a 10-hit search.
    index(store, embedder, [doc(f"tempo:{n}", f"Worklog: Kofi Novak on SUBS-{n}", f"Kofi Novak logged 1h on SUBS-{n}.") for n in range(60)])
    transcript = "Organizer: Kofi Novak. " + "We went through the renewal pricing and the rollout dates. " * 20
    index(store, embedder, [doc("fireflies:m1", "SUBS pricing review", transcript)])
    index(store, embedder, [doc("fireflies:m2", "SUBS hiring", transcript, access_type="private", access_list=("amy@example.com",))])
    hits = document_ids(search("meetings Kofi Novak organised", embedder, store, top_k=10, mode=mode))
    # Without the kind's own candidates the meeting would not be among the 10 at all.
    assert "fireflies:m1" in hits and "fireflies:m2" not in hits  # public only: no user
    amy = document_ids(search("meetings Kofi Novak organised", embedder, store, SearchFilter(user="amy@example.com"), top_k=10, mode=mode))
    assert {"fireflies:m1", "fireflies:m2"} <= set(amy)
    # A filter that excludes the kind still does: the question never widens it.
    only_tempo = search("meetings Kofi Novak organised", embedder, store, SearchFilter(sources=("tempo",)), top_k=10, mode=mode)
    assert {h.source for h in only_tempo} == {"tempo"}


@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_a_time_phrase_in_the_question_filters_inside_the_store_and_never_widens_the_filter(tmp_path, mode):
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    friday = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)

    def worklog(n: int, days_ago: int, **kwargs) -> Document:
        stamp = int((friday - timedelta(days=days_ago)).timestamp())
        return doc(f"tempo:{n}", f"Worklog {n}: Dana Reyes", "Dana Reyes logged 1h on SUBS.", metadata={"timestamp_epoch": stamp}, **kwargs)

    # 1: yesterday; 2: three days ago (Tuesday, this week); 3: last week; 4: yesterday, private.
    index(
        store,
        embedder,
        [worklog(1, 1), worklog(2, 3), worklog(3, 8), worklog(4, 1, access_type="private", access_list=("amy@example.com",))],
    )
    found = lambda query, flt=None: sorted(document_ids(search(query, embedder, store, flt, top_k=10, mode=mode, now=friday)))  # noqa: E731
    assert found("what did Dana Reyes log yesterday") == ["tempo:1"]  # public only: the access rule holds
    assert found("what did Dana Reyes log yesterday", SearchFilter(user="amy@example.com")) == ["tempo:1", "tempo:4"]
    assert found("Dana Reyes this week") == ["tempo:1", "tempo:2"]
    assert found("Dana Reyes last week") == ["tempo:3"]
    assert found("Dana Reyes this week", SearchFilter(since=friday - timedelta(days=2))) == ["tempo:1"]
    assert found("Dana Reyes last week", SearchFilter(since=friday - timedelta(days=2))) == []


def _permission_sample() -> list[Document]:
    """Every document holds the query word, so each mode's permitted set is all it may see."""
    day = timedelta(days=1)

    def item(id: str, when: int, **kwargs) -> Document:
        return Document(
            id=id,
            source=id.split(":")[0],
            title=f"Rollout note {id}",
            text=f"The rollout of {id} went fine.",
            url=f"https://example.com/{id}",
            updated_at=UPDATED,
            metadata={"timestamp_epoch": int((UPDATED + when * day).timestamp())},
            **kwargs,
        )

    return [
        item("jira:SUBS-1", 0, projects=("SUBS",)),
        item("jira:BC-1", 1, projects=("BC",)),
        item("notion:p1", 2, projects=("SUBS", "BC")),
        item("slack:C1:1", 3, projects=("SUBS",)),
        item("slack:G9:1", 4, projects=("SUBS",), access_type="private", access_list=("amy@example.com",)),
        item("fireflies:m1", 5, access_type="shared", access_list=("bob@example.com", "amy@example.com")),
        item("fireflies:m2", 6, access_type="shared", access_list=("carol@example.com",)),
    ]


FILTERS = [
    SearchFilter(),
    SearchFilter(user="amy@example.com"),
    SearchFilter(user="Bob@Example.com", sources=("fireflies", "jira")),
    SearchFilter(user="outsider@example.com"),
    SearchFilter(all_access=True),
    SearchFilter(all_access=True, projects=("SUBS",)),
    SearchFilter(user="amy@example.com", projects=("SUBS",), sources=("slack",)),
    SearchFilter(all_access=True, since=UPDATED + timedelta(days=2), until=UPDATED + timedelta(days=5)),
]


def _permitted(d: Document, flt: SearchFilter) -> bool:
    """Ground truth, from the documents and SearchFilter's documented rule."""
    stamp = datetime.fromtimestamp(d.metadata["timestamp_epoch"], timezone.utc)
    visible = flt.all_access or d.access_type == "all" or (flt.user is not None and flt.user in d.access_list)
    return (
        visible
        and (not flt.sources or d.source in flt.sources)
        and (not flt.projects or bool(set(d.projects) & set(flt.projects)))
        and (flt.since is None or stamp >= flt.since)
        and (flt.until is None or stamp < flt.until)
    )


@pytest.mark.parametrize("flt", FILTERS, ids=range(len(FILTERS)))
def test_filters_and_access_let_the_same_documents_through_in_every_mode(tmp_path, flt):
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    sample = _permission_sample()
    index(store, embedder, sample)
    expected = {d.id for d in sample if _permitted(d, flt)}
    for mode in SEARCH_MODES:
        assert set(document_ids(search("rollout", embedder, store, flt, top_k=50, mode=mode))) == expected, mode


def test_no_private_chunk_leaks_through_the_keyword_leg(tmp_path):
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    index(
        store,
        embedder,
        [
            doc(
                "slack:G9:1",
                "#exec: Zanzibar acquisition",
                "Zanzibar acquisition terms.",
                access_type="private",
                access_list=("amy@example.com",),
            ),
            doc("jira:SUBS-2", "SUBS-2: Checkout copy", "Update the checkout copy."),
        ],
    )
    for mode in SEARCH_MODES:
        for flt in (None, SearchFilter(user="outsider@example.com"), SearchFilter(sources=("slack",))):
            assert "slack:G9:1" not in document_ids(search("zanzibar acquisition", embedder, store, flt, mode=mode)), mode
        assert document_ids(search("zanzibar", embedder, store, SearchFilter(user="amy@example.com"), mode=mode))[0] == "slack:G9:1"


class DenseOnlyStore(LanceDBStore):
    """A store that serves dense search only, as PineconeStore did before sparse vectors."""

    modes = ("dense",)


def test_hybrid_falls_back_to_dense_on_a_store_without_it(tmp_path, caplog):
    embedder = HashingEmbedder()
    full, dense_only = LanceDBStore(str(tmp_path / "db")), DenseOnlyStore(str(tmp_path / "db"))
    index(full, embedder, [runbook(), doc("jira:SUBS-1", "SUBS-1: Runbook alerts", "Runbook alerts are noisy.")])
    with caplog.at_level(logging.INFO, logger="vector_sync.search"):
        hits = search("runbook alerts", embedder, dense_only)
    assert "does not serve hybrid search" in caplog.text
    assert [(h.id, h.score) for h in hits] == [(h.id, h.score) for h in search("runbook alerts", embedder, full, mode="dense")]
    with pytest.raises(ValueError, match="not keyword"):
        search("runbook alerts", embedder, dense_only, mode="keyword")


@pytest.mark.parametrize("query", ["?!", "***", '" "', "— … ☃", "\x00\x01"])
def test_a_query_without_words_is_refused_by_keyword_and_served_densely_by_hybrid(workspace_index, query):
    embedder, store = workspace_index
    with pytest.raises(ValueError, match="no words to match by keyword"):
        search(query, embedder, store, mode="keyword")
    assert search(query, embedder, store, mode="hybrid")  # ranked by vector alone


@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_a_file_shared_in_a_message_names_it_like_a_title(tmp_path, mode):
    """ "The spreadsheet with the migration plan someone posted" asks for the message that shared
    migration-plan.xlsx, though its own words are about something else, before messages that
    say "migration" and "plan" in passing. The file's labels come from the Slack source."""
    from vector_sync.sources.slack_messages import to_document

    def message(ts: str, text: str, **extra) -> Document:
        return to_document(
            {"id": "C1", "name": "arch"},
            [{"ts": ts, "user": "U1", "text": text, **extra}],
            UPDATED,
            ("all", ()),
            (),
            "example.slack.com",
            lambda _: "Sara Holm",
            lambda _: None,
        )

    xlsx = {"id": "F1", "name": "migration-plan.xlsx", "title": "Migration plan", "pretty_type": "Excel Spreadsheet"}
    shared = message("1.000001", "Can someone look at tax rounding?", files=[xlsx])
    assert shared.metadata["files"] == ["migration-plan.xlsx, Migration plan, Excel Spreadsheet"]
    assert "files" not in message("1.000002", "no files here").metadata  # unchanged hash for the rest
    odd = message("1.000003", "odd files", files=[None, 7, {}, {"name": ""}, {"name": "x" * 100_000, "title": 5}])
    assert [len(label) for label in odd.metadata["files"]] == [200]  # metadata stays small; the text keeps it whole
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    others = [
        message(f"2.00000{n}", f"Notes on the data migration {word}: the plan is in review.")
        for n, word in enumerate(("rollout", "cutover", "rehearsal"))
    ]
    index(store, embedder, [shared, *others])
    hits = document_ids(search("the spreadsheet with the migration plan someone posted", embedder, store, top_k=4, mode=mode))
    assert hits[0] == shared.id, hits


@pytest.mark.parametrize("mode", SEARCH_MODES)
def test_the_worklogs_of_the_issue_asked_about_come_before_worklogs_that_only_share_words(tmp_path, mode):
    """ "The Jira ticket and the time spent on the JPY rounding bug": the issue first, then its
    own worklogs (Tempo's ``issue_key``), whatever their descriptions say, before worklogs on
    other issues that mention the bug in passing. Without a kind of document asked for,
    nothing is lifted by its issue."""
    from datetime import date

    from vector_sync.sources.jira_names import IssueInfo
    from vector_sync.sources.tempo import Worklog, to_document

    def worklog(n: int, issue: IssueInfo, description: str) -> Document:
        work = Worklog(str(n), n, f"acct-{n}", 3600, None, date(2026, 11, 2), description, UPDATED)
        return to_document(work, issue, "Dana Reyes", "https://example.atlassian.net")

    jpy = IssueInfo("SUBS-31", "Currency rounding on JPY renewals", "SUBS")
    seats = IssueInfo("SUBS-40", "Seat-based pricing for team plans", "SUBS")
    own = [worklog(1, jpy, "Code review"), worklog(2, jpy, "Pairing session")]
    mentions = [worklog(n, seats, f"Time spent answering a question about the JPY rounding bug, part {n}") for n in (3, 4, 5)]
    issue = doc("jira:SUBS-31", "SUBS-31: Currency rounding on JPY renewals", "JPY renewals round the yen amount wrong: a rounding bug.")
    embedder, store = HashingEmbedder(), LanceDBStore(str(tmp_path / "db"))
    index(store, embedder, [issue, *own, *mentions])
    hits = document_ids(search("the Jira ticket and the time spent on the JPY rounding bug", embedder, store, top_k=6, mode=mode))
    assert hits[0] == "jira:SUBS-31" and set(hits[1:3]) == {"tempo:1", "tempo:2"}, hits
    # The same words without asking for worklogs ("time spent"): the mentions keep their place.
    plain = document_ids(search("the JPY rounding bug", embedder, store, top_k=6, mode=mode))
    assert max(plain.index("tempo:3"), plain.index("tempo:4")) < min(plain.index("tempo:1"), plain.index("tempo:2")), plain
