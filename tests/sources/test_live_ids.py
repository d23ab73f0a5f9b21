"""Pruning listings (live_ids, live_span, confirm_gone) of Slack, Notion and Fireflies, against
the sandbox through the real clients.

Deletions are simulator knobs (``delete_message``, ``trashed``, ``deleted``,
``hidden_from_search``, ``delete_transcript``) that leave the session's shared sample intact.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from sandbox import build_sandbox
from sandbox.slack import BOT_USER_ID, ts_time
from vector_sync.models import Window
from vector_sync.ratelimit import RateLimiter
from vector_sync.sources import fireflies as fireflies_source
from vector_sync.sources import notion as notion_source
from vector_sync.sources import slack as slack_source
from vector_sync.sources.base import Source
from vector_sync.specs import source_settings

TOKEN = "sandbox-token"
NOISE = {"channel_join", "channel_leave", "channel_topic"}  # the event subtypes the sample contains


@pytest.fixture(scope="module")
def box(workspace):
    with build_sandbox(workspace, apis=["slack", "notion", "fireflies"]) as sandbox:
        yield sandbox


@pytest.fixture()
def sandbox(box, workspace, clean_slate):
    """The module's sandbox with a clean slate: no faults, log, joins or deletions."""
    slack = clean_slate(box).simulator("slack")
    slack.joined.clear()
    slack.deleted.clear()
    notion = box.simulator("notion")
    notion.hidden_from_search.clear()
    notion.trashed.clear()
    notion.deleted.clear()
    fireflies = box.simulator("fireflies")
    fireflies.now = workspace.anchor + timedelta(days=1)  # every transcript processed
    fireflies.deleted.clear()
    return box


def whole_sample(workspace) -> Window:
    return Window(workspace.start - timedelta(hours=1), workspace.anchor)


# ---------------------------------------------------------------- Slack
def make_slack(box, workspace, **options) -> slack_source.SlackSource:
    client = slack_source.make_client(box.simulator("slack").api_url, TOKEN, max_retries=2)
    source = slack_source.SlackSource(client, source_settings("slack", {"options": options}))
    source.listed_at = workspace.anchor  # "now" is the sample's anchor
    return source


UNJOINED = ("C0RANDOM", "C0BCBILL")  # public channels the bot is not in until fetch joins them


def join_all(box) -> None:
    """What fetch's auto_join leaves behind: the bot in every public channel."""
    box.simulator("slack").joined.update(UNJOINED)


def slack_listable(data, since, until, joined: bool = True) -> set[str]:
    """Independent reading: parents and lone messages posted in [since, until] in the channels
    the bot reads (``joined``: after fetch's joins), noise left out."""
    ids = set()
    for channel in data.channels:
        if channel["is_archived"] or (channel["is_private"] and BOT_USER_ID not in data.members[channel["id"]]):
            continue
        if not joined and channel["id"] in UNJOINED:
            continue
        for message in data.history[channel["id"]]:
            if since <= ts_time(message["ts"]) <= until and message.get("subtype") not in NOISE:
                ids.add(f"slack:{channel['id']}:{message['ts']}")
    return ids


def test_slack_live_ids_are_what_fetch_yields_over_the_sample(sandbox, workspace):
    data = workspace.data("slack")
    fetched = {d.id for d in make_slack(sandbox, workspace).fetch(whole_sample(workspace))}  # joins #random, #bc-billing
    sandbox.log.reset()
    source = make_slack(sandbox, workspace)

    live = list(source.live_ids())

    assert len(live) == len(set(live))
    assert set(live) == fetched == slack_listable(data, workspace.start - timedelta(hours=1), workspace.anchor)
    assert source.live_span() == (workspace.anchor - timedelta(days=90), workspace.anchor)
    readable = 7  # general, random, subs-dev, bc-billing, arch-migration, subs-leads, alerts
    # ids only: the channel list and one history page per channel; no replies, users or members.
    assert sandbox.log.count("slack", "conversations.list") == 1
    assert sandbox.log.count("slack", "conversations.history") == readable
    assert sandbox.log.count("slack") == 1 + readable


def test_slack_live_ids_never_join_and_keep_unjoined_channels(sandbox, workspace):
    data = workspace.data("slack")
    source = make_slack(sandbox, workspace)

    live = set(source.live_ids())

    assert sandbox.log.count("slack", "conversations.join") == 0
    assert not sandbox.simulator("slack").joined
    assert live == slack_listable(data, workspace.start, workspace.anchor, joined=False)
    unjoined = {i for i in slack_listable(data, workspace.start, workspace.anchor) if i.split(":")[1] in UNJOINED}
    assert unjoined and not unjoined & live
    # fetch would join them (auto_join): unjudged, kept; without auto_join fetch skips them too.
    candidates = sorted(unjoined)[:3]
    sandbox.log.reset()
    assert source.confirm_gone(candidates) == []
    assert sandbox.log.count("slack") == 0  # nothing to look up in a channel it cannot read
    assert make_slack(sandbox, workspace, auto_join=False).confirm_gone(candidates) == candidates


