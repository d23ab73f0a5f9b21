"""Failure, recovery and late-run alerts, read back where they land: the Slack simulator's
recorded posts (bot chat.postMessage and the incoming webhook) and a real local SMTP server.

The DAG tests run each source DAG with ``dag.test`` against the sandbox, as the DAG file
builds it, with retry waits cut to a second.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from sandbox.server import Fault
from tests.alertkit import ALERT_EMAIL, SmtpSink, alert_env, make_world, slack_posts, source_dag, task_states
from tests.conftest import ANCHOR
from vector_sync import alerts
from vector_sync.airflow import callbacks
from vector_sync.alerts import AlertSettings, scrub

JIRA_INTERVAL = timedelta(minutes=30)
JIRA_OVERLAP = timedelta(minutes=5)


@pytest.fixture()
def world(airflow_db, sandbox, monkeypatch, tmp_path):
    with SmtpSink() as smtp:
        yield make_world(monkeypatch, sandbox, tmp_path, smtp)


def all_alert_text(world) -> str:
    return "\n".join([p.get("text") or "" for p in slack_posts(world.sandbox)] + [m.text for m in world.smtp.mails])


# ----------------------------------------------------------------------------- texts


@pytest.mark.parametrize(
    "raw, secret",
    [
        ("POST https://svc:hunter22@api.example.com/v1 failed", "hunter22"),
        ("invalid token xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
        ("webhook https://hooks.slack.com/services/T0AAA/B0BBB/s3cr3tv4lue refused", "s3cr3tv4lue"),
        ("GET /search?jql=x&api_key=AKIA12345678&limit=5", "AKIA12345678"),
        ("{'Authorization': 'Bearer abc.def.ghi-123', 'x': 1}", "abc.def.ghi-123"),
        ('{"password": "p4ssw0rd!", "login": "dana"}', "p4ssw0rd!"),
        ("openai said: incorrect key sk-proj-abcdefghijklmnop1234", "sk-proj-abcdefghijklmnop1234"),
        ("notion rejected ntn_1234567890abcdef", "ntn_1234567890abcdef"),
    ],
)
def test_scrub_removes_credentials(raw, secret):
    cleaned = scrub(raw)
    assert secret not in cleaned and "***" in cleaned


def test_scrub_removes_known_secret_values_anywhere():
    assert scrub("auth failed for sandbox-token at host", secrets=["sandbox-token"]) == "auth failed for *** at host"


def test_alert_settings_come_from_the_variable_and_a_broken_one_never_silences():
    settings = AlertSettings.from_json('{"slack_channel": "#ops", "email_to": "a@example.com, b@example.com"}')
    assert settings.slack_channel == "#ops" and settings.email_to == ("a@example.com", "b@example.com")
    broken = AlertSettings.from_json('{"slack_channel": ')
    assert broken.slack_channel == "#alerts" and "not valid JSON" in broken.problem
    odd = AlertSettings.from_json('{"channel": "#x"}')
    assert "unknown keys ['channel']" in odd.problem


def test_error_text_is_not_rendered_as_a_template(world):
    """An API error quoting ``{{ ... }}`` reaches Slack verbatim (notifiers get notify(), not Jinja)."""
    alert = alerts.failure_alert(
        source="jira",
        dag_id="vector_sync_jira",
        task_id="fetch",
        run_id="r1",
        window_start=ANCHOR - JIRA_INTERVAL,
        window_end=ANCHOR,
        error="JIRAError: field {{ summary }} is {% broken %}",
        try_number=1,
        max_tries=5,
        log_url=None,
    )
    assert callbacks.deliver(alert) == ["slack", "email"]
    assert "{{ summary }} is {% broken %}" in slack_posts(world.sandbox)[-1]["text"]


# ----------------------------------------------------------------------------- failures through Airflow


def test_failure_alerts_once_after_the_last_retry_then_recovery_and_the_gap(world, capsys):
    """Interval 2 of 3 fails after its retries: one alert (Slack + email), a sync_failures row,
    last_sync held at the gap and the window listed by `vector-sync status`; interval 3
    succeeds and posts "recovered"; clearing interval 2 closes the gap."""
    from vector_sync import cli

    state, sandbox = world.state, world.sandbox
    dag = source_dag("jira", retries=1)
    ends = [ANCHOR - 2 * JIRA_INTERVAL, ANCHOR - JIRA_INTERVAL, ANCHOR]

    assert str(dag.test(logical_date=ends[0], run_after=ends[0]).state) == "success"
    sandbox.faults.add(Fault(api="jira", kind="status", status=500, times=1000))  # an outage longer than the retries
    failed = dag.test(logical_date=ends[1], run_after=ends[1])
    sandbox.faults.clear()
    assert str(failed.state) == "failed"
    assert task_states(failed)["plan"] == ("failed", 2)  # both tries spent

    posts = slack_posts(sandbox, alerts.FAILURE)
    assert len(posts) == 1, "one alert per failed task, not one per try"
    text = posts[0]["text"]
    window = f"{(ends[1] - JIRA_INTERVAL - JIRA_OVERLAP):%Y-%m-%d %H:%M:%S} UTC .. {ends[1]:%Y-%m-%d %H:%M:%S} UTC"
    for expected in (
        "jira",
        "vector_sync_jira.plan",
        window,
        "2 of 2",
        "HTTP 500",
        "/dags/vector_sync_jira/runs/",
        "tasks/plan?try_number=2",
    ):
        assert expected in text, expected
    assert posts[0]["via"] == "chat.postMessage" and posts[0]["channel"] == "C0ALERTS"
    mails = [m for m in world.smtp.mails if "failure" in m.subject]
    assert len(mails) == 1 and mails[0].recipients == [ALERT_EMAIL]
    assert window in mails[0].text and "vector_sync_jira.plan" in mails[0].text
    failures = state.runs.open_failures("jira")
    assert [(f.task_id, f.try_number) for f in failures] == [("plan", 2)]
    assert (failures[0].window_start, failures[0].window_end) == (ends[1] - JIRA_INTERVAL - JIRA_OVERLAP, ends[1])

    assert str(dag.test(logical_date=ends[2], run_after=ends[2]).state) == "success"
    assert state.runs.last_sync("jira") == ends[0], "a failed window holds last_sync back"
    assert state.runs.open_failures("jira") == []  # resolved by the next success ...
    recovered = slack_posts(sandbox, alerts.RECOVERED)
    assert len(recovered) == 1 and "Resolved failures:* 1" in recovered[0]["text"]
    assert "Still failed windows" in recovered[0]["text"] and window in recovered[0]["text"]  # ... but the gap is named
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    gap = f"failed window {(ends[1] - JIRA_INTERVAL - JIRA_OVERLAP).isoformat()} .. {ends[1].isoformat()}"
    assert gap in out and "jira       failed" in out

    assert str(dag.test(logical_date=ends[1], run_after=ends[1]).state) == "success"  # "Clear" of the failed run
    assert state.runs.last_sync("jira") == ends[2]
    assert state.runs.failed_windows("jira") == []
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    jira_line = next(line for line in out.splitlines() if line.startswith("jira "))
    assert "failed window" not in out and " failed " not in jira_line  # stale only: the sample lies days back
    assert "sandbox-token" not in all_alert_text(world)


def test_rejected_bot_token_fails_at_once_and_the_alert_falls_back_to_the_webhook(world, monkeypatch):
    """The Slack source's token is also the alert bot's: when Slack rejects it, the alert goes
    through the incoming webhook instead, naming the connection and not the token."""
    good = json.loads(__import__("os").environ["AIRFLOW_CONN_SLACK_API_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", json.dumps({**good, "password": "xoxb-wrong-token-000"}))
    end = ANCHOR
    run = source_dag("slack").test(logical_date=end, run_after=end)
    assert str(run.state) == "failed"
    assert task_states(run)["plan"] == ("failed", 1)  # no retries spent on a rejected credential
    posts = slack_posts(world.sandbox, alerts.FAILURE)
    assert [p["via"] for p in posts] == ["webhook"]
    assert "rejected the credentials of connection 'slack_api_default'" in posts[0]["text"]
    assert "wrong-token" not in all_alert_text(world)
    assert world.state.runs.failed_windows("slack")

    monkeypatch.setenv("AIRFLOW_CONN_SLACK_API_DEFAULT", json.dumps(good))
    assert str(source_dag("slack").test(logical_date=end, run_after=end).state) == "success"
    recovered = slack_posts(world.sandbox, alerts.RECOVERED)
    assert [p["via"] for p in recovered] == ["chat.postMessage"]
    assert world.state.runs.failed_windows("slack") == [] and world.state.runs.open_failures("slack") == []


@pytest.mark.parametrize(
    "setup, named",
    [
        (lambda mp: mp.delenv("AIRFLOW_CONN_JIRA_DEFAULT"), "connection 'jira_default' is not defined"),
        (lambda mp: mp.setenv("AIRFLOW_VAR_VECTOR_SYNC_JIRA", '{"overlap_minutes": 5,'), "Variable 'vector_sync_jira' is not valid JSON"),
        (lambda mp: mp.setenv("AIRFLOW_VAR_VECTOR_SYNC_JIRA", "[1,2]"), "Variable 'vector_sync_jira' must be a JSON object"),
        (lambda mp: mp.setenv("AIRFLOW_VAR_VECTOR_SYNC_JIRA", '{"overlap_minute": 5}'), "unknown setting 'overlap_minute'"),
        (
            lambda mp: mp.setenv("AIRFLOW_VAR_VECTOR_SYNC_JIRA", '{"options": {"page_sise": 50}}'),
            "unknown option 'page_sise' of source 'jira'",
        ),
        (
            lambda mp: mp.setenv("AIRFLOW_VAR_VECTOR_SYNC_JIRA", '{"options": {"page_size": 0}}'),
            "option 'page_size' of source 'jira' must be an integer from 1 to 100 (Variable vector_sync_jira), got 0",
        ),
        (
            lambda mp: mp.setenv("AIRFLOW_VAR_VECTOR_SYNC_CONFIG", '{"embedder": "word2vec"}'),
            "setting 'embedder' of Variable vector_sync_config",
        ),
    ],
    ids=[
        "missing-connection",
        "variable-not-json",
        "variable-not-object",
        "unknown-setting",
        "unknown-option",
        "option-out-of-range",
        "unknown-backend",
    ],
)
def test_bad_configuration_fails_at_once_naming_the_setting(world, monkeypatch, setup, named):
    setup(monkeypatch)
    dag = source_dag("jira")  # built like the DAG file: a broken override must not break parsing
    assert dag.get_task("fetch").retries == 5
    run = dag.test(logical_date=ANCHOR, run_after=ANCHOR)
    assert str(run.state) == "failed"
    assert task_states(run)["plan"] == ("failed", 1), "retried a configuration error"
    posts = slack_posts(world.sandbox, alerts.FAILURE)
    assert len(posts) == 1 and named in posts[0]["text"]
    assert named in world.state.runs.open_failures("jira")[0].error_message


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1,2]",
        '"jira"',
        '{"overlap_minutes": -5}',
        '{"schedule": "every tuesday"}',
        '{"options": 7}',
        '{"options": {"page_size": 0}}',
        '{"options": {"max_partitions": -1}}',
        '{"options": {"prune_schedule": "x"}}',
    ],
)
def test_broken_override_in_the_environment_keeps_every_dag_parseable(monkeypatch, raw):
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT
    from vector_sync.airflow.maintenance import permissions_sources
    from vector_sync.sources import registered_sources

    monkeypatch.setenv("AIRFLOW_VAR_VECTOR_SYNC_JIRA", raw)
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    expected = {f"vector_sync_{kind}{name}" for name in registered_sources() for kind in ("", "prune_")}
    expected |= {f"vector_sync_permissions_{name}" for name in permissions_sources()}
    assert expected <= set(bag.dag_ids)


def test_a_prune_failure_alerts_without_marking_a_sync_window_failed(world):
    from types import SimpleNamespace

    from vector_sync.airflow.callbacks import on_task_failure

    ti = SimpleNamespace(
        dag_id="vector_sync_prune_jira",
        task_id="prune",
        run_id="scheduled__2026-11-22T03:00:00+00:00",
        try_number=3,
        max_tries=2,
        log_url="http://airflow/log",
    )
    context = {
        "dag": SimpleNamespace(dag_id=ti.dag_id),
        "ti": ti,
        "run_id": ti.run_id,
        "exception": RuntimeError("guard: 45% of jira would be deleted"),
    }
    on_task_failure(context)
    (post,) = slack_posts(world.sandbox, alerts.FAILURE)
    assert "vector_sync_prune_jira.prune" in post["text"] and "45% of jira" in post["text"] and "3 of 3" in post["text"]
    (failure,) = world.state.runs.open_failures("jira")
    assert (failure.task_id, failure.window_start) == ("prune", None)
    assert world.state.runs.recent("jira") == [] and world.state.runs.failed_windows("jira") == []


# ----------------------------------------------------------------------------- late runs (Deadline Alert)


def test_every_source_dag_has_a_deadline_alert_and_tuned_retries(monkeypatch):
    from airflow.sdk import AsyncCallback
    from airflow.sdk.definitions.deadline import DagRunQueuedAtDeadline

    from vector_sync.airflow.dags import RETRY_DEFAULTS, TASK_RETRIES, build_source_dag
    from vector_sync.sources import registered_sources
    from vector_sync.specs import source_settings

    for name in registered_sources():
        dag = build_source_dag(name)
        (alert,) = dag.deadline
        assert isinstance(alert.reference, DagRunQueuedAtDeadline)
        assert alert.interval == source_settings(name).deadline
        assert isinstance(alert.callback, AsyncCallback)
        assert alert.callback.path == "vector_sync.airflow.callbacks.deadline_missed"
        assert alert.callback.kwargs == {"source": name, "deadline_minutes": source_settings(name).deadline.total_seconds() / 60}
        for task in dag.tasks:
            assert task.retry_exponential_backoff == RETRY_DEFAULTS["retry_exponential_backoff"]
            assert task.max_retry_delay == timedelta(minutes=10)
            assert task.retries == TASK_RETRIES[task.task_id]["retries"]
            assert task.on_failure_callback and not task.on_retry_callback
    assert TASK_RETRIES["fetch"]["retries"] > RETRY_DEFAULTS["retries"] > TASK_RETRIES["record"]["retries"]
    monkeypatch.setenv("AIRFLOW_VAR_VECTOR_SYNC_SLACK", '{"deadline_minutes": 2}')  # parse-time override
    assert build_source_dag("slack").deadline[0].interval == timedelta(minutes=2)


def _deadline_context(state: str, run_type: str = "scheduled", end_date: str | None = None) -> dict:
    """What the scheduler hands a deadline callback in Airflow 3.3 (Deadline.handle_miss)."""
    start = ANCHOR - JIRA_INTERVAL
    return {
        "dag_run": {
            "dag_run_id": f"{run_type}__{start.isoformat()}",
            "dag_id": "vector_sync_jira",
            "logical_date": start.isoformat(),
            "queued_at": (ANCHOR + timedelta(seconds=5)).isoformat(),
            "start_date": (ANCHOR + timedelta(seconds=6)).isoformat(),
            "end_date": end_date,
            "data_interval_start": start.isoformat(),
            "data_interval_end": ANCHOR.isoformat(),
            "run_type": run_type,
            "state": state,
            "conf": {},
        },
        "deadline": {"id": "0192", "deadline_time": ANCHOR + timedelta(minutes=45, seconds=5)},
    }


def test_deadline_callback_posts_and_emails_a_late_run(world):
    result = asyncio.run(callbacks.deadline_missed(_deadline_context("running"), source="jira", deadline_minutes=45))
    assert result == "alerted via slack, email"
    (post,) = slack_posts(world.sandbox, alerts.LATE)
    for expected in (
        "jira: run not finished 45 min after it was queued",
        "scheduled__2026-11-20T11:30:00+00:00",
        "2026-11-20T11:30:00+00:00 .. 2026-11-20T12:00:00+00:00",
        "State then:* running",
    ):
        assert expected in post["text"], expected
    (mail,) = world.smtp.mails
    assert mail.subject.startswith("[vector-sync late] jira") and mail.recipients == [ALERT_EMAIL]


@pytest.mark.parametrize(
    "state, run_type, end_date, reason",
    [
        ("failed", "scheduled", None, "already failed"),  # Airflow 3.3 still fires a failed run's deadline
        ("running", "backfill", None, "backfill"),
        ("success", "manual", (ANCHOR + timedelta(minutes=3)).isoformat(), "before its deadline"),
    ],
)
def test_deadline_callback_stays_quiet_when_the_miss_says_nothing_new(world, state, run_type, end_date, reason):
    result = asyncio.run(callbacks.deadline_missed(_deadline_context(state, run_type, end_date), source="jira", deadline_minutes=45))
    assert result.startswith("not alerted: ") and reason in result
    assert slack_posts(world.sandbox) == [] and world.smtp.mails == []


def test_sync_deadline_callback_uses_the_same_text(world):
    result = callbacks.deadline_missed_sync(_deadline_context("queued"), source="jira", deadline_minutes=45)
    assert result == "alerted via slack, email"
    assert "State then:* queued" in slack_posts(world.sandbox, alerts.LATE)[0]["text"]


def test_without_a_bot_connection_alerts_use_the_webhook(world, monkeypatch):
    alert_env(monkeypatch, world.sandbox, None, bot=False)
    alert = alerts.recovered_alert(
        source="jira", run_id="r", window_start=ANCHOR - JIRA_INTERVAL, window_end=ANCHOR, resolved=2, last_sync=ANCHOR
    )
    assert callbacks.deliver(alert) == ["slack_webhook"]
    assert [p["via"] for p in slack_posts(world.sandbox)] == ["webhook"]
    assert world.smtp.mails == []  # no recipients configured


def test_a_tempo_failure_shows_no_secret_of_any_connection_it_uses(world, monkeypatch, capsys):
    """Tempo reads Jira through ``jira_default`` and embeds with ``openai_default``: a failure
    text quoting the Jira password and an OpenAI key of no known shape keeps neither in
    ``sync_failures``, ``status --json`` (what ``/api/status`` serves), Slack or email."""
    from types import SimpleNamespace

    from vector_sync import cli
    from vector_sync.airflow.callbacks import on_task_failure

    jira_password, openai_key = "Jira-Pa55w0rd-of-Dana", "opaque4f1b9c2e77d0"
    jira = json.loads(__import__("os").environ["AIRFLOW_CONN_JIRA_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_DEFAULT", json.dumps({**jira, "password": jira_password}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_OPENAI_DEFAULT", json.dumps({"conn_type": "openai", "host": "http://127.0.0.1:9/v1", "password": openai_key})
    )
    monkeypatch.setenv("AIRFLOW_VAR_VECTOR_SYNC_CONFIG", json.dumps({"embedder": "hashing"}))  # status must not call OpenAI

    ti = SimpleNamespace(
        dag_id="vector_sync_tempo",
        task_id="fetch",
        run_id="scheduled__2026-11-22T10:00:00+00:00",
        try_number=6,
        max_tries=5,
        log_url="http://airflow/log",
    )
    error = RuntimeError(f"Jira look-up failed: basic auth dana@example.com {jira_password} refused; embedder key {openai_key} expired")
    on_task_failure({"dag": SimpleNamespace(dag_id=ti.dag_id), "ti": ti, "run_id": ti.run_id, "exception": error})

    (failure,) = world.state.runs.open_failures("tempo")
    assert "Jira look-up failed" in failure.error_message
    assert cli.main(["status", "--json"]) == 0
    status = capsys.readouterr().out
    assert "Jira look-up failed" in status
    alerts_text = all_alert_text(world)
    assert "Jira look-up failed" in alerts_text
    for secret in (jira_password, openai_key):
        for where, text in (("sync_failures", failure.error_message), ("status --json", status), ("alerts", alerts_text)):
            assert secret not in text, f"{secret} reached {where}"
