"""Alerts: a task failed for good, a source recovered, a run is late, a source turned stale.

This module builds and formats them (Slack mrkdwn, email HTML) and keeps secrets out of them;
it does not import Airflow. Delivery through the providers' notifiers, and the callbacks
that send alerts, live in ``vector_sync.airflow.callbacks``.

Settings come from the JSON Variable ``vector_sync_alerts``, e.g.
``{"slack_channel": "#alerts", "email_to": ["oncall@example.com"]}`` (keys: see
:class:`AlertSettings`). An invalid Variable never silences an alert: the defaults are used
and the alert says so.

Secrets never reach an alert: :func:`scrub` removes tokens, passwords, credentials in URLs
and webhook paths, and (given Airflow's masker as ``redact``) every value Airflow knows to
be secret.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

log = logging.getLogger(__name__)

ALERTS_VARIABLE = "vector_sync_alerts"
ERROR_SUMMARY_CHARS = 600  # of the exception text in an alert; the log link has the rest
DEFAULT_FROM_EMAIL = "vector-sync@localhost"

# Alert kinds (the first word of every Slack text, so a channel filter can route them).
FAILURE, RECOVERED, LATE, UNHEALTHY, HEALTHY = "failure", "recovered", "late", "unhealthy", "healthy"
_ICONS = {
    FAILURE: ":red_circle:",
    RECOVERED: ":large_green_circle:",
    LATE: ":hourglass:",
    UNHEALTHY: ":warning:",
    HEALTHY: ":white_check_mark:",
}


# ----------------------------------------------------------------------------- secrets


_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # user:password@ in any URL
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1***:***@"),
    # Slack tokens (bot, user, app, refresh, config) and incoming-webhook paths
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9\-]+"), "xox*-***"),
    (re.compile(r"\bxapp-[A-Za-z0-9\-]+"), "xapp-***"),
    (re.compile(r"/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"), "/services/***"),
    # OpenAI / Notion / Pinecone / GitHub style keys
    (re.compile(r"\b(?:sk|pk|rk)-(?:proj-)?[A-Za-z0-9_\-]{12,}"), "sk-***"),
    (re.compile(r"\b(?:ntn|secret|pcsk|ghp|gho|glpat)_[A-Za-z0-9_\-]{8,}"), "***"),
    # Authorization headers
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{6,}"), r"\1 ***"),
    # key=value and "key": "value" pairs with a secret-sounding key (query strings, JSON, reprs)
    (
        re.compile(
            r"(?i)([\"']?\b(?:password|passwd|pwd|secret|token|access_token|refresh_token|api[_\-]?key|apikey|"
            r"client_secret|authorization|signature|sig)[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]+)"
        ),
        r"\1***",
    ),
)


def scrub(text: str | None, secrets: Iterable[str | None] = (), redact: Callable[[str], str] | None = None) -> str:
    """``text`` without credentials: known secret values, the values ``redact`` masks
    (Airflow's secrets masker, passed by the Airflow layer), and anything shaped like a token,
    password or credentialed URL."""
    if not text:
        return ""
    out = str(text)
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        out = out.replace(secret, "***")
    if redact is not None:
        out = redact(out)
    for pattern, replacement in _SECRET_PATTERNS:
        out = pattern.sub(replacement, out)
    return out


def summarize_error(
    exception: BaseException | str | None, secrets: Iterable[str | None] = (), redact: Callable[[str], str] | None = None
) -> str:
    """One scrubbed, bounded line (or a few) describing the failure."""
    if exception is None:
        return "the task failed (no exception recorded; see the log)"
    text = exception if isinstance(exception, str) else f"{type(exception).__name__}: {exception}"
    text = scrub(text, secrets, redact).strip()
    if len(text) > ERROR_SUMMARY_CHARS:
        text = text[: ERROR_SUMMARY_CHARS - 15].rstrip() + " ... [cut]"
    return text


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go. Every field can be set in the Variable ``vector_sync_alerts``."""

    slack_channel: str = "#alerts"
    slack_conn_id: str = "slack_api_default"  # bot token (SlackNotifier)
    slack_webhook_conn_id: str = "slack_default"  # incoming webhook (SlackWebhookNotifier)
    smtp_conn_id: str = "smtp_default"
    email_to: tuple[str, ...] = ()
    email_from: str | None = None  # None: the SMTP connection's ``from_email`` extra
    enabled: bool = True
    problem: str | None = None  # why the Variable was ignored, shown in every alert

    @classmethod
    def from_json(cls, raw: Any) -> AlertSettings:
        """Settings from the Variable's value (a JSON string or an already parsed dict)."""
        if raw in (None, ""):
            return cls()
        try:
            data = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError as exc:
            return cls(problem=f"Variable {ALERTS_VARIABLE} is not valid JSON ({exc.msg}); defaults used")
        if not isinstance(data, Mapping):
            return cls(problem=f"Variable {ALERTS_VARIABLE} must be a JSON object; defaults used")
        known = {k: v for k, v in data.items() if k in _SETTING_KEYS}
        unknown = sorted(set(data) - set(known))
        email_to = known.pop("email_to", ())
        if isinstance(email_to, str):
            email_to = [part.strip() for part in email_to.split(",") if part.strip()]
        settings = cls(**known, email_to=tuple(email_to or ()))
        if unknown:
            settings = replace(settings, problem=f"Variable {ALERTS_VARIABLE} has unknown keys {unknown} (ignored)")
        return settings


_SETTING_KEYS = {"slack_channel", "slack_conn_id", "slack_webhook_conn_id", "smtp_conn_id", "email_to", "email_from", "enabled"}


# ----------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Alert:
    """One alert, rendered as Slack mrkdwn and as an email."""

    kind: str
    source: str
    title: str
    facts: tuple[tuple[str, str], ...] = ()
    detail: str = ""  # preformatted (the error summary)
    link: str | None = None
    link_label: str = "Log"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def slack_text(self) -> str:
        lines = [f"{_ICONS.get(self.kind, '')} *vector-sync {self.kind}* · {mrkdwn(self.title)}".strip()]
        lines += [f"• *{label}:* {mrkdwn(value)}" for label, value in self.facts]
        if self.detail:
            lines.append("```" + self.detail.replace("```", "'''") + "```")
        if self.link:
            lines.append(f"<{self.link}|{self.link_label}>")
        lines += [f"_{mrkdwn(note)}_" for note in self.notes]
        return "\n".join(lines)

    def subject(self) -> str:
        return f"[vector-sync {self.kind}] {self.title}"[:200]

    def html(self) -> str:
        rows = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in self.facts)
        parts = [f"<h3>{html.escape(self.title)}</h3>", f"<table>{rows}</table>"]
        if self.detail:
            parts.append(f"<pre>{html.escape(self.detail)}</pre>")
        if self.link:
            parts.append(f"<p><a href='{html.escape(self.link, quote=True)}'>{html.escape(self.link_label)}</a></p>")
        parts += [f"<p><em>{html.escape(note)}</em></p>" for note in self.notes]
        return "".join(parts)