def test_slack_deleted_message_disappears_and_is_confirmed_gone(sandbox, workspace):
    data = workspace.data("slack")
    edge = data.scenarios["edge"]  # a lone message in #general
    long = data.scenarios["long_thread"]
    lone_id = f"slack:{edge['channel']}:{edge['ts']}"
    thread_id = f"slack:{long['channel']}:{long['thread_ts']}"
    before = set(make_slack(sandbox, workspace).live_ids())
    assert {lone_id, thread_id} <= before

    sim = sandbox.simulator("slack")
    sim.delete_message(edge["channel"], edge["ts"])
    sim.delete_message(long["channel"], long["thread_ts"])
    source = make_slack(sandbox, workspace)
    after = set(source.live_ids())

    assert before - after == {lone_id, thread_id}
    alive = sorted(after)[0]
    sandbox.log.reset()
    assert source.confirm_gone([lone_id, alive, thread_id]) == [lone_id, thread_id]
    assert sandbox.log.count("slack", "conversations.history") == 3  # one lookup per candidate
    assert sandbox.log.count("slack", "conversations.list") == 0  # the selection is listed once


def test_slack_span_and_threads_older_than_the_listing(sandbox, workspace):
    data = workspace.data("slack")
    late = data.scenarios["late_reply"]  # parent two days old, reply 50 minutes before the anchor
    late_id = f"slack:{late['channel']}:{late['thread_ts']}"
    join_all(sandbox)
    source = make_slack(sandbox, workspace, prune_history_days=1, lookback_days=0)

    live = set(source.live_ids())
    start, end = source.live_span()

    assert (start, end) == (workspace.anchor - timedelta(days=1), workspace.anchor)
    assert live == slack_listable(data, start, end)
    # The thread's last activity is in the span but its parent is not listed: a prune candidate
    # that confirm_gone keeps, since the message is still there.
    assert start <= ts_time(late["reply_ts"]) < end and late_id not in live
    assert source.confirm_gone([late_id]) == []
    # With the default lookback the listing reaches the parent itself.
    assert late_id in set(make_slack(sandbox, workspace, prune_history_days=1).live_ids())


def test_slack_confirm_gone_drops_channels_outside_the_selection(sandbox, workspace):
    data = workspace.data("slack")
    archived = next(m for m in data.history["C0LAUNCH25"])
    invisible = next(m for m in data.history["C0BCEXEC"])  # private, the bot is not a member
    ids = [f"slack:C0LAUNCH25:{archived['ts']}", f"slack:C0BCEXEC:{invisible['ts']}", f"slack:C0GONE:{archived['ts']}"]
    source = make_slack(sandbox, workspace)

    assert source.confirm_gone([*ids, "slack:not-an-id", "notion:abc"]) == ids
    assert sandbox.log.count("slack", "conversations.history") == 0


def test_slack_whole_history_when_the_span_is_off(sandbox, workspace):
    source = make_slack(sandbox, workspace, prune_history_days=None)
    assert source.live_span() is None
    live = set(source.live_ids())
    assert live == slack_listable(workspace.data("slack"), workspace.start - timedelta(days=1), workspace.anchor, joined=False)


# ---------------------------------------------------------------- Notion
def make_notion(box, limiter: RateLimiter | None = None, **options) -> notion_source.NotionSource:
    settings = source_settings("notion", {"options": {"rps": None, **options}})
    client = notion_source.make_client(box.base_url("notion"), TOKEN, timeout_s=10)
    return notion_source.NotionSource(client, settings, limiter=limiter)


class CountingLimiter(RateLimiter):
    def __init__(self) -> None:
        super().__init__(None)
        self.slots = 0
        self._count_lock = threading.Lock()

    def acquire(self) -> None:
        with self._count_lock:
            self.slots += 1
        super().acquire()


