"""Slack messages as documents: the converter and the facts read off a message (its last
activity, whether it has replies, who wrote it), exact to the microsecond of Slack's ``ts``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from vector_sync.models import Document, MetadataValue, Segment
from vector_sync.slack_text import mrkdwn_to_text

# Subtypes that record channel events rather than conversation.
NOISE_SUBTYPES = frozenset(
    {
        "channel_join",
        "channel_leave",
        "channel_topic",
        "channel_purpose",
        "channel_name",
        "channel_archive",
        "channel_unarchive",
        "group_join",
        "group_leave",
        "group_topic",
        "group_purpose",
        "group_name",
        "group_archive",
        "group_unarchive",
        "pinned_item",
        "unpinned_item",
        "bot_add",
        "bot_remove",
        "channel_convert_to_private",
        "channel_posting_permissions",
    }
)
_TITLE_CHARS = 80
# Files listed in a thread's metadata (a long thread can share dozens; the store's metadata stays small).
_MAX_FILES = 20
# Each label's length there: a file name can be as long as its uploader likes; Pinecone holds 40 KB
# of metadata per vector. The text keeps the whole label.
_MAX_FILE_LABEL_CHARS = 200
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def permalink(domain: str, channel_id: str, ts: str) -> str:
    """Slack's message link: ``https://{domain}/archives/{channel}/p{ts without the dot}``."""
    return f"https://{domain}/archives/{channel_id}/p{ts.replace('.', '')}"


def to_document(
    channel: Mapping[str, Any],
    thread: Sequence[dict],
    last_activity: datetime,
    access: tuple[str, tuple[str, ...]],
    projects: tuple[str, ...],
    domain: str,
    user_name: Callable[[str], str | None],
    channel_name: Callable[[str], str | None],
) -> Document:
    """One thread (parent first) or single message as a document."""
    parent = thread[0]
    segments = tuple(Segment(_line(message, user_name, channel_name), {"message_ts": message["ts"]}) for message in thread)
    author_id, author = _author(parent, user_name)
    first_line = mrkdwn_to_text(parent.get("text"), user_name, channel_name).split("\n", 1)[0]
    first_line = first_line or next((f.get("name", "") for f in parent.get("files") or [] if isinstance(f, dict)), "")
    title = f"#{channel['name']}: {first_line[:_TITLE_CHARS]}" if first_line else f"#{channel['name']}"
    url = permalink(domain, channel["id"], parent["ts"])
    access_type, access_list = access
    reply_count = parent.get("reply_count") if isinstance(parent.get("reply_count"), int) else len(thread) - 1
    metadata: dict[str, MetadataValue] = {
        "source": "slack",
        "channel_id": channel["id"],
        "channel_name": channel["name"],
        "user_id": author_id,
        "user_name": author,
        "thread_ts": parent["ts"],
        "reply_count": reply_count,
        "timestamp_epoch": int(last_activity.timestamp()),
        "permalink": url,
        "access_type": access_type,
        "access_list": list(access_list),
    }
    files = shared_files(thread)
    if files:  # only then: a message without files keeps its content hash, so an upgrade re-embeds none of them
        metadata["files"] = files
    return Document(
        id=f"slack:{channel['id']}:{parent['ts']}",
        source="slack",
        title=title,
        text="\n".join(s.text for s in segments),
        url=url,
        updated_at=last_activity,
        projects=projects,
        access_type=access_type,
        access_list=access_list,
        metadata=metadata,
        segments=segments,
    )


def _line(message: dict, user_name: Callable[[str], str | None], channel_name: Callable[[str], str | None]) -> str:
    """``Name (YYYY-MM-DD HH:MM): text [file: …] [attachment: …]``."""
    _, author = _author(message, user_name)
    parts = [mrkdwn_to_text(message.get("text"), user_name, channel_name)]
    for file in message.get("files") or []:
        if isinstance(file, dict) and (file.get("name") or file.get("title")):
            parts.append(f"[file: {file_label(file)}]")
    for attachment in message.get("attachments") or []:
        if isinstance(attachment, dict):
            body = " - ".join(str(attachment[k]) for k in ("title", "text") if attachment.get(k))
            if body:
                parts.append(f"[attachment: {mrkdwn_to_text(body, user_name, channel_name)}]")
    stamp = ts_time(Decimal(message["ts"])).strftime("%Y-%m-%d %H:%M")
    edited = " (edited)" if isinstance(message.get("edited"), dict) else ""
    return f"{author} ({stamp}){edited}: {' '.join(p for p in parts if p)}"


