"""The Jira connector against the Jira simulator, through the real ``jira`` library."""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import timedelta

import pytest
from jira import JIRA

from sandbox.jira import SLOT, JiraSimulator, malformed_issue
from sandbox.server import Fault, Sandbox
from vector_sync.errors import CredentialsError, FatalError
from vector_sync.models import Window
from vector_sync.paging import PagingLoopError, follow_offsets, follow_tokens
from vector_sync.sources.jira import JiraSource, _to_document, make_client
from vector_sync.specs import source_settings

EMAIL = "dana.reyes@example.com"
TOKEN = "sandbox-token"
# "Name (YYYY-MM-DD HH:MM): " opens every rendered comment.
COMMENT_LINE = re.compile(r"^[A-Z][a-z]+ [A-Z][a-z]+ \(\d{4}-\d\d-\d\d \d\d:\d\d\): ", re.MULTILINE)


@pytest.fixture()
def jira_url(sandbox) -> str:
    return sandbox.base_url("jira")


@pytest.fixture()
def source(jira_url) -> JiraSource:
    return JiraSource(make_client(jira_url, EMAIL, TOKEN), source_settings("jira"))


@pytest.fixture()
def data(workspace):
    return workspace.data("jira")


def everything(workspace) -> Window:
    return Window(workspace.start - timedelta(days=1), workspace.anchor)


def ids(issues) -> set[str]:
    return {f"jira:{issue.key}" for issue in issues}


def by_id(documents) -> dict:
    return {doc.id: doc for doc in documents}


# --- windows and paging -----------------------------------------------------------------------


def test_fetches_every_issue_across_search_pages(source, sandbox, workspace, data):
    documents = list(source.fetch(everything(workspace)))

    assert len(data.issues) > 100
    assert [d.updated_at for d in documents] == sorted(d.updated_at for d in documents)  # ORDER BY updated
    assert set(by_id(documents)) == ids(data.issues)
    assert len(documents) == len(data.issues)  # each issue once
    assert sandbox.log.count(api="jira", path="search/jql") >= 2
    assert source.stats.skipped_total == 0


def test_window_is_half_open_at_the_boundary_issue(source, workspace, data):
    slot_ms = int(SLOT.total_seconds() * 1000)
    boundary = next(issue for issue in data.issues if issue.updated_ms % slot_ms == 0)
    before = Window(boundary.updated - SLOT, boundary.updated)
    after = Window(boundary.updated, boundary.updated + SLOT)

    first = set(by_id(source.fetch(before)))
    second = set(by_id(source.fetch(after)))

    assert f"jira:{boundary.key}" not in first
    assert f"jira:{boundary.key}" in second
    assert first == ids(data.updated_between(before.start, before.end))
    assert second == ids(data.updated_between(after.start, after.end))
    assert first and not first & second


def test_consecutive_windows_cover_everything_once(source, workspace, data):
    seen: list[str] = []
    start = workspace.anchor - timedelta(hours=6)
    while start < workspace.anchor:
        seen += [d.id for d in source.fetch(Window(start, start + SLOT))]
        start += SLOT
    recent = data.updated_between(workspace.anchor - timedelta(hours=6), workspace.anchor)
    assert sorted(seen) == sorted(ids(recent))


def test_all_comments_of_a_long_thread_are_paged_in(source, sandbox, workspace, data):
    thread = data.long_thread()
    assert len(thread.comments) == 130
    window = Window(thread.updated, thread.updated + timedelta(milliseconds=1))

    (document,) = [d for d in source.fetch(window) if d.id == f"jira:{thread.key}"]

    assert len(COMMENT_LINE.findall(document.text)) == 130
    assert sandbox.log.count(api="jira", path=f"issue/{thread.key}/comment") == 2  # pages of 100
    last = thread.comments[-1]
    assert f"{last['author']['displayName']} ({last['created'][:10]} {last['created'][11:16]}): " in document.text


def test_issue_document_text_url_and_metadata(source, jira_url, workspace, data):
    documents = by_id(source.fetch(everything(workspace)))
    issue = next(i for i in data.issues if i.fields["assignee"] is None and i.fields["labels"])
    document = documents[f"jira:{issue.key}"]
    fields = issue.fields

    assert document.title == f"{issue.key}: {fields['summary']}"
    assert document.url == f"{jira_url}/browse/{issue.key}"
    assert document.projects == (issue.project,)
    assert document.updated_at == issue.updated
    assert f"Status: {fields['status']['name']}" in document.text
    assert f"Labels: {', '.join(fields['labels'])}" in document.text
    assert "Assignee: Unassigned" in document.text
    assert document.metadata == {
        "source": "jira",
        "issue_key": issue.key,
        "project_key": issue.project,
        "status": fields["status"]["name"],
        "assignee": "Unassigned",
        "timestamp_epoch": issue.updated_ms // 1000,
        "access_type": "all",
        "title": document.title,
        "url": document.url,
        "updated": issue.updated.isoformat(),
        "issue_type": fields["issuetype"]["name"],
        "priority": fields["priority"]["name"],
        "reporter": fields["reporter"]["displayName"],
    }
    for doc in documents.values():
        assert all(isinstance(v, (str, int)) and v is not None for v in doc.metadata.values())


