"""The Slack simulator against Slack's recorded response shapes, through the real slack_sdk."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError

from sandbox import build_sandbox
from sandbox.server import Fault, RateLimiter
from sandbox.slack import BOT_USER_ID, MAX_CHANNELS, ts_of, ts_time
from sandbox.workspace import Workspace

TOKEN = "sandbox-token"
# Keys every real answer of a method carries (api-facts.md and the recordings).
REQUIRED = {
    "auth.test": {"ok", "url", "team", "user", "team_id", "user_id"},
    "conversations.list": {"ok", "channels", "response_metadata"},
    "conversations.history": {"ok", "messages", "has_more", "response_metadata"},
    "conversations.replies": {"ok", "messages", "has_more"},
    "conversations.join": {"ok", "channel"},
    "conversations.members": {"ok", "members", "response_metadata"},
    "users.info": {"ok", "user"},
    "users.list": {"ok", "members", "response_metadata"},
    "chat.postMessage": {"ok", "channel", "ts", "message"},
}


@pytest.fixture(scope="module")
def slack_sandbox(workspace):
    with build_sandbox(workspace, apis=["slack"]) as sandbox:
        yield sandbox


@pytest.fixture()
def box(slack_sandbox, clean_slate):
    """The module's sandbox with a clean slate: no faults, no log, no joins, nothing posted."""
    sim = clean_slate(slack_sandbox).simulator("slack")
    sim.joined.clear()
    sim.posted.clear()
    sim.malformed.clear()
    sim.reset_changes()
    return slack_sandbox


@pytest.fixture()
def sim(box):
    return box.simulator("slack")


@pytest.fixture()
def client(sim) -> WebClient:
    return WebClient(token=TOKEN, base_url=sim.api_url, retry_handlers=[])


@pytest.fixture()
def data(workspace):
    return workspace.data("slack")


@pytest.fixture(scope="module")
def recordings(vendor_dir) -> dict[str, Any]:
    return {path.stem: json.loads(path.read_text()) for path in (Path(vendor_dir) / "slack").glob("*.json")}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", dict: "object", list: "array", type(None): "null"}[type(value)]


def mismatches(actual: Any, recorded: Any, path: str = "$") -> list[str]:
    """Fields of ``actual`` missing from the recording, or of another JSON type, recursively."""
    if _kind(actual) != _kind(recorded):  # int and float are both JSON numbers
        return [f"{path}: {_kind(actual)} where Slack sends {_kind(recorded)}"]
    if isinstance(actual, dict):
        problems = []
        for key, value in actual.items():
            if key not in recorded:
                problems.append(f"{path}.{key}: not in Slack's recording")
            else:
                problems += mismatches(value, recorded[key], f"{path}.{key}")
        return problems
    if isinstance(actual, list):
        if actual and not recorded:
            return [f"{path}: Slack's recording has no sample item"]
        return [p for i, item in enumerate(actual) for p in mismatches(item, recorded[0], f"{path}[{i}]")]
    return []


def check(method: str, body: dict, recordings: dict) -> None:
    assert REQUIRED[method] <= set(body), f"{method}: missing {REQUIRED[method] - set(body)}"
    assert mismatches(body, recordings[method]) == []


# --- shapes -----------------------------------------------------------------------------------


def test_every_method_answers_in_slacks_recorded_shape(client, sim, data, recordings):
    thread_channel, thread_ts = next(iter(data.replies))
    answers = {
        "auth.test": client.auth_test(),
        "conversations.list": client.conversations_list(types="public_channel,private_channel", limit=3),
        "conversations.history": client.conversations_history(channel="C0SUBSDEV", limit=5),
        "conversations.replies": client.conversations_replies(channel=thread_channel, ts=thread_ts, limit=2),
        "conversations.join": client.conversations_join(channel="C0RANDOM"),
        "conversations.members": client.conversations_members(channel="C0SUBSLEAD", limit=2),
        "users.info": client.users_info(user=BOT_USER_ID),
        "users.list": client.users_list(limit=5),
        "chat.postMessage": client.chat_postMessage(channel="#alerts", text="hello"),
    }
    for method, response in answers.items():
        assert response.status_code == 200 and response["ok"] is True
        check(method, response.data, recordings)


def test_all_generated_messages_channels_and_users_match_the_recordings(data, recordings):
    history_message = recordings["conversations.history"]["messages"][0]
    reply_message = recordings["conversations.replies"]["messages"][0]
    problems = [p for msgs in data.history.values() for m in msgs for p in mismatches(m, history_message)]
    problems += [p for msgs in data.replies.values() for m in msgs for p in mismatches(m, reply_message)]
    # Thread parents are served by conversations.replies too.
    problems += [p for (cid, ts) in data.replies for p in mismatches(data.message(cid, ts), reply_message)]
    problems += [p for c in data.channels for p in mismatches({**c, "is_member": True}, recordings["conversations.list"]["channels"][0])]
    problems += [p for u in data.users.values() for p in mismatches(u, recordings["users.list"]["members"][0])]
    problems += [p for u in data.users.values() for p in mismatches(u, recordings["users.info"]["user"])]
    assert problems == []