def test_notion_live_ids_are_what_fetch_yields_over_the_sample(sandbox, workspace):
    data = workspace.data("notion")
    fetched = {d.id for d in make_notion(sandbox).fetch(whole_sample(workspace))}
    sandbox.log.reset()
    source = make_notion(sandbox)

    live = list(source.live_ids())

    assert len(live) == len(set(live))
    assert set(live) == fetched == {f"notion:{p}" for p, page in data.pages.items() if not page["in_trash"]}
    assert f"notion:{data.named['trashed']}" not in live
    assert source.live_span() is None
    assert sandbox.log.count("notion") == sandbox.log.count("notion", r"^/v1/search$") == -(-len(data.pages) // 100)


def test_notion_live_ids_page_through_search(sandbox, workspace):
    data = workspace.data("notion")
    live = set(make_notion(sandbox, page_size=10).live_ids())
    assert len(live) == len(data.pages) - 1
    assert sandbox.log.count("notion", r"^/v1/search$") == -(-len(data.pages) // 10)


def test_notion_trashed_page_disappears_and_is_confirmed_gone(sandbox, workspace):
    data = workspace.data("notion")
    runbook = data.named["runbook"]
    sandbox.simulator("notion").trashed.add(runbook)

    live = set(make_notion(sandbox).live_ids())

    assert f"notion:{runbook}" not in live and len(live) == len(data.pages) - 2
    assert make_notion(sandbox).confirm_gone([f"notion:{runbook}"]) == [f"notion:{runbook}"]


def test_notion_confirm_gone_keeps_what_search_missed(sandbox, workspace):
    data = workspace.data("notion")
    sim = sandbox.simulator("notion")
    missed, deleted, trashed = (f"notion:{data.named[r]}" for r in ("gallery", "deep", "incident:0"))
    sim.hidden_from_search.add(data.named["gallery"])
    sim.deleted.add(data.named["deep"])
    sim.trashed.add(data.named["incident:0"])
    limiter = CountingLimiter()
    source = make_notion(sandbox, limiter=limiter, workers=3)

    live = set(source.live_ids())
    assert not {missed, deleted, trashed} & live
    sandbox.log.reset()
    searches = limiter.slots
    candidates = [missed, deleted, trashed, f"notion:{data.named['runbook']}", "slack:C1:1.0"]

    assert source.confirm_gone(candidates) == [deleted, trashed]
    assert sandbox.log.count("notion", r"^/v1/pages/") == sandbox.log.count("notion") == 4
    assert limiter.slots - searches == 4  # every retrieval took a slot of the shared limiter


# ---------------------------------------------------------------- Fireflies
def make_fireflies(box, workspace, **options) -> fireflies_source.FirefliesSource:
    client = fireflies_source.make_client(f"{box.base_url('fireflies')}/graphql", TOKEN, total_retries=2, backoff_factor=0.01)
    source = fireflies_source.FirefliesSource(client, source_settings("fireflies", {"options": options}))
    source.listed_at = workspace.anchor + timedelta(days=1)  # the simulator's "now"
    return source


def test_fireflies_live_ids_are_what_fetch_yields_over_the_sample(sandbox, workspace):
    data = workspace.data("fireflies")
    fetched = {d.id for d in make_fireflies(sandbox, workspace).fetch(whole_sample(workspace))}
    sandbox.log.reset()
    source = make_fireflies(sandbox, workspace)

    live = list(source.live_ids())

    assert len(live) == len(set(live))
    assert set(live) == fetched == {f"fireflies:{t['id']}" for t in data.transcripts}
    listed_at = workspace.anchor + timedelta(days=1)
    assert source.live_span() == (listed_at - timedelta(days=365), listed_at)
    assert sandbox.log.count("fireflies") == 1  # 25 meetings: one page of ids


def test_fireflies_live_ids_ask_ids_only_and_page_with_skip(sandbox, workspace):
    data = workspace.data("fireflies")
    asked: list[str] = []
    source = make_fireflies(sandbox, workspace, page_size=10)
    # requests' own response hook notes what each request asked for.
    source.client.session.hooks["response"].append(lambda r, *_a, **_k: asked.append(json.loads(r.request.body)["query"]))
    assert len(set(source.live_ids())) == len(data.transcripts)
    assert len(asked) == -(-len(data.transcripts) // 10) + (len(data.transcripts) % 10 == 0)
    assert all(q == fireflies_source.IDS_QUERY for q in asked)
    assert "sentences" not in fireflies_source.IDS_QUERY


def test_fireflies_span_limits_the_listing(sandbox, workspace):
    data = workspace.data("fireflies")
    source = make_fireflies(sandbox, workspace, prune_history_days=1.5)
    start, end = source.live_span()
    live = set(source.live_ids())
    assert live == {f"fireflies:{t['id']}" for t in data.transcripts if start <= data.meeting_time(t) < end}
    assert 0 < len(live) < len(data.transcripts)


def test_fireflies_deleted_transcript_disappears_and_is_confirmed_gone(sandbox, workspace):
    data = workspace.data("fireflies")
    victim, survivor = data.transcripts[3]["id"], data.transcripts[4]["id"]
    sandbox.simulator("fireflies").delete_transcript(victim)
    source = make_fireflies(sandbox, workspace)

    live = set(source.live_ids())

    assert f"fireflies:{victim}" not in live and len(live) == len(data.transcripts) - 1
    sandbox.log.reset()
    candidates = [f"fireflies:{victim}", f"fireflies:{survivor}", "jira:X-1"]
    assert source.confirm_gone(candidates) == [f"fireflies:{victim}"]
    assert sandbox.log.count("fireflies") == 2  # one small query per Fireflies candidate
    assert make_fireflies(sandbox, workspace, prune_confirm=False).confirm_gone(candidates) == candidates


# ---------------------------------------------------------------- the defaults
def test_listing_time_is_fixed_at_first_use(sandbox, workspace):
    source = make_fireflies(sandbox, workspace)
    source.listed_at = None
    first = source.listing_time()
    assert source.live_span()[1] == first == source.listing_time()


def test_base_defaults_trust_the_listing():
    class Listed(Source):
        name = "listed"

        def fetch(self, window):
            return iter(())

    source = Listed(None, source_settings("jira"))
    assert source.live_span() is None
    assert source.confirm_gone(["listed:1", "listed:2"]) == ["listed:1", "listed:2"]
