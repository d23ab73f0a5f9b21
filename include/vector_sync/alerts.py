"""Alerts: a task failed for good, a source recovered, a run is late, a source turned stale.

Every alert goes out through the providers' notifier classes, never a hand-rolled HTTP post:

- Slack: ``SlackNotifier`` (bot token, connection ``slack_api_default``, the configured
  channel) when that connection exists; if it does not, or the post fails (a revoked bot
  token is also what breaks the Slack source), ``SlackWebhookNotifier`` (connection
  ``slack_default``).
- Email: ``SmtpNotifier`` (connection ``smtp_default``) when that connection exists and the
  alert settings name recipients.

Settings come from the JSON Variable ``vector_sync_alerts``, e.g.
``{"slack_channel": "#alerts", "email_to": ["oncall@example.com"]}`` (keys: see
:class:`AlertSettings`). An invalid Variable never silences an alert: the defaults are used
and the alert says so.

Notifiers are called with ``notify(context)`` / ``async_notify(context)``, not
``notifier(context)``: the latter renders the text with Jinja first, and alert text quotes
API error messages, which are not templates (a ``{{`` in a Jira error must stay text).

Secrets never reach an alert: :func:`scrub` removes tokens, passwords, credentials in URLs
and webhook paths, and every value Airflow's secrets masker knows (connection passwords
read in this process).

Airflow is imported inside functions only; building the texts needs no Airflow.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence

log = logging.getLogger(__name__)

ALERTS_VARIABLE = "vector_sync_alerts"
ERROR_SUMMARY_CHARS = 600  # of the exception text in an alert; the log link has the rest
DEFAULT_FROM_EMAIL = "vector-sync@localhost"

# Alert kinds (the first word of every Slack text, so a channel filter can route them).
FAILURE, RECOVERED, LATE, UNHEALTHY, HEALTHY = "failure", "recovered", "late", "unhealthy", "healthy"
_ICONS = {FAILURE: ":red_circle:", RECOVERED: ":large_green_circle:", LATE: ":hourglass:", UNHEALTHY: ":warning:", HEALTHY: ":white_check_mark:"}


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


def scrub(text: str | None, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without credentials: known secret values, Airflow's masked values, and
    anything shaped like a token, password or credentialed URL."""
    if not text:
        return ""
    out = str(text)
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        out = out.replace(secret, "***")
    out = _airflow_redact(out)
    for pattern, replacement in _SECRET_PATTERNS:
        out = pattern.sub(replacement, out)
    return out


def _airflow_redact(text: str) -> str:
    """Airflow's secrets masker: every connection password and sensitive Variable this
    process has read is registered there."""
    try:
        from airflow.sdk._shared.secrets_masker import redact
    except Exception:  # pragma: no cover - outside Airflow
        return text
    try:
        redacted = redact(text)
    except Exception:  # pragma: no cover - the masker must never break an alert
        return text
    return redacted if isinstance(redacted, str) else text


def summarize_error(exception: BaseException | str | None, secrets: Iterable[str | None] = ()) -> str:
    """One scrubbed, bounded line (or a few) describing the failure."""
    if exception is None:
        return "the task failed (no exception recorded; see the log)"
    text = exception if isinstance(exception, str) else f"{type(exception).__name__}: {exception}"
    text = scrub(text, secrets).strip()
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
    def from_json(cls, raw: Any) -> "AlertSettings":
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


def alert_settings() -> AlertSettings:
    """The Variable ``vector_sync_alerts`` (metadata DB or ``AIRFLOW_VAR_VECTOR_SYNC_ALERTS``)."""
    try:
        from airflow.sdk import Variable

        raw = Variable.get(ALERTS_VARIABLE, default=None)
    except Exception:  # no Airflow context (CLI, tests of the texts): environment only
        raw = os.environ.get(f"AIRFLOW_VAR_{ALERTS_VARIABLE.upper()}")
    return AlertSettings.from_json(raw)


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
        lines = [f"{_ICONS.get(self.kind, '')} *vector-sync {self.kind}* · {_mrkdwn(self.title)}".strip()]
        lines += [f"• *{label}:* {_mrkdwn(value)}" for label, value in self.facts]
        if self.detail:
            lines.append("```" + self.detail.replace("```", "'''") + "```")
        if self.link:
            lines.append(f"<{self.link}|{self.link_label}>")
        lines += [f"_{_mrkdwn(note)}_" for note in self.notes]
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


