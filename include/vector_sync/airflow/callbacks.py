"""What Airflow calls when something goes wrong or right again, and how alerts leave.

- ``on_task_failure``: a sync, prune or permission task failed for good.
- ``announce_recovery``: a record step resolved open failures.
- ``on_health_failure``: the freshness check itself failed.
- ``deadline_missed`` / ``deadline_missed_sync``: a run's Deadline Alert fired.

Alerts are built by the Airflow-free ``vector_sync.alerts`` and delivered here through the
providers' notifier classes, never a hand-rolled HTTP post:

- Slack: ``SlackNotifier`` (bot token, connection ``slack_api_default``, the configured
  channel) when that connection exists; if it does not, or the post fails (a revoked bot
  token is also what breaks the Slack source), ``SlackWebhookNotifier`` (connection
  ``slack_default``).
- Email: ``SmtpNotifier`` (connection ``smtp_default``) when that connection exists and the
  alert settings name recipients.

Notifiers are called with ``notify(context)`` / ``async_notify(context)``, not
``notifier(context)``: the latter renders the text with Jinja first, and alert text quotes
API error messages, which are not templates (a ``{{`` in a Jira error must stay text).
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from vector_sync import alerts
from vector_sync.airflow.backends import Runtime
from vector_sync.airflow.settings import alert_settings, connection_secrets, settings_or_defaults
from vector_sync.airflow.windows import failed_window, interval_window
from vector_sync.alerts import Alert, AlertSettings
from vector_sync.models import Window
from vector_sync.protocol import RunPlan

log = logging.getLogger(__name__)

HEALTH_DAG_ID = "vector_sync_health"
OPTIMIZE_DAG_ID = "vector_sync_optimize"
# dag_id prefixes of maintenance DAGs: their runs sync no window (see on_task_failure).
MAINTENANCE_KINDS = ("prune", "permissions")


# ----------------------------------------------------------------------------- secrets


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


def scrub(text: str | None, secrets: Iterable[str | None] = ()) -> str:
    """``alerts.scrub`` plus every value Airflow's secrets masker knows."""
    return alerts.scrub(text, secrets, redact=_airflow_redact)


def summarize_error(exception: BaseException | str | None, secrets: Iterable[str | None] = ()) -> str:
    return alerts.summarize_error(exception, secrets, redact=_airflow_redact)


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
        text += f"\n_({alerts.mrkdwn(settings.problem)})_"
    slack: list[tuple[str, Any]] = []
    if connection(settings.slack_conn_id) is not None:
        slack.append(
            (
                "slack",
                SlackNotifier(
                    slack_conn_id=settings.slack_conn_id,
                    channel=settings.slack_channel,
                    text=text,
                    username="vector-sync",
                    unfurl_links=False,
                    unfurl_media=False,
                ),
            )
        )
    if connection(settings.slack_webhook_conn_id) is not None:
        slack.append(
            (
                "slack_webhook",
                SlackWebhookNotifier(
                    slack_webhook_conn_id=settings.slack_webhook_conn_id, text=text, unfurl_links=False, unfurl_media=False
                ),
            )
        )
    email: list[tuple[str, Any]] = []
    smtp = connection(settings.smtp_conn_id) if settings.email_to else None
    if smtp is not None:
        sender = settings.email_from or (getattr(smtp, "extra_dejson", None) or {}).get("from_email") or alerts.DEFAULT_FROM_EMAIL
        body = alert.html() + (f"<p><em>{html.escape(settings.problem)}</em></p>" if settings.problem else "")
        email.append(
            (
                "email",
                SmtpNotifier(
                    to=list(settings.email_to),
                    from_email=sender,
                    subject=alert.subject(),
                    html_content=body,
                    smtp_conn_id=settings.smtp_conn_id,
                ),
            )
        )
    return slack, email


def deliver(alert: Alert, context: Mapping[str, Any] | None = None, settings: AlertSettings | None = None) -> list[str]:
    """Send ``alert`` to Slack (first channel that works) and by email; returns where it went.

    Never raises: an alert that cannot be delivered is logged (scrubbed) instead.
    """
    settings = settings or alert_settings()
    if not settings.enabled:
        log.info("alerts disabled (Variable %s): %s", alerts.ALERTS_VARIABLE, alert.title)
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
        log.error(
            "alert not delivered anywhere (configure %s, %s or %s): %s",
            settings.slack_conn_id,
            settings.slack_webhook_conn_id,
            settings.smtp_conn_id,
            alert.title,
        )
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


# ----------------------------------------------------------------------------- task failures