def shared_files(thread: Sequence[dict]) -> list[str]:
    """The labels of the files shared in a thread (``file_label``, first ``_MAX_FILES``, each
    once): search counts them as title words, since a message that shares a file is how people
    find it again ("the spreadsheet with the migration plan someone posted")."""
    labels = (
        file_label(file)[:_MAX_FILE_LABEL_CHARS]
        for message in thread
        for file in message.get("files") or []
        if isinstance(file, dict) and (file.get("name") or file.get("title"))
    )
    return list(dict.fromkeys(labels))[:_MAX_FILES]


def file_label(file: dict) -> str:
    """A shared file as people ask for it: its name, then its title and its kind (Slack's
    ``pretty_type``, "Excel Spreadsheet") when they say more: "the spreadsheet with the
    migration plan" finds ``migration-plan.xlsx``."""
    name = str(file.get("name") or file.get("title"))
    more = [str(v).strip() for v in (file.get("title"), file.get("pretty_type")) if isinstance(v, str) and v.strip()]
    return ", ".join(dict.fromkeys([name, *more]))


def _author(message: dict, user_name: Callable[[str], str | None]) -> tuple[str, str]:
    """(id, name) of who posted: a user, or a bot integration (bot_message has no user)."""
    user_id = message.get("user")
    if isinstance(user_id, str) and user_id:
        return user_id, user_name(user_id) or user_id
    bot_id = str(message.get("bot_id") or "")
    name = message.get("username") or (message.get("bot_profile") or {}).get("name") or bot_id or "unknown"
    return bot_id, str(name)


def display_name(user: Mapping[str, Any]) -> str:
    profile = user.get("profile") or {}
    return str(user.get("real_name") or profile.get("real_name") or profile.get("display_name") or user.get("name") or "")


def is_bot(message: dict) -> bool:
    return message.get("subtype") == "bot_message" or bool(message.get("bot_id"))


def indexed(message: Any, include_bots: bool) -> bool:
    """Whether fetch makes a document of this history entry (``fetch``'s filters, uncounted)."""
    return (
        last_activity(message) is not None
        and message.get("subtype") not in NOISE_SUBTYPES
        and (include_bots or not is_bot(message))
        and message.get("thread_ts", message["ts"]) == message["ts"]  # not a reply broadcast to the channel
    )


def parse_id(doc_id: str) -> tuple[str, str] | None:
    """(channel, ts) of ``slack:{channel}:{ts}``; None for anything else."""
    prefix, _, rest = doc_id.partition(":")
    channel_id, _, ts = rest.partition(":")
    if prefix != "slack" or not channel_id or decimal(ts) is None:
        return None
    return channel_id, ts


def has_replies(message: dict) -> bool:
    return message.get("thread_ts") == message["ts"] and (bool(message.get("reply_count")) or bool(message.get("latest_reply")))


def last_activity(message: Any) -> Decimal | None:
    """max(ts, latest_reply, edited.ts) as epoch seconds; None for a message without a ts."""
    if not isinstance(message, dict) or decimal(message.get("ts")) is None:
        return None
    edited = message.get("edited") if isinstance(message.get("edited"), dict) else {}
    stamps = (decimal(message.get("ts")), decimal(message.get("latest_reply")), decimal(edited.get("ts")))
    return max(s for s in stamps if s is not None)


def decimal(value: Any) -> Decimal | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def ts_time(ts: Decimal) -> datetime:
    """A Slack ts (epoch seconds, 6 decimals) as an exact UTC datetime."""
    return EPOCH + timedelta(microseconds=int(ts * 1_000_000))


def to_ts(moment: datetime) -> str:
    """A datetime as Slack's ts string, exact to the microsecond (no float rounding)."""
    delta = moment - EPOCH
    return f"{delta.days * 86400 + delta.seconds}.{delta.microseconds:06d}"


def domain(url: str) -> str:
    """``lumenharbor.slack.com`` from that or from ``https://lumenharbor.slack.com/``."""
    url = url.strip()
    return (urlsplit(url).netloc if "://" in url else url).strip("/")