def test_adf_is_rendered_readably(source, workspace, data):
    def has(node, kind):
        return f'"type": "{kind}"' in json.dumps(node)

    issue = next(i for i in data.issues if all(has(i.fields["description"], k) for k in ("mention", "codeBlock", "link")))
    description = issue.fields["description"]
    mention = re.search(r'"text": "@([^"]+)"', json.dumps(description)).group(1)
    href = re.search(r'"href": "([^"]+)"', json.dumps(description)).group(1)
    language = re.search(r'"language": "([^"]+)"', json.dumps(description)).group(1)

    document = by_id(source.fetch(everything(workspace)))[f"jira:{issue.key}"]

    assert f"@{mention}" in document.text and "@@" not in document.text
    assert f"design notes ({href})" in document.text
    assert f"```{language}\n" in document.text
    assert '"type"' not in document.text


def test_live_ids_lists_every_issue_in_one_big_page(source, sandbox, data):
    # fields=key exactly: the spec's 5,000 per page hold only for id/key (the library's rewrite
    # to `issuekey` gets pages of 100 from the simulator).
    assert len(data.issues) > 100
    assert set(source.live_ids()) == ids(data.issues)
    assert sandbox.log.count(api="jira", path="search/jql") == 1


def test_next_page_token_is_followed_whatever_is_last_says(workspace, data):
    """The spec: the token "is not included in the response for the last page". A page that says
    isLast while handing a token is followed: the token is what marks a next page."""
    with Sandbox([JiraSimulator(workspace, is_last_early=True)]) as box:
        source = JiraSource(make_client(box.base_url("jira"), EMAIL, TOKEN), source_settings("jira"))
        documents = list(source.fetch(everything(workspace)))
        assert box.log.count(api="jira", path="search/jql") >= 2
    assert set(by_id(documents)) == ids(data.issues)


def test_search_bodies_hold_to_the_spec(source, workspace, data):
    """POST search/jql bodies carry no nulls (the simulator validates them against the spec's
    SearchAndReconcileRequestBean, as the jira library's own posts would fail there)."""
    from vector_sync.sources.jira import search_issues

    posted = list(search_issues(source.client, "project in (SUBS, BC, ARCH)", ("summary",), 100, use_post=True))
    assert {raw["key"] for raw in posted} == {issue.key for issue in data.issues}


# --- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limit_and_unavailable_are_retried(source, sandbox, workspace, data, status):
    sandbox.faults.add(Fault(api="jira", kind="status", status=status, retry_after_s=1, path="search/jql"))

    documents = list(source.fetch(everything(workspace)))

    assert set(by_id(documents)) == ids(data.issues)
    assert sandbox.log.status_count("jira", status) == 1


def test_the_retry_cap_holds_for_the_first_request_too(jira_url, sandbox):
    """A reset connection makes the library wait 10 x 2^n s, capped by max_retry_delay_s; the
    client's first request (serverInfo) used to run before the cap was set (up to 60 s)."""
    sandbox.faults.add(Fault(api="jira", kind="reset", times=1))
    started = time.monotonic()
    client = make_client(jira_url, EMAIL, TOKEN, max_retry_delay_s=1)
    assert time.monotonic() - started < 8, "uncapped, the wait alone is 10-20 s"
    assert sandbox.log.status_count("jira", 0) == 1, "the reset was served"
    assert client._version and client._version != (0, 0, 0) and client.deploymentType == "Cloud"


def test_wrong_credentials_fail_fast_naming_the_connection(jira_url):
    started = time.monotonic()
    with pytest.raises(CredentialsError) as caught:
        make_client(jira_url, EMAIL, "wrong-token")
    assert time.monotonic() - started < 5
    assert "'jira_default'" in str(caught.value)
    assert "wrong-token" not in str(caught.value)
    assert isinstance(caught.value, FatalError)


def test_credentials_revoked_during_fetch(source, sandbox, workspace):
    sandbox.faults.add(Fault(api="jira", kind="status", status=401, path="search/jql"))
    with pytest.raises(CredentialsError, match="jira_default"):
        list(source.fetch(everything(workspace)))


def test_issue_deleted_while_its_comments_are_read_keeps_the_embedded_ones(source, sandbox, data):
    thread = data.long_thread()
    sandbox.faults.add(Fault(api="jira", kind="status", status=404, path=f"issue/{thread.key}/comment"))
    window = Window(thread.updated, thread.updated + timedelta(milliseconds=1))

    (document,) = [d for d in source.fetch(window) if d.id == f"jira:{thread.key}"]

    assert len(COMMENT_LINE.findall(document.text)) == 20  # what the search embedded