def on_task_failure(context: Mapping[str, Any]) -> None:
    """A task failed for good (Airflow calls this after the last try, not on retries): keep
    a ``sync_failures`` row, mark the window failed in ``sync_runs``, and alert (Slack, email)."""
    task_instance = context.get("ti") or context.get("task_instance")
    dag_id = getattr(context.get("dag"), "dag_id", "") or getattr(task_instance, "dag_id", "") or ""
    name = dag_id.removeprefix("vector_sync_")
    # A prune or permission run (vector_sync_prune_<source>, vector_sync_permissions_<source>)
    # syncs no window: its failure is recorded and alerted, but must not mark a window failed.
    kind, _, rest = name.partition("_")
    is_sync = kind not in MAINTENANCE_KINDS or not rest
    name = name if is_sync else rest
    task_id = getattr(task_instance, "task_id", "") or ""
    run_id = context.get("run_id", "") or getattr(task_instance, "run_id", "")
    try_number = int(getattr(task_instance, "try_number", 0) or 0)
    secrets = connection_secrets(name)
    message = summarize_error(context.get("exception"), secrets)
    now = datetime.now(timezone.utc)
    window: Window | None = None
    try:
        runtime = Runtime()
        if is_sync:
            window = failed_window(context, settings_or_defaults(name), runtime.state.runs.last_sync(name), now)
        runtime.state.runs.record_failure(
            source=name,
            run_id=run_id,
            task_id=task_id,
            window_start=window.start if window else None,
            window_end=window.end if window else None,
            error_message=message,
            try_number=try_number,
            occurred_at=now,
        )
        if window is not None:
            from vector_sync import pipeline

            pipeline.record(runtime.state, name, run_id, window, now, {}, status="failed", error_message=message)
    except Exception as exc:  # the alert below must go out even when the state DB is down
        log.error("could not record the failure of %s.%s: %s", dag_id, task_id, scrub(str(exc), secrets))
    try:
        if window is None and is_sync:
            window = interval_window(context)
        alert = alerts.failure_alert(
            source=name,
            dag_id=dag_id,
            task_id=task_id,
            run_id=run_id,
            window_start=window.start if window else None,
            window_end=window.end if window else None,
            error=message,
            try_number=try_number,
            max_tries=getattr(task_instance, "max_tries", None),
            log_url=getattr(task_instance, "log_url", None),
        )
        deliver(alert, context)
    except Exception as exc:  # never hide the original failure
        log.error("could not send the failure alert of %s.%s: %s", dag_id, task_id, scrub(str(exc), secrets))


def announce_recovery(plan: RunPlan, result: Mapping[str, Any]) -> None:
    """After a successful record step (``result``) that resolved open failures: post
    "recovered", with the windows still failed (they keep ``last_sync`` back until cleared)."""
    name = plan.source
    resolved = int(result.get("resolved_failures") or 0)
    if resolved <= 0:
        return
    try:
        try:
            failed = [tuple(w) for w in Runtime().state.runs.failed_windows(name)]
        except Exception:
            failed = []
        deliver(
            alerts.recovered_alert(
                source=name,
                run_id=plan.run_id,
                window_start=plan.window.start,
                window_end=plan.window.end,
                resolved=resolved,
                last_sync=result.get("last_sync"),
                failed_windows=failed,
            )
        )
    except Exception as exc:
        log.error("could not send the recovery notice of %s: %s", name, scrub(str(exc)))


def on_health_failure(context: Mapping[str, Any]) -> None:
    """The watcher itself failed: say so (nothing else would)."""
    _alert_store_wide_failure(context, HEALTH_DAG_ID, "health", "the freshness check failed: stale sources would go unnoticed")


def on_optimize_failure(context: Mapping[str, Any]) -> None:
    """The index maintenance failed: searches stay correct, but slow down as the index grows."""
    _alert_store_wide_failure(
        context, OPTIMIZE_DAG_ID, "index", "the index maintenance failed: searches stay correct but slow down until it succeeds"
    )


def _alert_store_wide_failure(context: Mapping[str, Any], dag_id: str, source: str, title: str) -> None:
    """A failure alert for a DAG of no one source (no window to mark failed)."""
    task_instance = context.get("ti") or context.get("task_instance")
    alert = alerts.Alert(
        kind=alerts.FAILURE,
        source=source,
        title=title,
        facts=(("Task", f"{dag_id}.{getattr(task_instance, 'task_id', '?')}"), ("Run", str(context.get("run_id", "")))),
        detail=summarize_error(context.get("exception"), connection_secrets(None)),
        link=getattr(task_instance, "log_url", None),
    )
    deliver(alert, context)


# ----------------------------------------------------------------------------- deadlines


async def deadline_missed(context: Mapping[str, Any], source: str, deadline_minutes: float) -> str:
    """Deadline Alert callback (``AsyncCallback``, run by the triggerer).

    ``context`` is what the scheduler hands a deadline callback in Airflow 3.3:
    ``{"dag_run": <DAGRunResponse as JSON>, "deadline": {"id", "deadline_time"}}``.
    Kwargs are not templated, so the text is built here.

    Returns one line for the callback's ``output`` column. It must be a string (or None):
    Airflow 3.3.2's triggerer stores the return value as is, and a dict makes the UPDATE fail
    on PostgreSQL and the triggerer exit.
    """
    alert, skip = _late_alert(context, source, deadline_minutes)
    if alert is None:
        return f"not alerted: {skip}"
    delivered = await adeliver(alert, context)
    return f"alerted via {', '.join(delivered)}" if delivered else "alert not delivered (see the triggerer log)"


def deadline_missed_sync(context: Mapping[str, Any], source: str, deadline_minutes: float) -> str:
    """The same callback for ``SyncCallback`` (runs on the executor instead of the triggerer)."""
    alert, skip = _late_alert(context, source, deadline_minutes)
    if alert is None:
        return f"not alerted: {skip}"
    delivered = deliver(alert, context)
    return f"alerted via {', '.join(delivered)}" if delivered else "alert not delivered (see the log)"


def _late_alert(context: Mapping[str, Any], source: str, deadline_minutes: float) -> tuple[Alert | None, str | None]:
    """The late-run alert of a deadline callback's context, or why none is due."""
    dag_run = dict(context.get("dag_run") or {})
    deadline = dict(context.get("deadline") or {})
    skip = alerts.late_run_decision(dag_run, deadline.get("deadline_time"))
    if skip:
        log.info("deadline of %s missed but not alerted: %s", dag_run.get("dag_run_id"), skip)
        return None, skip
    alert = alerts.late_alert(
        source=source,
        dag_run=dag_run,
        deadline_time=deadline.get("deadline_time"),
        interval_minutes=deadline_minutes,
        log_url=_run_url(dag_run),
    )
    return alert, None


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
