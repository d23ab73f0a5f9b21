"""Peak memory of the heavy tasks on a 100,000-chunk batch: is streaming really bounded?

A window's documents (synthetic, Jira-shaped, 900-3,600 cl100k tokens each: ~5 chunks) are
staged as a fetch task stages them; then the real task bodies run, each in a fresh process as
a worker runs a task: ``run_filter`` (all documents into ONE embed batch: options
``max_embed_batches: 1`` and a huge ``embed_batch_docs``), ``run_embed`` (OpenAI embedder,
1,536 dimensions, through the sandbox's OpenAI simulator) and ``run_upsert`` (Pinecone store,
the sandbox's Pinecone simulator). Connections come from ``AIRFLOW_CONN_*`` as on a worker;
staging is the file system, state SQLite.

Each step reports its process's ``VmHWM`` (peak RSS) and ``import_rss_mb``, its RSS once
Airflow's SDK and this package are imported, before any work: the difference is what the
step's data costs. Under Celery or LocalExecutor a task process also holds pages shared with
the worker it forked from: the ``cluster`` line measures those whole task processes.

``--embedder minilm`` runs the embedded default instead: no OpenAI or Pinecone connection, so
the embed step runs the offline MiniLM model in the task process (its weights and activations
are what that step adds) and the upsert step writes LanceDB. MiniLM reads ~5 such chunks/s on
one core here, so that line runs a smaller batch (``bench/run.py``: 500 chunks); what it
adds over the OpenAI path is the model, not the batch (embed batches stream).

Prints one JSON line:
{"bench": "task_memory", "embedder": E, "chunks": C, "documents": D, "peak_task_rss_mb": P,
 "steps": {"filter": {...}, "embed": {...}, "upsert": {...}}}

    .venv/bin/python bench/task_memory.py [--chunks 100000] [--embedder openai|minilm] [--sandbox-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from backends import ZipfText  # bench/backends.py: the same synthetic text
from run import sandbox_server  # bench/run.py: the same sandbox start-up as every line

from vector_sync.cli.output import emit, reserved_stdout

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "jira"
TOKEN = "sandbox-token"
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
WINDOW = {"start": (ANCHOR - timedelta(days=30)).isoformat(), "end": ANCHOR.isoformat()}
RUN_ID = "bench_task_memory"


def rss_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def task_env(data: Path, sandbox_url: str, embedder: str = "openai") -> dict[str, str]:
    """What a worker has: connections and variables in the environment, nothing else (the
    embedded default: no OpenAI or Pinecone connection, the offline embedder named)."""
    url = sandbox_url.rstrip("/")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), os.environ.get("PYTHONPATH", "")]),
        "AIRFLOW_HOME": str(data / "airflow"),
        "VECTOR_SYNC_DATA_DIR": str(data),
        "VECTOR_SYNC_SETTINGS_FILE": str(data / "no-settings.yaml"),
        "AIRFLOW_CONN_OPENAI_DEFAULT": json.dumps({"conn_type": "openai", "host": f"{url}/openai/v1", "password": TOKEN}),
        "AIRFLOW_CONN_PINECONE_DEFAULT": json.dumps(
            {"conn_type": "pinecone", "host": f"{url}/pinecone", "password": TOKEN, "extra": {"region": "us-east-1"}}
        ),
        f"AIRFLOW_VAR_VECTOR_SYNC_{SOURCE.upper()}": json.dumps({"options": {"max_embed_batches": 1, "embed_batch_docs": 10_000_000}}),
    }
    if embedder != "openai":
        del env["AIRFLOW_CONN_OPENAI_DEFAULT"], env["AIRFLOW_CONN_PINECONE_DEFAULT"]
        env["VECTOR_SYNC_OFFLINE_EMBEDDER"] = embedder
    return env


def plan():
    """The plan a plan task would hand on: one conf window, one fetch part."""
    from vector_sync.models import Window
    from vector_sync.protocol import RunPlan
    from vector_sync.staging import run_key

    window = Window.from_json(WINDOW)
    return RunPlan(SOURCE, RUN_ID, window, "conf", run_key(RUN_ID, window), ANCHOR)


def stage_documents(chunks: int) -> dict:
    """Documents as one fetch part stages them, until the chunker will make ``chunks``."""
    from vector_sync.airflow.backends import Runtime
    from vector_sync.models import Document
    from vector_sync.specs import source_settings
    from vector_sync.staging import Kind, StagedRun

    settings = source_settings(SOURCE)
    step = settings.chunk_tokens - settings.chunk_overlap_tokens
    text = ZipfText(seed=11)
    rng = random.Random(11)
    runtime = Runtime()
    runtime.state.projects.upsert([("MEM", "Memory bench", True)])
    expected = {"documents": 0, "estimated_chunks": 0}

    def documents():
        while expected["estimated_chunks"] < chunks:
            n = expected["documents"]
            tokens = rng.randint(900, 3_600)
            expected["documents"] += 1
            expected["estimated_chunks"] += -(-(tokens - settings.chunk_overlap_tokens) // step)
            yield Document(
                id=f"{SOURCE}:MEM-{n}",
                source=SOURCE,
                title=f"MEM-{n}: {text.sample(6)}",
                text=text.sample(round(tokens / 1.9)),
                url=f"https://example.atlassian.net/browse/MEM-{n}",
                updated_at=ANCHOR - timedelta(minutes=n % 40_000),
                projects=("MEM",),
                metadata={"status": rng.choice(["Open", "In Progress", "Done"])},
            ).to_json()

    StagedRun(runtime.staging_root(), SOURCE, plan().staging_key).write(Kind.DOCUMENTS, 0, documents())
    return expected


def run_step(step: str, sandbox_url: str, embedder: str = "openai") -> dict:
    """One task body in this fresh process; its peak RSS and what importing cost first."""
    import airflow.sdk  # noqa: F401  (every task process has it)

    from vector_sync.airflow import tasks
    from vector_sync.protocol import EmbedBatch, FetchPart

    fetched = [FetchPart(plan(), 0, {}, "0: whole window").to_json()]
    imported = rss_mb("VmRSS")
    started = time.perf_counter()
    if step == "filter":
        out = tasks.run_filter(SOURCE, fetched)
        counts = {"batches": len(out), **EmbedBatch.from_json(out[0]).counts.as_dict()}
    else:
        batch = EmbedBatch(plan(), 0, (0,)).to_json()
        if step == "embed":
            counts = EmbedBatch.from_json(tasks.run_embed(SOURCE, batch)).counts.as_dict()
        elif embedder != "openai":  # the embedded default: LanceDB in the data folder
            counts = EmbedBatch.from_json(tasks.run_upsert(SOURCE, batch)).counts.as_dict()
        else:
            from pinecone import Pinecone

            from vector_sync.stores.pinecone import create_index
            from vector_sync.tokens import count_tokens  # noqa: F401

            pc = Pinecone(api_key=TOKEN, host=f"{sandbox_url.rstrip('/')}/pinecone")
            create_index(pc, "vector-sync", 1536)
            counts = EmbedBatch.from_json(tasks.run_upsert(SOURCE, batch)).counts.as_dict()
    keep = ("batches", "kept", "documents", "chunks", "embedded", "tokens", "upserted", "deleted")
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "import_rss_mb": imported,
        "peak_rss_mb": rss_mb("VmHWM"),
        **{k: v for k, v in counts.items() if k in keep},
    }


def measure(args: argparse.Namespace, sandbox_url: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="vector-sync-task-memory-") as folder:  # ~1 GB of staged vectors
        return measure_in(Path(folder), args, sandbox_url)


def measure_in(data: Path, args: argparse.Namespace, sandbox_url: str) -> dict:
    env = task_env(data, sandbox_url, args.embedder)
    me = [sys.executable, str(Path(__file__).resolve()), "--sandbox-url", sandbox_url, "--embedder", args.embedder]
    staged = json.loads(subprocess.run([*me, "--stage", str(args.chunks)], env=env, check=True, capture_output=True, text=True).stdout)
    steps = {}
    for step in ("filter", "embed", "upsert"):
        done = subprocess.run([*me, "--step", step], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{step} failed: {done.stderr[-3000:]}")
        steps[step] = json.loads(done.stdout.strip().splitlines()[-1])
        emit(f"# {step}: {steps[step]}")
    chunks = steps["embed"].get("chunks", 0)
    assert steps["filter"]["batches"] == 1, steps["filter"]
    assert steps["upsert"]["upserted"] == steps["embed"]["embedded"] == chunks, steps
    return {
        "bench": "task_memory",
        "embedder": args.embedder,
        "chunks": chunks,
        "documents": staged["documents"],
        "peak_task_rss_mb": max(s["peak_rss_mb"] for s in steps.values()),
        "steps": steps,
        "target": "< 500 MB per task" + (" for 100,000 chunks" if args.embedder == "openai" else ""),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument(
        "--embedder",
        choices=["openai", "minilm"],
        default="openai",
        help="openai: OpenAI + Pinecone simulators; minilm: the embedded default",
    )
    parser.add_argument("--sandbox-url", help="use a running sandbox instead of starting one")
    parser.add_argument("--stage", type=int, help=argparse.SUPPRESS)  # internal: the staging process
    parser.add_argument("--step", choices=["filter", "embed", "upsert"], help=argparse.SUPPRESS)  # internal: one task
    args = parser.parse_args()
    if args.stage:
        emit(json.dumps(stage_documents(args.stage)))
        return 0
    if args.step:
        emit(json.dumps(run_step(args.step, args.sandbox_url, args.embedder)))
        return 0
    if args.sandbox_url:
        emit(json.dumps(measure(args, args.sandbox_url)))
        return 0
    with sandbox_server() as url:
        emit(f"# task_memory: {args.chunks:,} chunks in one embed/upsert batch, sandbox at {url}")
        emit(json.dumps(measure(args, url)))
    return 0


if __name__ == "__main__":
    with reserved_stdout():  # results on stdout, every log line (Airflow's too) on stderr
        sys.exit(main())
