"""Scale-out benchmark: the whole sandbox workspace at a larger scale, every registered source's
DAG run once (one replay window each, all at once), through

* LocalExecutor: one machine's scheduler running the tasks itself (``--concurrency`` slots),
* CeleryExecutor with two ``airflow celery worker`` processes (``--concurrency`` slots each),

on the same topology otherwise (tests/clusterkit.py: PostgreSQL metadata and state, S3 staging
on moto's server, the sandbox's OpenAI and Pinecone simulators, api-server, scheduler,
dag-processor, triggerer, each process with its own home, cwd and TMPDIR). The sandbox runs in
its own process, restarted for each executor so both start from the same empty index.

Every sandbox answer takes ``--latency-ms`` (default 50 ms; Slack, Jira or OpenAI answer in
50-500 ms): with zero latency the run is CPU-bound, and on one machine four Celery task slots
only share the same cores that LocalExecutor's two use.

Peak RSS per task: the task processes (``airflow worker -- <task instance id>``, the task
runner each task gets) are sampled from /proc every 0.1 s: ``VmHWM`` (the kernel's high-water
mark of the process's RSS, pages shared with the parent after fork included) and the ``Pss``
of ``smaps_rollup`` (shared pages split among their users). No hook in the task code is needed.

Prints one JSON line:
{"bench": "cluster", "local_s", "celery_2_workers_s", "ratio" (local_s / celery_2_workers_s:
the two workers' speed-up, > 1 is faster), "peak_task_rss_mb", "peak_task_pss_mb",
"peak_task_rss_mb_by_task", "tasks", "vectors", ...}

    .venv/bin/python bench/cluster.py [--scale 90] [--concurrency 2] [--latency-ms 50] [--sources jira slack]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from vector_sync.cli.output import emit, reserved_stdout

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
TASK_TITLE = re.compile(rb"^airflow worker -- ([0-9a-f-]{36})")


class TaskMemory:
    """Samples the task runner processes on this machine: peak VmHWM and Pss per task instance."""

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.rss_kb: dict[str, int] = defaultdict(int)
        self.pss_kb: dict[str, int] = defaultdict(int)
        self.uss_kb: dict[str, int] = defaultdict(int)  # private pages: the task's own memory
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="task-memory", daemon=True)

    def __enter__(self) -> TaskMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        match = TASK_TITLE.match(handle.read())
                    if not match:
                        continue
                    ti_id = match.group(1).decode()
                    with open(f"/proc/{pid}/status") as handle:
                        for line in handle:
                            if line.startswith("VmHWM:"):
                                self.rss_kb[ti_id] = max(self.rss_kb[ti_id], int(line.split()[1]))
                    private = 0
                    with open(f"/proc/{pid}/smaps_rollup") as handle:
                        for line in handle:
                            if line.startswith("Pss:"):
                                self.pss_kb[ti_id] = max(self.pss_kb[ti_id], int(line.split()[1]))
                            elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                                private += int(line.split()[1])
                    self.uss_kb[ti_id] = max(self.uss_kb[ti_id], private)
                except (OSError, ValueError):
                    continue
            self._stop.wait(self.interval_s)


@contextlib.contextmanager
def sandbox_process(scale: int, latency_ms: float = 0.0) -> Iterator[str]:
    """`vector-sync sandbox serve` at ``scale`` in its own process; yields its URL."""
    from tests.clusterkit import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "vector_sync.cli",
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--scale",
        str(scale),
        "--anchor",
        ANCHOR.isoformat(),
        "--latency-ms",
        str(latency_ms),
    ]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        import urllib.request

        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_sandbox/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sandbox did not start: {server.stderr.read()[-2000:] if server.stderr else ''}") from None
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def run_mode(executor: str, args: argparse.Namespace, s3_endpoint: str, sources: list[str], base: Path) -> dict[str, Any]:
    """One executor: fresh databases, bucket, sandbox and topology; every source's DAG once."""
    from tests.clusterkit import (
        ClusterConfig,
        Topology,
        create_bucket,
        pinecone_index,
        postgres_database,
        redis_broker,
    )
    from vector_sync.airflow.bootstrap import projects_from
    from vector_sync.state import StateStore
    from vector_sync.stores.pinecone import PineconeStore

    celery = executor == "CeleryExecutor"
    window_start = ANCHOR - timedelta(days=args.days)
    conf = {"start": window_start.isoformat(), "end": ANCHOR.isoformat()}
    with contextlib.ExitStack() as stack:
        sandbox_url = stack.enter_context(sandbox_process(args.scale, args.latency_ms))
        metadata_url = stack.enter_context(postgres_database("vs_bench_airflow"))
        state_url = stack.enter_context(postgres_database("vs_bench_state"))
        broker_url = stack.enter_context(redis_broker()) if celery else None
        index = pinecone_index(sandbox_url, args.dimensions)
        bucket = create_bucket(s3_endpoint)
        config = ClusterConfig(
            executor=executor,
            workers=("worker-a", "worker-b") if celery else (),
            concurrency=args.concurrency,
            variables={"vector_sync_notion": {"options": {"rps": None}}},  # zero-latency sandbox, as in make bench
            logging_level="INFO" if celery else "WARNING",
        )
        topology = Topology(base / executor, config, metadata_url, state_url, sandbox_url, s3_endpoint, bucket, broker_url)
        state = StateStore(state_url.render_as_string(hide_password=False))
        state.migrate()
        state.projects.upsert(projects_from(topology.settings))
        stack.callback(state.engine.dispose)
        stack.callback(topology.stop)
        setup = time.monotonic()
        topology.prepare()
        topology.start_components()
        topology.wait_ready([f"vector_sync_{name}" for name in sources], timeout_s=300)
        setup_s = time.monotonic() - setup
        runs: dict[str, str] = {}
        with TaskMemory() as memory:
            started = time.monotonic()
            for name in sources:
                dag_id = f"vector_sync_{name}"
                topology.unpause(dag_id)
                runs[dag_id] = topology.trigger(dag_id, f"manual__bench_{name}", conf)
            topology.wait_runs(runs, args.timeout)
            wall_s = time.monotonic() - started
        tis = topology.task_instances(runs)
        by_task: dict[str, float] = defaultdict(float)
        pss_by_task: dict[str, float] = defaultdict(float)
        by_source_task: dict[str, float] = defaultdict(float)
        uss_by_task: dict[str, float] = defaultdict(float)
        for ti in tis:
            key = str(ti["id"])
            if key in memory.rss_kb:
                by_task[ti["task_id"]] = max(by_task[ti["task_id"]], memory.rss_kb[key] / 1024)
                pss_by_task[ti["task_id"]] = max(pss_by_task[ti["task_id"]], memory.pss_kb.get(key, 0) / 1024)
                where = f"{ti['dag_id'].removeprefix('vector_sync_')}.{ti['task_id']}"
                by_source_task[where] = max(by_source_task[where], memory.rss_kb[key] / 1024)
                uss_by_task[ti["task_id"]] = max(uss_by_task[ti["task_id"]], memory.uss_kb.get(key, 0) / 1024)
        store = PineconeStore(index)
        vectors = {name: sum(1 for _ in store.ids(f"{name}:")) for name in sources}
        sync_runs = {name: [(r.status, r.fetched, r.upserted) for r in state.runs.recent(name)] for name in sources}
        busy_s = sum((ti["end_date"] - ti["start_date"]).total_seconds() for ti in tis if ti["start_date"] and ti["end_date"])
        per_worker: dict[str, int] = defaultdict(int)
        for ti in tis:
            per_worker[ti["hostname"] or "?"] += 1
        return {
            "wall_s": round(wall_s, 1),
            "setup_s": round(setup_s, 1),
            "tasks": len(tis),
            "mapped_tasks": sum(1 for ti in tis if ti["map_index"] >= 0),
            "task_seconds": round(busy_s, 1),
            "tasks_sampled": sum(1 for ti in tis if str(ti["id"]) in memory.rss_kb),
            "peak_task_rss_mb": round(max(by_task.values(), default=0.0)),
            "peak_task_pss_mb": round(max(pss_by_task.values(), default=0.0)),
            "peak_task_rss_mb_by_task": {k: round(v) for k, v in sorted(by_task.items())},
            "peak_task_pss_mb_by_task": {k: round(v) for k, v in sorted(pss_by_task.items())},
            "peak_task_uss_mb": round(max(uss_by_task.values(), default=0.0)),
            "peak_task_uss_mb_by_task": {k: round(v) for k, v in sorted(uss_by_task.items())},
            "largest_tasks_rss_mb": {k: round(v) for k, v in sorted(by_source_task.items(), key=lambda kv: -kv[1])[:6]},
            "tasks_per_host": dict(per_worker) if celery else {"local": len(tis)},
            "vectors": vectors,
            "sync_runs": {name: rows[0] if len(rows) == 1 else rows for name, rows in sync_runs.items()},
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--scale", type=int, default=90, help="sandbox workspace scale (default 90: about 100,000 chunks in all; 25: 28,000)"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="task slots of LocalExecutor and of each Celery worker")
    parser.add_argument("--days", type=float, default=30, help="the window: ANCHOR - days .. ANCHOR (default 30: the whole workspace)")
    parser.add_argument("--dimensions", type=int, default=1536, help="the index dimension (OpenAI text-embedding-3-small: 1536)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the runs of one executor")
    parser.add_argument("--sources", nargs="*", help="default: every registered source")
    parser.add_argument(
        "--latency-ms", type=float, default=50.0, help="added to every sandbox answer (default 50; remote APIs answer in 50-500 ms)"
    )
    parser.add_argument("--modes", nargs="*", default=["LocalExecutor", "CeleryExecutor"], choices=["LocalExecutor", "CeleryExecutor"])
    args = parser.parse_args()

    from tests.composekit import s3_server
    from vector_sync.sources import registered_sources

    sources = args.sources or registered_sources()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="vector-sync-bench-cluster-") as tmp, s3_server() as s3_endpoint:
        for mode in args.modes:
            print(
                f"# {mode}: scale {args.scale}, {', '.join(sources)}, {args.concurrency} slots{' x 2 workers' if mode == 'CeleryExecutor' else ''}",
                file=sys.stderr,
                flush=True,
            )
            results[mode] = run_mode(mode, args, s3_endpoint, sources, Path(tmp))
            print(f"# {mode}: {json.dumps(results[mode])}", file=sys.stderr, flush=True)
    local, celery = results.get("LocalExecutor"), results.get("CeleryExecutor")
    line: dict[str, Any] = {
        "bench": "cluster",
        "scale": args.scale,
        "sources": sources,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
    }
    if local:
        line["local_s"] = local["wall_s"]
    if celery:
        line["celery_2_workers_s"] = celery["wall_s"]
    if local and celery:
        line["ratio"] = round(local["wall_s"] / celery["wall_s"], 2)
        line["same_vectors"] = local["vectors"] == celery["vectors"]
    line["peak_task_rss_mb"] = max(r["peak_task_rss_mb"] for r in results.values())
    line["peak_task_pss_mb"] = max(r["peak_task_pss_mb"] for r in results.values())
    line["cpus"] = os.cpu_count()
    for mode, key in (("LocalExecutor", "local"), ("CeleryExecutor", "celery")):
        if mode in results:
            line[key] = results[mode]
    emit(json.dumps(line))
    return 0


if __name__ == "__main__":
    with reserved_stdout():  # results on stdout, every log line (Airflow's too) on stderr
        sys.exit(main())
