"""Staging on object storage, as workers on several machines use it.

A real S3 API (moto's standalone server on 127.0.0.1), the ``aws_default`` connection and
the staging URL exactly as docker-compose.yaml defines them (only the endpoint and keys
changed), and ``ObjectStoragePath("s3://aws_default@<bucket>/staging")`` from the amazon
provider's s3fs filesystem: the pipeline's staged files round-trip through the bucket, and a
Jira window staged on S3 lands the same vectors as one staged on file://.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.composekit import environment, forget_object_stores, keys, load_compose, s3_client, s3_server
from tests.conftest import ROOT
from tests.sourcekit import FAST, Backends, sandbox_settings
from vector_sync import pipeline, staging
from vector_sync.models import Window
from vector_sync.specs import source_settings
from vector_sync.staging import Kind, StagedRun, run_key


@pytest.fixture(scope="module")
def s3_endpoint():
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture()
def bucket(s3_endpoint, monkeypatch):
    """A fresh bucket, with the worker's environment from docker-compose.yaml pointed at it."""
    name = f"vector-sync-{uuid.uuid4().hex[:10]}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    worker = environment(load_compose(compose_overrides(s3_endpoint, name))["services"]["airflow-worker"])
    for var in ("AIRFLOW_CONN_AWS_DEFAULT", "VECTOR_SYNC_STAGING_URL"):
        monkeypatch.setenv(var, worker[var])
    forget_object_stores()
    yield name
    forget_object_stores()


def compose_overrides(endpoint: str, bucket: str) -> dict[str, str]:
    """What a deployment sets in .env to use another S3 endpoint and bucket."""
    return {"S3_ENDPOINT_URL": endpoint, "S3_ACCESS_KEY_ID": "testing", "S3_SECRET_ACCESS_KEY": "testing", "VECTOR_SYNC_BUCKET": bucket}


def staging_root():
    """The root a task gets: VECTOR_SYNC_STAGING_URL -> RuntimeConfig -> ObjectStoragePath."""
    from vector_sync.airflow.backends import Runtime
    from vector_sync.runtime import embedded_config

    return Runtime(embedded_config()).staging_root()


def whole_sample(workspace) -> Window:
    return Window(workspace.start - timedelta(hours=1), workspace.anchor)


def test_the_compose_staging_url_names_bucket_and_connection():
    from airflow.sdk import ObjectStoragePath

    url = environment(load_compose()["services"]["airflow-worker"])["VECTOR_SYNC_STAGING_URL"]
    root = ObjectStoragePath(url)
    assert url == "s3://aws_default@vector-sync-staging/staging"
    assert (root.protocol, root.conn_id, root.bucket, root.key) == ("s3", "aws_default", "vector-sync-staging", "staging")
    child = root / "jira" / "run"
    assert child.conn_id == "aws_default" and str(child) == "s3://aws_default@vector-sync-staging/staging/jira/run"


def test_staged_run_round_trips_through_the_bucket(bucket, s3_endpoint):
    root = staging_root()
    assert (root.protocol, root.conn_id, root.bucket) == ("s3", "aws_default", bucket)
    window = Window(datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc), datetime(2026, 11, 20, 0, 30, tzinfo=timezone.utc))
    key = run_key("scheduled__2026-11-20T00:30:00+00:00", window)
    staged = StagedRun(root, "jira", key)  # mkdir is a no-op on object storage
    # Non-ASCII, a newline and a lone surrogate (a cut JSON escape): staged as they are.
    records = [
        {"id": "jira:SUBS-1", "text": "Größe — 日本語 ✓"},
        {"id": "jira:SUBS-2", "text": "line\nbreak"},
        {"id": "jira:SUBS-3", "text": "half \ud800 pair"},
    ]

    assert not staged.exists(Kind.DOCUMENTS)
    assert list(staged.read(Kind.DOCUMENTS)) == []
    assert staged.write(Kind.DOCUMENTS, 0, iter(records)) == 3
    assert staged.exists(Kind.DOCUMENTS) and not staged.exists(Kind.VECTORS)
    assert list(staged.read(Kind.DOCUMENTS)) == records
    assert staged.uri == f"s3://aws_default@{bucket}/staging/jira/{key}"

    # The object really is in the bucket, as UTF-8 JSON lines.
    object_key = f"staging/jira/{key}/{StagedRun.file_name(Kind.DOCUMENTS)}"
    assert keys(s3_endpoint, bucket) == [object_key]
    body = s3_client(s3_endpoint).get_object(Bucket=bucket, Key=object_key)["Body"].read().decode("utf-8", errors="surrogatepass")
    assert [json.loads(line) for line in body.splitlines()] == records

    # Another worker (a fresh path from the same URL) reads it; a retry rewrites it whole.
    forget_object_stores()
    elsewhere = StagedRun(staging_root(), "jira", key)
    assert list(elsewhere.read(Kind.DOCUMENTS)) == records
    assert elsewhere.write(Kind.DOCUMENTS, 0, records[:1]) == 1
    assert list(staged.read(Kind.DOCUMENTS)) == records[:1]