def _mrkdwn(text: str) -> str:
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


def late_alert(*, source: str, dag_run: Mapping[str, Any], deadline_time: Any, interval_minutes: float, log_url: str | None = None) -> Alert:
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
    if schedule.get("state") == "stuck":  # vector_sync.schedule: which DAG, why, what to do
        facts += [("DAG", str(schedule.get("dag_id"))), ("Next run", f"{schedule.get('next_run')} (due {schedule.get('due_at')})"), ("Cause", str(schedule.get("cause"))), ("Fix", str(schedule.get("fix")))]
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


# ----------------------------------------------------------------------------- delivery


def _connection(conn_id: str) -> Any | None:
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception:
        return None


def _notifiers(alert: Alert, settings: AlertSettings, connection: Any) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """(Slack notifiers in fallback order, email notifiers) whose connections exist."""
    from airflow.providers.slack.notifications.slack import SlackNotifier
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    text = alert.slack_text()
    if settings.problem:
        text += f"\n_({_mrkdwn(settings.problem)})_"
    slack: list[tuple[str, Any]] = []
    if connection(settings.slack_conn_id) is not None:
        slack.append(("slack", SlackNotifier(slack_conn_id=settings.slack_conn_id, channel=settings.slack_channel, text=text, username="vector-sync", unfurl_links=False, unfurl_media=False)))
    if connection(settings.slack_webhook_conn_id) is not None:
        slack.append(("slack_webhook", SlackWebhookNotifier(slack_webhook_conn_id=settings.slack_webhook_conn_id, text=text, unfurl_links=False, unfurl_media=False)))
    email: list[tuple[str, Any]] = []
    smtp = connection(settings.smtp_conn_id) if settings.email_to else None
    if smtp is not None:
        sender = settings.email_from or (getattr(smtp, "extra_dejson", None) or {}).get("from_email") or DEFAULT_FROM_EMAIL
        body = alert.html() + (f"<p><em>{html.escape(settings.problem)}</em></p>" if settings.problem else "")
        email.append(("email", SmtpNotifier(to=list(settings.email_to), from_email=sender, subject=alert.subject(), html_content=body, smtp_conn_id=settings.smtp_conn_id)))
    return slack, email


def deliver(alert: Alert, context: Mapping[str, Any] | None = None, settings: AlertSettings | None = None) -> list[str]:
    """Send ``alert`` to Slack (first channel that works) and by email; returns where it went.

    Never raises: an alert that cannot be delivered is logged (scrubbed) instead.
    """
    settings = settings or alert_settings()
    if not settings.enabled:
        log.info("alerts disabled (Variable %s): %s", ALERTS_VARIABLE, alert.title)
        return []
    context = dict(context or {})
    try:
        slack, email = _notifiers(alert, settings, _connection)
    except Exception as exc:
        log.error("could not prepare the alert %r: %s", alert.title, scrub(str(exc)))
        return []
    delivered: list[str] = []
    for label, notifier in slack:
        try:
            notifier.notify(context)
        except Exception as exc:
            log.warning("alert via %s failed, trying the next channel: %s", label, scrub(str(exc)))
            continue
        delivered.append(label)
        break
    for label, notifier in email:
        try:
            notifier.notify(context)
            delivered.append(label)
        except Exception as exc:
            log.warning("alert email failed: %s", scrub(str(exc)))
    if not delivered:
        log.error("alert not delivered anywhere (configure %s, %s or %s): %s", settings.slack_conn_id, settings.slack_webhook_conn_id, settings.smtp_conn_id, alert.title)
    else:
        log.info("alert %r sent via %s", alert.title, ", ".join(delivered))
    return delivered


