"""The freshness watch: vector_sync_health alerts once per incident and once on recovery."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.alertkit import ALERT_EMAIL, SmtpSink, make_world, slack_posts
from vector_sync import alerts, pipeline
from vector_sync.health import HealthBook, check, run_check
from vector_sync.models import Window
from vector_sync.state import StateStore
from vector_sync.status import SourceStatus


@pytest.fixture()
def world(airflow_db, sandbox, monkeypatch, tmp_path):
    with SmtpSink() as smtp:
        yield make_world(monkeypatch, sandbox, tmp_path, smtp)


def synced(state, source: str, end: datetime, status: str = "success", minutes: int = 30) -> None:
    """A run of ``source`` over the window ending at ``end``, as the record step stores it."""
    window = Window(end - timedelta(minutes=minutes), end)
    pipeline.record(
        state, source, f"scheduled__{end.isoformat()}", window, end, {}, status=status, error_message="boom" if status == "failed" else None
    )


def test_health_dag_checks_every_15_minutes():
    from airflow.sdk import CronTriggerTimetable

    from vector_sync.airflow.health import build_health_dag

    dag = build_health_dag()
    assert dag.dag_id == "vector_sync_health" and dag.task_ids == ["check_freshness"]
    assert isinstance(dag.timetable, CronTriggerTimetable) and dag.timetable.expression == "*/15 * * * *"
    assert dag.catchup is False and dag.max_active_runs == 1


def test_one_alert_per_incident_and_one_on_recovery(world):
    from vector_sync.airflow.health import build_health_dag

    state, sandbox = world.state, world.sandbox
    now = datetime.now(timezone.utc).replace(microsecond=0)
    synced(state, "jira", now - timedelta(hours=2))  # threshold 60 min: stale
    synced(state, "slack", now - timedelta(minutes=5))  # threshold 30 min: healthy
    synced(state, "fireflies", now - timedelta(minutes=90))
    synced(state, "fireflies", now - timedelta(minutes=10), status="failed")  # failed window: failed
    dag = build_health_dag()

    def check_at(offset_s: int) -> dict:
        run = dag.test(logical_date=now + timedelta(seconds=offset_s), run_after=now + timedelta(seconds=offset_s))
        assert str(run.state) == "success"
        return {p["text"].split("\n", 1)[0].split("·", 1)[1].strip(): p for p in slack_posts(sandbox)}

    posts = check_at(1)
    assert set(posts) == {"jira is stale", "fireflies is failed"}  # notion/tempo never ran: still in their grace period
    assert "Failed windows:" in posts["fireflies is failed"]["text"]
    assert "Stale after:* 60 min" in posts["jira is stale"]["text"]
    assert sorted(m.subject for m in world.smtp.mails) == [
        "[vector-sync unhealthy] fireflies is failed",
        "[vector-sync unhealthy] jira is stale",
    ]
    assert all(m.recipients == [ALERT_EMAIL] for m in world.smtp.mails)

    assert len(slack_posts(sandbox)) == len(check_at(2)) == 2, "still stale: no second alert"

    synced(state, "jira", now, minutes=125)  # jira catches up (a window contiguous with its last sync)
    posts = check_at(3)
    assert set(posts) == {"jira is stale", "fireflies is failed", "jira is healthy again"}
    assert len(slack_posts(sandbox, alerts.HEALTHY)) == 1

    book = {row.source: row for row in HealthBook(state.engine).all()}
    assert book["jira"].incident_since is None and book["jira"].incidents == 1 and book["jira"].health == "healthy"
    assert book["fireflies"].incident_since is not None and book["fireflies"].alerted_at is not None
    assert book["slack"].incidents == 0


def _status(source: str, health: str, *, ran: bool = True) -> SourceStatus:
    return SourceStatus(
        source=source,
        health=health,
        last_sync="2026-11-20T12:00:00+00:00" if ran else None,
        age_minutes=90.0 if ran else None,
        stale_after_minutes=60.0,
        vectors=0,
        documents=0,
        last_run={"status": "success"} if ran else None,
    )


def test_an_undelivered_alert_is_sent_again_next_check_never_twice(tmp_path):
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    state.migrate()
    book = HealthBook(state.engine)
    book.migrate()
    book.migrate()  # idempotent
    t0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
    answers = iter([False, True, True])  # Slack down at the first check
    sent: list[str] = []

    def notify(event) -> bool:
        sent.append(f"{event.source}:{event.kind}")
        return next(answers)

    for minute in (0, 15, 30):
        run_check([_status("jira", "stale")], book, notify, t0 + timedelta(minutes=minute))
    assert sent == ["jira:opened", "jira:opened"]
    run_check([_status("jira", "healthy")], book, notify, t0 + timedelta(minutes=45))
    assert sent[-1] == "jira:recovered"


def test_a_source_that_never_ran_alerts_after_its_own_threshold(tmp_path):
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    state.migrate()
    book = HealthBook(state.engine)
    book.migrate()
    t0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
    assert check([_status("notion", "stale", ran=False)], book, t0) == []
    assert check([_status("notion", "stale", ran=False)], book, t0 + timedelta(minutes=59)) == []
    (event,) = check([_status("notion", "stale", ran=False)], book, t0 + timedelta(minutes=61))
    assert (event.source, event.kind, event.health) == ("notion", "opened", "stale")


def test_a_stuck_schedule_alerts_once_naming_the_dag_and_the_cause(world):
    """A manual run holding the logical date of vector_sync_jira's next scheduled run (what a
    demo run with Airflow's own dag.test semantics left behind) blocks it: the health DAG reads
    the schedule through the execution API and alerts once, naming the DAG, the run and the fix."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    from vector_sync.airflow.health import build_health_dag

    sandbox = world.sandbox
    now = datetime.now(timezone.utc).replace(microsecond=0)
    dag = build_health_dag()

    def check_at(offset_s: int) -> dict:
        run = dag.test(logical_date=now + timedelta(seconds=offset_s), run_after=now + timedelta(seconds=offset_s))
        assert str(run.state) == "success"
        return {p["text"].split("\n", 1)[0].split("·", 1)[1].strip(): p for p in slack_posts(sandbox)}

    check_at(1)  # dag.test writes every DAG of the folder to the metadata DB
    synced(world.state, "jira", now - timedelta(minutes=5))  # fresh data: only the schedule is wrong
    # With no scheduled run yet (catchup=False), the scheduler's next logical date is the start
    # of the latest complete interval: hold it by a manual run covering the interval before.
    from airflow.sdk import timezone as airflow_timezone
    from airflow.timetables.interval import CronDataIntervalTimetable

    latest = CronDataIntervalTimetable("*/30 * * * *", "UTC").infer_manual_data_interval(
        run_after=airflow_timezone.coerce_datetime(datetime.now(timezone.utc))
    )
    if (wait := 70 - (airflow_timezone.utcnow() - latest.end).total_seconds()) > 0:
        time.sleep(wait)  # the run is "due" a minute after its interval ends
    blocked = latest.start
    run_id = f"manual__{blocked.isoformat()}"
    with create_session() as session:
        model = session.scalar(select(DagModel).where(DagModel.dag_id == "vector_sync_jira"))
        saved = model.is_paused, model.next_dagrun
        model.is_paused = False  # as `make up` runs it (DAGS_ARE_PAUSED_AT_CREATION=False); a paused DAG is not stuck
        model.next_dagrun = blocked  # what the scheduler wants next (earlier tests' runs may have moved it)
        session.execute(delete(DagRun).where(DagRun.dag_id == "vector_sync_jira", DagRun.logical_date >= blocked - timedelta(minutes=30)))
        session.add(
            DagRun(
                dag_id="vector_sync_jira",
                run_id=run_id,
                logical_date=blocked,
                run_after=blocked,
                data_interval=(blocked - timedelta(minutes=30), blocked),
                run_type="manual",
                state="success",
            )
        )
    try:
        posts = check_at(2)
        stuck = posts["jira is stuck"]["text"]
        assert "vector_sync_jira" in stuck and run_id in stuck and "run already exists" in stuck
        assert "python -m vector_sync.airflow.schedule --repair" in stuck
        assert [m.subject for m in world.smtp.mails if "stuck" in m.subject] == ["[vector-sync unhealthy] jira is stuck"]
        assert "vector_sync_jira" in world.smtp.mails[-1].text
        check_at(3)
        assert len(slack_posts(sandbox, alerts.UNHEALTHY)) == 1, "one alert per incident"
        book = {row.source: row for row in HealthBook(world.state.engine).all()}
        assert book["jira"].incident_health == "stuck" and book["jira"].alerted_at is not None

        # The repair gives the run its interval's start: the schedule moves again.
        from vector_sync.airflow.schedule import repair_replays

        (change,) = [c for c in repair_replays() if c["run_id"] == run_id]
        assert change["new_logical_date"] == (blocked - timedelta(minutes=30)).isoformat()
    finally:
        with create_session() as session:
            session.execute(delete(DagRun).where(DagRun.dag_id == "vector_sync_jira", DagRun.run_id == run_id))
            model = session.scalar(select(DagModel).where(DagModel.dag_id == "vector_sync_jira"))
            model.is_paused, model.next_dagrun = saved
