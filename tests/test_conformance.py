"""The conformance suite: every registered source passes it by being registered.

Each source runs against the sandbox through its real client library, built from the
simulator's URL and token by the source's own factory (``tests.sourcekit.sandbox_client``):
no Airflow here, as in the CLI and the sandbox.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest

from sandbox.server import Fault
from tests.conftest import ROOT
from tests.sourcekit import Backends
from vector_sync.models import Window
from vector_sync.sources import registered_sources
from vector_sync.sources.base import DEFAULT_MAX_PARTITIONS

SOURCES = registered_sources()


@pytest.fixture()
def kit(sandbox, tmp_path):
    return Backends(tmp_path, sandbox=sandbox)


def whole_sample(workspace) -> Window:
    return Window(workspace.start - timedelta(hours=1), workspace.anchor)


@pytest.mark.parametrize("name", SOURCES)
def test_yields_documents_with_stable_ids(name, kit, workspace):
    first = list(kit.source(name).fetch(whole_sample(workspace)))
    second = list(kit.source(name).fetch(whole_sample(workspace)))
    assert first, f"{name} yielded nothing for the whole sample"
    ids = [doc.id for doc in first]
    assert all(doc_id.startswith(f"{name}:") for doc_id in ids)
    assert len(ids) == len(set(ids)), "a document id was yielded twice"
    assert {d.id: d.content_hash() for d in first} == {d.id: d.content_hash() for d in second}


@pytest.mark.parametrize("name", SOURCES)
def test_window_is_respected(name, kit, workspace):
    window = Window(workspace.anchor - timedelta(hours=8), workspace.anchor - timedelta(hours=2))
    docs = list(kit.source(name).fetch(window))
    everything = {d.id for d in kit.source(name).fetch(whole_sample(workspace))}
    assert all(window.start <= doc.updated_at < window.end for doc in docs), [
        (d.id, d.updated_at) for d in docs if not window.contains(d.updated_at)
    ]
    assert {d.id for d in docs} < everything


@pytest.mark.parametrize("name", SOURCES)
def test_parts_split_the_window_and_cover_it_once(name, kit, workspace):
    """Each part is its own task with its own source object: together they fetch and
    remove exactly what one fetch of the whole window does, each document in one part."""
    window = whole_sample(workspace)
    scopes = kit.source(name).parts(window)
    assert 2 <= len(scopes) <= DEFAULT_MAX_PARTITIONS, scopes
    fetched: list[dict[str, str]] = []
    removed: set[str] = set()
    for scope in scopes:
        task_source = kit.source(name)
        part_window = task_source.part_window(window, scope)
        fetched.append({d.id: d.content_hash() for d in task_source.fetch_part(part_window, scope)})
        removed |= set(task_source.removed_ids(part_window))
    whole_source = kit.source(name)
    whole = {d.id: d.content_hash() for d in whole_source.fetch(window)}
    assert all(fetched), f"{name}: an empty part in {[len(p) for p in fetched]}"
    assert sum(len(p) for p in fetched) == len(whole), "a document was fetched by two parts"
    assert {doc_id: digest for part in fetched for doc_id, digest in part.items()} == whole
    assert removed == set(whole_source.removed_ids(window))


@pytest.mark.parametrize("name", SOURCES)
def test_a_scheduled_window_is_one_part(name, kit, workspace):
    window = Window(workspace.anchor - timedelta(hours=1), workspace.anchor)
    source = kit.source(name)
    if name == "slack":
        pytest.skip("Slack splits by channels (a request each, whatever the window), not by time")
    assert source.parts(window) == [{}]
    assert source.part_window(window, {}) == window


@pytest.mark.parametrize("name", SOURCES)
def test_rerun_adds_nothing(name, kit, workspace):
    window = whole_sample(workspace)
    first = kit.run(name, window)
    count = kit.store.count(name)
    second = kit.run(name, window)
    assert first["embedded"] > 0 and count > 0
    assert second["embedded"] == 0
    assert second["upserted"] == 0
    assert kit.store.count(name) == count


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("name", SOURCES)
def test_rate_limits_and_server_errors_are_survived(name, status, kit, sandbox, workspace):
    window = Window(workspace.anchor - timedelta(hours=6), workspace.anchor)
    expected = {d.id for d in kit.source(name).fetch(window)}
    source = kit.source(name)
    sandbox.faults.add(Fault(api=name, kind="status", status=status, times=2, retry_after_s=1))
    assert {d.id for d in source.fetch(window)} == expected
    assert sandbox.log.status_count(name, status) == 2


@pytest.mark.parametrize("name", SOURCES)
def test_paging_terminates_with_bounded_requests(name, kit, sandbox, workspace):
    sandbox.log.reset()
    docs = list(kit.source(name).fetch(whole_sample(workspace)))
    calls = sandbox.log.count(api=name)
    assert 0 < calls <= 10 * len(docs) + 50, f"{calls} requests for {len(docs)} documents"


def test_the_suite_builds_every_source_without_airflow(tmp_path):
    """Its path to a source (``Backends(sandbox=...)``, ``sourcekit.sandbox_source``) builds
    each client from a URL and a token with the source's own factory: in a fresh interpreter,
    every source fetches and Airflow is never imported."""
    code = textwrap.dedent("""
        import sys
        from datetime import timedelta
        from pathlib import Path

        from sandbox import build_sandbox
        from sandbox.workspace import Workspace
        from tests.conftest import ANCHOR
        from tests.sourcekit import Backends
        from vector_sync.models import Window
        from vector_sync.sources import registered_sources

        with build_sandbox(Workspace(anchor=ANCHOR)) as box:
            kit = Backends(Path(sys.argv[1]), sandbox=box)
            for name in registered_sources():
                assert list(kit.source(name).fetch(Window(ANCHOR - timedelta(hours=6), ANCHOR))), name
        print(sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow.")))
    """)
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