async def adeliver(alert: Alert, context: Mapping[str, Any] | None = None, settings: AlertSettings | None = None) -> list[str]:
    """:func:`deliver` for the triggerer: the notifiers' ``async_notify``."""
    from airflow.sdk import BaseHook

    if settings is None:
        # A Variable read is a blocking round trip to the supervisor: keep it off the event loop.
        settings = await asyncio.to_thread(alert_settings)
    if not settings.enabled:
        return []
    found: dict[str, Any] = {}
    for conn_id in {settings.slack_conn_id, settings.slack_webhook_conn_id, settings.smtp_conn_id}:
        try:
            found[conn_id] = await BaseHook.aget_connection(conn_id)
        except Exception:
            found[conn_id] = None
    context = dict(context or {})
    slack, email = _notifiers(alert, settings, found.get)
    delivered: list[str] = []
    for label, notifier in slack:
        try:
            await notifier.async_notify(context)
        except Exception as exc:
            log.warning("alert via %s failed, trying the next channel: %s", label, scrub(str(exc)))
            continue
        delivered.append(label)
        break
    for label, notifier in email:
        try:
            await notifier.async_notify(context)
            delivered.append(label)
        except Exception as exc:
            log.warning("alert email failed: %s", scrub(str(exc)))
    if not delivered:
        log.error("late-run alert not delivered anywhere: %s", alert.title)
    return delivered


# ----------------------------------------------------------------------------- deadline callback


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


async def deadline_missed(context: Mapping[str, Any], source: str, deadline_minutes: float) -> str:
    """Deadline Alert callback (``AsyncCallback``, run by the triggerer).

    ``context`` is what the scheduler hands a deadline callback in Airflow 3.3:
    ``{"dag_run": <DAGRunResponse as JSON>, "deadline": {"id", "deadline_time"}}``.
    Kwargs are not templated, so the text is built here.

    Returns one line for the callback's ``output`` column. It must be a string (or None):
    Airflow 3.3.2's triggerer stores the return value as is, and a dict makes the UPDATE fail
    on PostgreSQL and the triggerer exit.
    """
    dag_run = dict(context.get("dag_run") or {})
    deadline = dict(context.get("deadline") or {})
    skip = late_run_decision(dag_run, deadline.get("deadline_time"))
    if skip:
        log.info("deadline of %s missed but not alerted: %s", dag_run.get("dag_run_id"), skip)
        return f"not alerted: {skip}"
    alert = late_alert(source=source, dag_run=dag_run, deadline_time=deadline.get("deadline_time"), interval_minutes=deadline_minutes, log_url=_run_url(dag_run))
    delivered = await adeliver(alert, context)
    return f"alerted via {', '.join(delivered)}" if delivered else "alert not delivered (see the triggerer log)"


def deadline_missed_sync(context: Mapping[str, Any], source: str, deadline_minutes: float) -> str:
    """The same callback for ``SyncCallback`` (runs on the executor instead of the triggerer)."""
    dag_run = dict(context.get("dag_run") or {})
    deadline = dict(context.get("deadline") or {})
    skip = late_run_decision(dag_run, deadline.get("deadline_time"))
    if skip:
        log.info("deadline of %s missed but not alerted: %s", dag_run.get("dag_run_id"), skip)
        return f"not alerted: {skip}"
    alert = late_alert(source=source, dag_run=dag_run, deadline_time=deadline.get("deadline_time"), interval_minutes=deadline_minutes, log_url=_run_url(dag_run))
    delivered = deliver(alert, context)
    return f"alerted via {', '.join(delivered)}" if delivered else "alert not delivered (see the log)"


def _run_url(dag_run: Mapping[str, Any]) -> str | None:
    from urllib.parse import quote

    dag_id, run_id = dag_run.get("dag_id"), dag_run.get("dag_run_id")
    if not dag_id or not run_id:
        return None
    try:
        from airflow.sdk.configuration import conf

        base = conf.get("api", "base_url", fallback="http://localhost:8080/")
    except Exception:  # pragma: no cover
        base = "http://localhost:8080/"
    return f"{base.rstrip('/')}/dags/{dag_id}/runs/{quote(str(run_id))}"


def minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 4)
