"""Scale-out, verified without Docker: the CeleryExecutor topology as processes on this machine.

PostgreSQL metadata (a fresh database, dropped after), a Redis broker (its own db number,
flushed before and after, and a queue of this run's own), the api-server (execution API),
scheduler, dag-processor, triggerer and TWO ``airflow celery worker`` processes, each with its
own AIRFLOW_HOME, working directory, TMPDIR and data folder (tests/clusterkit.py). Between
tasks, data goes only through the staging bucket (moto's S3 server, ``aws_default`` with an
endpoint_url); state is on PostgreSQL (``vector_sync_db``, another fresh database) and the
index is the sandbox's Pinecone simulator fed by its OpenAI simulator (``pinecone_default`` /
``openai_default`` pointing at the sandbox this test runs in-process).

Every registered source's DAG runs one replay window (conf start/end) over the whole sample,
with 4 Slack fetch parts (channel groups), a fetch per day of the sample for the other
sources (time slices) and the embed/upsert steps in several batches. Then:
(1) both workers ran mapped fetch/embed/upsert task instances (task_instance.hostname, the
task's log in that worker's own home, and the Celery task id in that worker's own log agree);
(2) the Pinecone index holds, per source, exactly the ids a single-machine run of the same
window (pipeline.run_window into a temporary LanceDB) produces; (3) sync_runs has one success
per source for that window; and no process left anything in its local data folder.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import timedelta

import pytest

from sandbox import build_sandbox
from tests.clusterkit import (
    ClusterConfig,
    Topology,
    bucket_keys,
    create_bucket,
    elapsed,
    pinecone_index,
    postgres_database,
    redis_broker,
    worker_of_celery_task,
)
from tests.composekit import s3_server
from tests.sourcekit import FAST, Backends
from vector_sync.airflow.bootstrap import connection_json, projects_from
from vector_sync.models import Window
from vector_sync.sources import registered_sources
from vector_sync.state import StateStore
from vector_sync.stores.pinecone import PineconeStore

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

WORKERS = ("worker-a", "worker-b")
# The embed/upsert split: a window is cut into batches of at least "embed_batch_docs" (default
# 2,000) documents and at most "max_embed_batches" (16); the sample has 22-335 documents per
# source, so the options make every source's window exactly 3 embed and 3 upsert batches.
BATCHES = 3
SLACK_PARTITIONS = 4


def source_options(name: str) -> dict:
    options = {"embed_batch_docs": 1, "max_embed_batches": BATCHES, **FAST.get(name, {}).get("options", {})}
    if name == "slack":
        options["max_partitions"] = SLACK_PARTITIONS
    return options


STARTUP_TIMEOUT_S = 150
RUN_TIMEOUT_S = 240


def whole_sample(workspace) -> Window:
    return Window(workspace.start - timedelta(hours=1), workspace.anchor)


@pytest.fixture(scope="module")
def cluster(workspace, tmp_path_factory):
    """Everything above, started; yields (topology, sandbox, index, s3 endpoint, timings)."""
    import os

    if os.environ.get("VECTOR_SYNC_SKIP_POSTGRES") == "1":
        pytest.skip("VECTOR_SYNC_SKIP_POSTGRES=1")
    base = tmp_path_factory.mktemp("cluster")
    timings: dict[str, float] = {}
    started = time.monotonic()
    with (
        postgres_database("vs_airflow") as metadata_url,
        postgres_database("vs_state") as state_url,
        redis_broker() as broker_url,
        s3_server() as s3_endpoint,
        build_sandbox(workspace) as sandbox,
    ):
        from vector_sync.embedders.openai import OpenAIEmbedder, make_client

        # The index first, with the embedder's dimension (what `vector-sync index create` does).
        dimension = OpenAIEmbedder(make_client(f"{sandbox.base_url('openai')}/v1", "sandbox-token")).dimensions
        index = pinecone_index(sandbox.url, dimension)
        bucket = create_bucket(s3_endpoint)
        config = ClusterConfig(
            executor="CeleryExecutor",
            workers=WORKERS,
            concurrency=2,
            variables={f"vector_sync_{name}": {"options": source_options(name)} for name in registered_sources()},
        )
        topology = Topology(base, config, metadata_url, state_url, sandbox.url, s3_endpoint, bucket, broker_url)
        state = StateStore(state_url.render_as_string(hide_password=False))
        state.migrate()
        state.projects.upsert(projects_from(topology.settings))
        try:
            topology.prepare()
            timings["migrate_s"] = elapsed(started)
            topology.start_components()
            topology.wait_ready([f"vector_sync_{name}" for name in registered_sources()], STARTUP_TIMEOUT_S)
            timings["ready_s"] = elapsed(started)
            yield topology, sandbox, PineconeStore(index), s3_endpoint, state, timings
        finally:
            topology.stop()
            state.engine.dispose()
            assert topology.alive() == [], f"still running: {topology.alive()}"


def reference_ids(tmp_path, sandbox, settings, window: Window) -> dict[str, set[str]]:
    """The same window synced on one machine, in this process, into a temporary LanceDB."""
    with pytest.MonkeyPatch.context() as mp:
        for entry in settings["connections"]:
            mp.setenv(f"AIRFLOW_CONN_{entry['conn_id'].upper()}", connection_json(entry))
        mp.delenv("AIRFLOW_CONN_VECTOR_SYNC_DB", raising=False)
        kit = Backends(tmp_path, settings)
        ids = {}
        for name in registered_sources():
            kit.run(name, window, run_id=f"reference-{name}")
            ids[name] = set(kit.store.ids(f"{name}:"))
        return ids


def test_every_source_syncs_across_two_celery_workers(cluster, workspace, tmp_path):
    topology, sandbox, index, s3_endpoint, state, timings = cluster
    window = whole_sample(workspace)
    conf = {"start": window.start.isoformat(), "end": window.end.isoformat()}
    sources = registered_sources()
    started = time.monotonic()
    runs = {}
    for name in sources:
        dag_id = f"vector_sync_{name}"
        topology.unpause(dag_id)
        runs[dag_id] = topology.trigger(dag_id, f"manual__cluster_{name}", conf)
    topology.wait_runs(runs, RUN_TIMEOUT_S)
    timings["runs_s"] = elapsed(started)

    # (1) Both workers ran mapped task instances; three records agree on which worker ran what.
    tis = topology.task_instances(runs)
    celery_owner = worker_of_celery_task(topology)
    ran_on: dict[str, Counter] = defaultdict(Counter)
    for ti in tis:
        assert ti["state"] == "success", ti
        assert ti["hostname"] in WORKERS, ti
        logs = topology.log_files(ti)
        assert list(logs) == [ti["hostname"]], (
            f"{ti['dag_id']}.{ti['task_id']}[{ti['map_index']}]: logs in {list(logs)}, hostname {ti['hostname']}"
        )
        assert celery_owner.get(ti["external_executor_id"]) == ti["hostname"], ti
        assert ti["queued_by_job_id"] is not None
        ran_on[ti["hostname"]][(ti["task_id"], ti["map_index"] >= 0)] += 1
    print(f"\ntask instances per worker: { {w: dict(c) for w, c in ran_on.items()} }")
    for worker in WORKERS:
        mapped = sum(n for (task_id, is_mapped), n in ran_on[worker].items() if is_mapped and task_id in ("fetch", "embed", "upsert"))
        assert mapped >= 1, f"{worker} ran no mapped fetch/embed/upsert: {dict(ran_on[worker])}"

    # The mapping itself: 4 Slack channel groups, one fetch per day of the 3-day sample for the
    # others (time slices), BATCHES embed and upsert batches per source.
    expanded = Counter((ti["dag_id"], ti["task_id"]) for ti in tis if ti["map_index"] >= 0)
    assert expanded[("vector_sync_slack", "fetch")] == SLACK_PARTITIONS
    for name in sources:
        if name != "slack":
            assert expanded[(f"vector_sync_{name}", "fetch")] == workspace.days, name
    for name in sources:
        assert expanded[(f"vector_sync_{name}", "embed")] == expanded[(f"vector_sync_{name}", "upsert")] == BATCHES, name

    # (2) The shared index equals a single-machine run of the same window, per source.
    expected = reference_ids(tmp_path, sandbox, topology.settings, window)
    for name in sources:
        landed = set(index.ids(f"{name}:"))
        assert expected[name], f"{name}: the reference run stored nothing"
        assert landed == expected[name], f"{name}: {len(landed - expected[name])} extra, {len(expected[name] - landed)} missing"
    assert index.count() == sum(len(ids) for ids in expected.values())

    # (3) sync_runs: one success per source, for exactly the replayed window and run.
    for name in sources:
        rows = state.runs.recent(name)
        assert [(r.run_id, r.status, r.window_start, r.window_end) for r in rows] == [
            (runs[f"vector_sync_{name}"], "success", window.start, window.end)
        ], name
        assert rows[0].upserted == len(expected[name]), name

    # Data went through the bucket, and no process kept any of it on its own disk.
    staged = bucket_keys(s3_endpoint, topology.bucket, "staging/")
    for name in sources:
        assert any(key.startswith(f"staging/{name}/") for key in staged), name
    for proc_name, home in topology.homes.items():
        local = [p for p in (home.parent / "data").rglob("*") if p.is_file()]
        assert local == [], f"{proc_name} wrote to its local data folder: {local[:5]}"
    assert sandbox.log.status_count("openai", 400) == sandbox.log.status_count("pinecone", 400) == 0
    print(f"timings: {timings}, task instances: {len(tis)} ({sum(1 for t in tis if t['map_index'] >= 0)} mapped)")