def test_errors_are_http_200_ok_false_in_the_recorded_shape(sim, box, recordings):
    wrong = WebClient(token="xoxb-wrong", base_url=sim.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as rejected:
        wrong.auth_test()
    assert rejected.value.response.status_code == 200
    assert rejected.value.response.data == {"ok": False, "error": "invalid_auth"}
    anonymous = WebClient(base_url=sim.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as missing:
        anonymous.conversations_list()
    assert missing.value.response["error"] == "not_authed"
    assert mismatches(rejected.value.response.data, recordings["conversations.history"]) == []


# --- channels and membership ------------------------------------------------------------------


def test_conversations_list_pages_until_an_empty_cursor_and_hides_what_the_bot_cannot_see(client, data):
    pages = [p.data for p in client.conversations_list(types="public_channel,private_channel", exclude_archived=True, limit=2)]
    names = [c["name"] for page in pages for c in page["channels"]]

    assert len(pages) == (len(data.channels) + 1) // 2  # pages are cut before filtering
    assert pages[-1]["response_metadata"]["next_cursor"] == ""
    assert all(p["response_metadata"]["next_cursor"] for p in pages[:-1])
    assert any(len(p["channels"]) < 2 for p in pages)  # short pages still carry a cursor
    assert "subs-leads" in names  # private, the bot is a member
    assert "bc-exec" not in names  # private, the bot is not
    assert "launch-2025" not in names  # archived
    public_only = [c["name"] for page in client.conversations_list() for c in page["channels"]]
    assert "subs-leads" not in public_only and "launch-2025" in public_only


def test_not_in_channel_until_joined(client, sim):
    with pytest.raises(SlackApiError) as refused:
        client.conversations_history(channel="C0RANDOM")
    assert refused.value.response["error"] == "not_in_channel"
    listed = {c["id"]: c for page in client.conversations_list() for c in page["channels"]}
    assert listed["C0RANDOM"]["is_member"] is False

    joined = client.conversations_join(channel="C0RANDOM")
    assert joined["channel"]["is_member"] is True and "warning" not in joined.data
    assert client.conversations_history(channel="C0RANDOM")["ok"]
    assert client.conversations_join(channel="C0RANDOM")["warning"] == "already_in_channel"
    assert BOT_USER_ID in client.conversations_members(channel="C0RANDOM")["members"]
    for channel, error in (
        ("C0LAUNCH25", "is_archived"),
        ("C0SUBSLEAD", "method_not_supported_for_channel_type"),
        ("C0BCEXEC", "channel_not_found"),
        ("C0NOPE", "channel_not_found"),
    ):
        with pytest.raises(SlackApiError) as failed:
            client.conversations_join(channel=channel)
        assert failed.value.response["error"] == error


def test_private_channel_of_others_does_not_exist_for_the_bot(client):
    for call in (client.conversations_history, client.conversations_members):
        with pytest.raises(SlackApiError) as hidden:
            call(channel="C0BCEXEC")
        assert hidden.value.response["error"] == "channel_not_found"


# --- history and replies ----------------------------------------------------------------------


def test_history_pages_newest_first_within_oldest_and_latest(client, data, workspace):
    oldest, latest = workspace.anchor - timedelta(hours=50), workspace.anchor - timedelta(hours=2)
    pages = [p.data for p in client.conversations_history(channel="C0SUBSDEV", oldest=ts_of(oldest), latest=ts_of(latest), limit=4)]
    stamps = [m["ts"] for page in pages for m in page["messages"]]

    expected = [m["ts"] for m in data.history["C0SUBSDEV"] if oldest < ts_time(m["ts"]) < latest]
    assert stamps == expected[::-1]
    assert len(pages) >= 3 and [p["has_more"] for p in pages] == [True] * (len(pages) - 1) + [False]
    assert all(m.get("thread_ts", m["ts"]) == m["ts"] for m in pages[0]["messages"])  # no plain replies


def test_history_bounds_are_exclusive_unless_inclusive(client, data, workspace):
    edge = data.scenarios["edge"]
    args = dict(channel=edge["channel"], oldest=edge["ts"], latest=edge["ts"])
    assert client.conversations_history(**args)["messages"] == []
    assert [m["ts"] for m in client.conversations_history(**args, inclusive=True)["messages"]] == [edge["ts"]]


def test_history_limit_is_capped_and_bad_cursors_refused(client):
    page = client.conversations_history(channel="C0SUBSDEV", limit=5000)
    assert page["ok"] and len(page["messages"]) <= 999
    with pytest.raises(SlackApiError) as bad:
        client.conversations_history(channel="C0SUBSDEV", cursor="bm90LWEtY3Vyc29y!")
    assert bad.value.response["error"] == "invalid_cursor"


def test_replies_start_with_the_parent_on_every_page(client, data):
    long = data.scenarios["long_thread"]
    pages = [p.data for p in client.conversations_replies(channel=long["channel"], ts=long["thread_ts"], limit=3)]
    assert len(pages) == 3
    assert all(p["messages"][0]["ts"] == long["thread_ts"] for p in pages)
    parent = pages[0]["messages"][0]
    replies = [m for p in pages for m in p["messages"][1:]]
    assert len(replies) == parent["reply_count"] == long["replies"]
    assert parent["latest_reply"] == replies[-1]["ts"]
    assert all(r["thread_ts"] == long["thread_ts"] and r["parent_user_id"] == parent["user"] for r in replies)
    with pytest.raises(SlackApiError) as missing:
        client.conversations_replies(channel=long["channel"], ts="1.000000")
    assert missing.value.response["error"] == "thread_not_found"


# --- users ------------------------------------------------------------------------------------


def test_users_have_names_and_example_emails(client, workspace):
    members = [u for page in client.users_list(limit=5) for u in page["members"]]
    people = {p.slack_id: p for p in workspace.people}
    assert {u["id"] for u in members} == set(people) | {BOT_USER_ID}
    person = client.users_info(user=workspace.people[3].slack_id)["user"]
    assert person["real_name"] == workspace.people[3].name
    assert person["profile"]["email"] == workspace.people[3].email and person["profile"]["email"].endswith("@example.com")
    assert client.users_info(user=BOT_USER_ID)["user"]["is_bot"] is True
    with pytest.raises(SlackApiError) as unknown:
        client.users_info(user="U0NOBODY")
    assert unknown.value.response["error"] == "user_not_found"


# --- rate limits and posting ------------------------------------------------------------------


def test_429_is_ratelimited_with_retry_after(client, box):
    box.faults.add(Fault(api="slack", kind="status", status=429, path="users.list", retry_after_s=1))
    with pytest.raises(SlackApiError) as limited:
        client.users_list()
    assert limited.value.response.status_code == 429
    assert limited.value.response["error"] == "ratelimited"
    assert limited.value.response.headers["retry-after"] in ("1", ["1"])


def test_tier_limits_count_per_method(workspace):
    tier = {"slack": RateLimiter(2, per_s=60)}  # 2 per minute per method
    with build_sandbox(workspace, apis=["slack"], rate_limits=tier) as box:
        client = WebClient(token=TOKEN, base_url=box.simulator("slack").api_url, retry_handlers=[])
        client.users_list()
        client.users_list()
        with pytest.raises(SlackApiError) as limited:
            client.users_list()
        assert limited.value.response.status_code == 429
        assert client.auth_test()["ok"]  # another method has its own bucket


def test_chat_post_message_and_webhook_are_recorded(client, sim):
    client.chat_postMessage(
        channel="#alerts", text="Slack sync failed", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*failed*"}}]
    )
    client.chat_postMessage(channel="C0SUBSDEV", text="in a thread", thread_ts="1795003200.000000")
    hook = WebhookClient(sim.webhook_url)
    assert hook.send(text="Deadline missed: slack").body == "ok"
    assert WebhookClient(sim.webhook_url.replace("secret", "guess")).send(text="x").status_code == 404
    with pytest.raises(SlackApiError) as archived:
        client.chat_postMessage(channel="launch-2025", text="x")
    assert archived.value.response["error"] == "is_archived"

    assert [p["via"] for p in sim.posted] == ["chat.postMessage", "chat.postMessage", "webhook"]
    first, second, third = sim.posted
    assert first["channel"] == "C0ALERTS" and first["text"] == "Slack sync failed"
    assert first["blocks"][0]["text"]["text"] == "*failed*"
    assert second["thread_ts"] == "1795003200.000000"
    assert third == {"via": "webhook", "channel": "C0ALERTS", "text": "Deadline missed: slack"}


# --- people's activity: posts and edits -------------------------------------------------------


def test_posts_replies_and_edits_are_served_as_slack_serves_them(client, sim, data, workspace, recordings):
    author, other = [m for m in data.members["C0SUBSDEV"] if m != BOT_USER_ID][:2]
    posted = sim.post_message("C0SUBSDEV", author, "Kangaroo-9: the renewal job moves to 04:00.")
    [shown] = client.conversations_history(channel="C0SUBSDEV", oldest=posted["ts"], inclusive=True)["messages"]
    assert shown == posted and ts_time(posted["ts"]) > workspace.anchor  # posted now, after the sample

    reply = sim.post_message("C0SUBSDEV", other, "Agreed, I will update the runbook.", thread_ts=posted["ts"])
    thread = client.conversations_replies(channel="C0SUBSDEV", ts=posted["ts"])
    parent = thread["messages"][0]
    assert (parent["thread_ts"], parent["reply_count"], parent["latest_reply"]) == (posted["ts"], 1, reply["ts"])
    assert parent["reply_users"] == [other]
    assert thread["messages"][1] == {**reply, "parent_user_id": author, "thread_ts": posted["ts"]}
    [parent_in_history] = client.conversations_history(channel="C0SUBSDEV", oldest=posted["ts"], inclusive=True)["messages"]
    assert parent_in_history["latest_reply"] == reply["ts"]  # what the window sync re-reads threads by

    before, after = sim.edit_message("C0SUBSDEV", reply["ts"], "Agreed: runbook updated for kangaroo-9.")
    assert before == reply and after["ts"] == reply["ts"] and after["edited"]["user"] == other
    assert (
        client.conversations_replies(channel="C0SUBSDEV", ts=posted["ts"])["messages"][1]["text"]
        == "Agreed: runbook updated for kangaroo-9."
    )
    sample = data.scenarios["edge"]
    sim.edit_message(sample["channel"], sample["ts"], "Office is open on Monday after all.")
    [edited] = client.conversations_history(channel=sample["channel"], oldest=sample["ts"], latest=sample["ts"], inclusive=True)["messages"]
    assert edited["text"] == "Office is open on Monday after all." and edited["edited"]["ts"] > sample["ts"]

    check("conversations.history", client.conversations_history(channel="C0SUBSDEV", oldest=posted["ts"], inclusive=True).data, recordings)
    check("conversations.replies", client.conversations_replies(channel="C0SUBSDEV", ts=posted["ts"]).data, recordings)
    # The shared sample is untouched: other simulators (and a reset) serve it as generated.
    assert data.message("C0SUBSDEV", posted["ts"]) is None and "edited" not in data.message(sample["channel"], sample["ts"])
    sim.reset_changes()
    assert client.conversations_history(channel="C0SUBSDEV", oldest=posted["ts"], inclusive=True)["messages"] == []


def test_changes_to_what_is_not_there_are_refused(sim):
    with pytest.raises(KeyError):
        sim.edit_message("C0SUBSDEV", "1.000000", "x")
    with pytest.raises(KeyError):
        sim.post_message("C0SUBSDEV", BOT_USER_ID, "x", thread_ts="1.000000")
    with pytest.raises(KeyError):
        sim.post_message("C0LAUNCH25", BOT_USER_ID, "archived")


# --- the sample workspace ---------------------------------------------------------------------


def test_sample_is_deterministic_and_active_in_every_recent_interval(workspace, data):
    again = Workspace(anchor=workspace.anchor).data("slack")
    assert again.history == data.history and again.replies == data.replies

    stamps = [ts_time(m["ts"]) for msgs in data.history.values() for m in msgs]
    stamps += [ts_time(r["ts"]) for msgs in data.replies.values() for r in msgs]
    assert min(stamps) >= workspace.start and max(stamps) < workspace.anchor
    for k in range(8):
        low = workspace.anchor - timedelta(minutes=15 * (k + 1))
        assert any(low <= s < low + timedelta(minutes=15) for s in stamps), f"no activity in interval {k}"
    late = data.scenarios["late_reply"]
    parent = data.message(late["channel"], late["thread_ts"])
    assert workspace.anchor - ts_time(parent["ts"]) >= timedelta(days=2)
    assert parent["latest_reply"] == late["reply_ts"]
    assert workspace.anchor - ts_time(late["reply_ts"]) < timedelta(hours=1)
    emails = [u["profile"].get("email") for u in data.users.values() if u["profile"].get("email")]
    assert emails and all(e.endswith("@example.com") for e in emails)


def test_benchmark_scale_gives_20000_messages_in_50_channels_with_2000_threads(workspace):
    started = time.monotonic()
    big = Workspace(anchor=workspace.anchor, scale=50).data("slack")
    assert time.monotonic() - started < 5
    assert big.message_count() == 20_000
    assert len(big.replies) == 2_000
    assert len(big.channels) == MAX_CHANNELS == 50
    small = Workspace(anchor=workspace.anchor).data("slack")
    assert small.message_count() == 400 and len(small.replies) == 40