def mrkdwn(text: str) -> str:
    """Slack's three control characters, escaped as Slack documents."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _window_text(start: datetime | str | None, end: datetime | str | None) -> str:
    if start is None or end is None:
        return "unknown"
    return f"{_iso(start)} .. {_iso(end)}"


def _iso(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def failure_alert(
    *,
    source: str,
    dag_id: str,
    task_id: str,
    run_id: str,
    window_start: datetime | None,
    window_end: datetime | None,
    error: str,
    try_number: int,
    max_tries: int | None,
    log_url: str | None,
) -> Alert:
    """A task failed for good (retries spent, or a non-retryable error)."""
    tries = f"{try_number} of {max_tries + 1}" if max_tries is not None and max_tries + 1 >= try_number else str(try_number)
    return Alert(
        kind=FAILURE,
        source=source,
        title=f"{source}: task {task_id} failed",
        facts=(
            ("Source", source),
            ("Task", f"{dag_id}.{task_id}"),
            ("Run", run_id),
            ("Window", _window_text(window_start, window_end)),
            ("Try", tries),
        ),
        detail=error,
        link=log_url,
        notes=("The window stays listed as failed (`vector-sync status`) until the run is cleared and succeeds.",) if window_start else (),
    )


def recovered_alert(
    *,
    source: str,
    run_id: str,
    window_start: datetime,
    window_end: datetime,
    resolved: int,
    last_sync: datetime | str | None,
    failed_windows: Sequence[tuple[datetime, datetime, str]] = (),
) -> Alert:
    """A run of a source with open failures succeeded; its failures are resolved."""
    facts = [
        ("Source", source),
        ("Run", run_id),
        ("Window", _window_text(window_start, window_end)),
        ("Resolved failures", str(resolved)),
        ("last_sync", _iso(last_sync) if last_sync else "never"),
    ]
    notes: tuple[str, ...] = ()
    if failed_windows:
        listed = "; ".join(_window_text(s, e) for s, e, _ in failed_windows[:5])
        more = f" and {len(failed_windows) - 5} more" if len(failed_windows) > 5 else ""
        facts.append(("Still failed windows", f"{listed}{more}"))
        notes = ("last_sync stays at the first gap until those runs are cleared and succeed.",)
    return Alert(kind=RECOVERED, source=source, title=f"{source}: syncing again", facts=tuple(facts), notes=notes)


def late_alert(
    *, source: str, dag_run: Mapping[str, Any], deadline_time: Any, interval_minutes: float, log_url: str | None = None
) -> Alert:
    """A run was not finished ``interval_minutes`` after it was queued (Deadline Alert)."""
    start, end = dag_run.get("data_interval_start"), dag_run.get("data_interval_end")
    conf = dag_run.get("conf") or {}
    if conf.get("start") and conf.get("end"):
        start, end = conf["start"], conf["end"]
    window = _window_text(start, end) if start and end and start != end else "catch-up window (no data interval)"
    return Alert(
        kind=LATE,
        source=source,
        title=f"{source}: run not finished {interval_minutes:g} min after it was queued",
        facts=(
            ("Source", source),
            ("Run", str(dag_run.get("dag_run_id") or dag_run.get("run_id") or "?")),
            ("Window", window),
            ("Queued at", _iso(dag_run["queued_at"]) if dag_run.get("queued_at") else "?"),
            ("Deadline", _iso(deadline_time) if deadline_time else "?"),
            ("State then", str(dag_run.get("state") or "?")),
        ),
        link=log_url,
        link_label="Run",
        notes=("A slow API, a full pool or a stopped worker; the run goes on and alerts again if it fails.",),
    )


def health_alert(*, source: str, health: str, opened: bool, detail: Mapping[str, Any], since: datetime | None = None) -> Alert:
    """A source turned stale/failed/stuck (once per incident), or is healthy again."""
    last_sync = detail.get("last_sync")
    age = detail.get("age_minutes")
    facts = [
        ("Source", source),
        ("Health", health),
        ("last_sync", str(last_sync or "never")),
        ("Age", f"{age:.0f} min" if isinstance(age, (int, float)) else "-"),
        ("Stale after", f"{detail.get('stale_after_minutes', 0):g} min"),
    ]
    windows = detail.get("failed_windows") or []
    if windows:
        facts.append(("Failed windows", "; ".join(f"{w['window_start']} .. {w['window_end']}" for w in windows[:5])))
    schedule = detail.get("schedule") or {}
    if schedule.get("state") == "stuck":  # vector_sync.airflow.schedule: which DAG, why, what to do
        facts += [
            ("DAG", str(schedule.get("dag_id"))),
            ("Next run", f"{schedule.get('next_run')} (due {schedule.get('due_at')})"),
            ("Cause", str(schedule.get("cause"))),
            ("Fix", str(schedule.get("fix"))),
        ]
    facts += [("Problem", str(problem)) for problem in (detail.get("problems") or [])[:3]]  # needs-rebuild: the command
    if since is not None:
        facts.append(("Incident since", _iso(since)))
    if opened:
        title = f"{source} is {health}"
        notes: tuple[str, ...] = ("One alert per incident; the next one says when it recovers.",)
        kind = UNHEALTHY
    else:
        title = f"{source} is healthy again"
        notes = ()
        kind = HEALTHY
    return Alert(kind=kind, source=source, title=title, facts=tuple(facts), notes=notes)


# ----------------------------------------------------------------------------- late runs


def late_run_decision(dag_run: Mapping[str, Any], deadline_time: Any) -> str | None:
    """Why a missed deadline should NOT alert, or None when it should.

    - A run that FAILED before its deadline already sent a failure alert; Airflow 3.3 still
      fires its deadline later (deadlines are pruned only on success), so skip it.
    - Backfill runs are all queued at once and started a few at a time: a deadline measured
      from ``queued_at`` says nothing about them (a 90-day backfill would send hundreds).
    """
    state = str(dag_run.get("state") or "").lower()
    run_type = str(dag_run.get("run_type") or "").lower()
    if run_type == "backfill":
        return "backfill run (queued with the whole backfill)"
    if state == "failed":
        return "run already failed (its failure alert was sent)"
    if state == "success":
        end = _as_datetime(dag_run.get("end_date"))
        limit = _as_datetime(deadline_time)
        if end is not None and limit is not None and end <= limit:
            return "run finished before its deadline"
    return None


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 4)
