"""The DAG file parses cleanly and builds one well-formed DAG per registered source."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import ROOT
from vector_sync.sources import registered_sources
from vector_sync.specs import source_settings

OLD_SCHEDULES = {"slack": "*/15 * * * *", "jira": "*/30 * * * *", "fireflies": "0 * * * *", "notion": "15 * * * *", "tempo": "*/30 * * * *"}
CHAIN = ["plan", "fetch", "filter_active_projects", "embed", "upsert", "record"]
MAPPED = {"fetch", "embed", "upsert"}  # parts and batches: several workers share a window


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors_and_one_sync_and_prune_dag_per_registered_source(dagbag):
    assert dagbag.import_errors == {}
    names = registered_sources()
    expected = {f"vector_sync_{n}" for n in names} | {f"vector_sync_prune_{n}" for n in names}
    expected |= {"vector_sync_permissions_slack", "vector_sync_permissions_fireflies"}  # tests/test_permissions.py
    assert expected <= set(dagbag.dag_ids)
    expected |= {f"vector_sync_{n}_events" for n in names if n != "tempo"}  # webhooks (tests/test_webhook_events.py)
    expected |= {f"vector_sync_rebuild_{n}" for n in names}  # tests/test_rebuild_dag.py
    assert set(dagbag.dag_ids) - expected <= {"vector_sync_health", "vector_sync_optimize"}  # no placeholder DAGs


@pytest.mark.parametrize("name", registered_sources())
def test_prune_dag_is_weekly_and_guarded(dagbag, name):
    dag = dagbag.dags[f"vector_sync_prune_{name}"]
    assert dag.task_ids == ["prune"]
    assert set(dag.params) == {"force", "dry_run"} and dag.params["force"] is False


@pytest.mark.parametrize("name", registered_sources())
def test_task_chain_schedule_and_limits(dagbag, name):
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.dags[f"vector_sync_{name}"]
    assert sorted(dag.task_ids) == sorted(CHAIN)
    for upstream, downstream in zip(CHAIN, CHAIN[1:]):
        assert downstream in dag.get_task(upstream).downstream_task_ids
    assert dag.get_task("fetch").downstream_task_ids == {"filter_active_projects", "record"}
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    assert {t.task_id for t in dag.tasks if isinstance(t, MappedOperator)} == MAPPED
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == OLD_SCHEDULES[name] == source_settings(name).schedule
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    fetch = dag.get_task("fetch")
    assert fetch.pool == f"{name}_api"
    assert fetch.retries >= 3 and fetch.retry_exponential_backoff


@pytest.mark.parametrize("name", registered_sources())
def test_consecutive_scheduled_intervals_are_contiguous_and_non_empty(dagbag, name):
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    timetable = coerce_to_core_timetable(dagbag.dags[f"vector_sync_{name}"].timetable)
    import pendulum

    restriction = TimeRestriction(earliest=pendulum.datetime(2026, 11, 1, tz="UTC"), latest=None, catchup=True)
    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    second = timetable.next_dagrun_info(last_automated_data_interval=DataInterval(*first.data_interval), restriction=restriction)
    width = (first.data_interval.end - first.data_interval.start).total_seconds()
    assert 0 < width <= timedelta(hours=1).total_seconds()
    assert second.data_interval.start == first.data_interval.end
    assert (second.data_interval.end - second.data_interval.start).total_seconds() == width