def test_malformed_issue_is_skipped_and_counted(workspace, data, caplog):
    broken = malformed_issue(data, workspace)
    with Sandbox([JiraSimulator(workspace, malformed=True)]) as box:
        source = JiraSource(make_client(box.base_url("jira"), EMAIL, TOKEN), source_settings("jira"))
        window = Window(workspace.anchor - timedelta(hours=1), workspace.anchor)
        with caplog.at_level(logging.WARNING, logger="vector_sync.sources.jira"):
            documents = list(source.fetch(window))

    assert f"jira:{broken.key}" not in by_id(documents)
    assert set(by_id(documents)) == ids(data.updated_between(window.start, window.end))
    assert source.stats.skipped == {"malformed issue": 1}
    assert broken.key in caplog.text


# --- the pure parts -------------------------------------------------------------------------------


def test_to_document_renders_header_description_and_comments():
    raw = {
        "id": "1",
        "key": "SUBS-9",
        "fields": {
            "summary": "Renewal emails sent twice",
            "description": {
                "type": "doc",
                "version": 1,
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Seen on Team plans."}]}],
            },
            "status": {"name": "In Progress"},
            "assignee": {"displayName": "Mei Chen"},
            "reporter": None,
            "priority": None,
            "labels": [],
            "issuetype": {"name": "Bug"},
            "project": {"key": "SUBS"},
            "created": "2026-11-18T09:15:23.123+0000",
            "updated": "2026-11-19T10:00:00.000+0000",
        },
    }
    comments = [{"id": "7", "author": {"displayName": "Luis Ortega"}, "created": "2026-11-19T09:59:00.000+0000", "body": "plain v2 body"}]

    document = _to_document(raw, comments, "https://acme.atlassian.net/")

    assert document.text == (
        "Type: Bug\nStatus: In Progress\nAssignee: Mei Chen\nCreated: 2026-11-18 09:15\nUpdated: 2026-11-19 10:00"
        "\n\nSeen on Team plans.\n\nComments:\nLuis Ortega (2026-11-19 09:59): plain v2 body"
    )
    assert document.url == "https://acme.atlassian.net/browse/SUBS-9"
    assert "priority" not in document.metadata and "reporter" not in document.metadata


@pytest.mark.parametrize(
    "raw",
    [
        None,
        {},
        {"key": "SUBS-1"},
        {"key": "SUBS-1", "fields": {"summary": "x"}},
        {"key": "SUBS-1", "fields": {"updated": "not-a-date"}},
        {"fields": {"updated": "2026-11-19T10:00:00.000+0000"}},
    ],
)
def test_to_document_refuses_malformed_payloads(raw):
    assert _to_document(raw, [], "https://acme.atlassian.net") is None


def test_repeated_page_token_is_a_loop():
    pages = {None: ([1, 2], "a"), "a": ([3], "b"), "b": ([4], "a")}
    with pytest.raises(PagingLoopError, match="loop detected"):
        list(follow_tokens(lambda token: pages[token], what="test"))


def test_offset_paging_stops_on_total_short_or_empty_page():
    items = list(range(7))
    assert list(follow_offsets(lambda o: (items[o : o + 3], len(items)), page_size=3)) == items
    assert list(follow_offsets(lambda o: (items[o : o + 3], None), page_size=3)) == items
    assert list(follow_offsets(lambda o: ([], 99), page_size=3)) == []  # a lying total cannot spin


def test_jira_search_refuses_a_repeated_token(workspace):
    class Repeating:  # a server bug the simulator cannot produce: the same token forever
        server_url = "https://acme.atlassian.net"

        def _get_json(self, path, **kwargs):
            return {"issues": [], "nextPageToken": "same", "isLast": False}

    with pytest.raises(PagingLoopError):
        list(JiraSource(Repeating(), source_settings("jira")).fetch(everything(workspace)))


# --- the Airflow hook -----------------------------------------------------------------------------


def test_hook_builds_a_client_from_an_env_connection(monkeypatch, jira_url, workspace, data, caplog):
    from vector_sync.hooks.jira import JiraHook

    connection = {
        "conn_type": "jira",
        "host": jira_url,
        "login": EMAIL,
        "password": TOKEN,
        "extra": {"timeout_s": 10, "max_retries": 1, "max_retry_delay_s": "5"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_DEFAULT", json.dumps(connection))

    with caplog.at_level(logging.DEBUG):
        client = JiraHook().get_conn()
    assert isinstance(client, JIRA)
    assert client._session.max_retries == 1 and client._session.timeout == 10 and client._session.max_retry_delay == 5
    assert TOKEN not in caplog.text

    documents = list(JiraSource(client, source_settings("jira")).fetch(everything(workspace)))
    assert len(documents) == len(data.issues)


def test_hook_without_connection_is_fatal(monkeypatch):
    from vector_sync.hooks.jira import JiraHook

    monkeypatch.delenv("AIRFLOW_CONN_JIRA_MISSING", raising=False)
    with pytest.raises(FatalError, match="jira_missing"):
        JiraHook(jira_conn_id="jira_missing").get_conn()


def test_hook_connection_form():
    from vector_sync.hooks.jira import JiraHook

    behaviour = JiraHook.get_ui_field_behaviour()
    assert behaviour["relabeling"] == {"host": "Site URL", "login": "Email", "password": "API token"}
    assert JiraHook.default_conn_name == "jira_default" and JiraHook.conn_type == "jira"