def test_packed_vectors_survive_the_round_trip(bucket):
    staged = StagedRun(staging_root(), "slack", "run-1")
    values = [0.1, -2.5, 3.0e-7, 1.0]
    staged.write(Kind.VECTORS, 0, [{"id": "slack:C1:1#0", "values": staging.pack_vector(values)}])
    (raw,) = staged.read(Kind.VECTORS)
    assert staging.unpack_vector(raw["values"]) == pytest.approx(values, rel=1e-6)


def test_a_jira_window_staged_on_s3_lands_the_same_vectors_as_file_staging(bucket, s3_endpoint, sandbox, monkeypatch, workspace, tmp_path):
    from airflow.sdk import ObjectStoragePath

    settings = sandbox_settings(monkeypatch, sandbox)
    window = whole_sample(workspace)
    chunking = pipeline.ChunkSettings(source_settings("jira").chunk_tokens, source_settings("jira").chunk_overlap_tokens)
    key = run_key("manual__s3", window)

    def run(kit: Backends, root) -> dict:
        source = kit.source("jira")
        return pipeline.run_window(source, window, StagedRun(root, "jira", key), kit.state, kit.embedder, kit.store, chunking, "manual__s3")

    on_file = Backends(tmp_path / "file", settings)
    on_s3 = Backends(tmp_path / "s3", settings)
    file_counts = run(on_file, ObjectStoragePath((tmp_path / "file-staging").as_uri()))
    s3_counts = run(on_s3, staging_root())

    expected = sorted(on_file.store.ids("jira:"))
    assert expected and sorted(on_s3.store.ids("jira:")) == expected
    for count in ("fetched", "kept", "chunks", "embedded", "upserted"):
        assert s3_counts[count] == file_counts[count], count
    assert s3_counts["embedded"] > 0
    on_the_bucket = StagedRun(staging_root(), "jira", key)
    assert all(on_the_bucket.exists(kind) for kind in (Kind.DOCUMENTS, Kind.FILTERED, Kind.VECTORS, Kind.LEDGER_ROWS))
    assert len(keys(s3_endpoint, bucket, f"staging/jira/{key}/")) >= 4
    assert on_s3.state.projects.known() == on_file.state.projects.known()


def test_mapped_steps_on_different_workers_share_only_the_bucket(bucket, s3_endpoint, sandbox, monkeypatch, workspace, tmp_path):
    """Every step (and every mapped fetch part or batch) is a task that may run on any machine:
    each call below gets a fresh path from the URL, as a task on another worker would; only the
    staging key travels between them (XCom). Slack, for its several fetch parts."""
    settings = sandbox_settings(monkeypatch, sandbox)
    kit = Backends(tmp_path / "split", settings)
    reference = Backends(tmp_path / "reference", settings)
    window = whole_sample(workspace)
    slack = source_settings("slack", FAST.get("slack"))
    chunking = pipeline.ChunkSettings(slack.chunk_tokens, slack.chunk_overlap_tokens)
    key = run_key("scheduled__split", window)

    def on_a_fresh_worker() -> StagedRun:
        forget_object_stores()
        return StagedRun(staging_root(), "slack", key)

    source = kit.source("slack")
    scopes = source.parts(window)
    assert len(scopes) > 1, "the sample should give Slack several fetch parts"
    fetched = pipeline.sum_counts(pipeline.fetch(source, window, on_a_fresh_worker(), scope, part) for part, scope in enumerate(scopes))
    filtered = pipeline.filter_active_projects(
        on_a_fresh_worker(), kit.state.projects.known(), source.keep_unmapped, parts=range(len(scopes)), max_batches=pipeline.MAX_BATCHES
    )
    embedded = pipeline.sum_counts(
        pipeline.embed(on_a_fresh_worker(), kit.state, kit.embedder, chunking, batch=b) for b in filtered["batches"]
    )
    upserted = pipeline.sum_counts(
        pipeline.upsert(on_a_fresh_worker(), kit.state, kit.store, "slack", batch=b, removed_parts=filtered["parts"])
        for b in filtered["batches"]
    )
    assert fetched["fetched"] >= filtered["kept"] > 0
    assert upserted["upserted"] == embedded["embedded"] == kit.store.count("slack") > 0
    assert on_a_fresh_worker().indexes(Kind.DOCUMENTS) == list(range(len(scopes)))

    # The same vectors as all steps in one process on local staging.
    reference.run("slack", window)
    assert sorted(kit.store.ids("slack:")) == sorted(reference.store.ids("slack:"))

    # A retried upsert (the worker died after writing) re-reads the same staged vectors:
    # nothing is fetched or embedded again and the index does not grow.
    ids = sorted(kit.store.ids("slack:"))
    again = pipeline.sum_counts(
        pipeline.upsert(on_a_fresh_worker(), kit.state, kit.store, "slack", batch=b, removed_parts=filtered["parts"])
        for b in filtered["batches"]
    )
    assert again["upserted"] == upserted["upserted"]
    assert sorted(kit.store.ids("slack:")) == ids


def test_the_library_core_imports_neither_airflow_nor_s3():
    """Only the Airflow layer (vector_sync.airflow) and hooks import Airflow; s3fs comes with it."""
    code = (
        "import sys\n"
        "import vector_sync.staging, vector_sync.runtime, vector_sync.pipeline, vector_sync.state, vector_sync.run, vector_sync.alerts, vector_sync.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 's3fs', 'boto3', 'botocore', 'aiobotocore', 'upath'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == ""
