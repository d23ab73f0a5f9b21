"""The benchmarks still run: a `make bench` line that crashes reports nothing, and nothing else
runs them (search_latency's result lines once died on an ``emit(..., flush=True)``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_search_latency_prints_one_parseable_line_per_mode_on_a_small_index(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow")}
    done = subprocess.run(
        [sys.executable, "bench/search_latency.py", "--chunks", "1500"], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    maintenance, *lines = [json.loads(line) for line in done.stdout.splitlines()]  # stdout holds only result lines
    # The optimize DAG's two task bodies ran first, each in its own process: too few rows for a
    # vector index (20,000), the 500-chunk upserts' fragments compacted.
    assert maintenance["bench"] == "index_maintenance" and maintenance["index_vectors"]["vector_index"] == "none"
    compact = maintenance["compact"]
    assert compact["rows"] == 1500 and compact["fragments_before"] >= 3 > compact["fragments_after"]
    assert all(0 < maintenance[step]["peak_rss_mb"] < 2000 for step in ("index_vectors", "compact"))
    assert [line["mode"] for line in lines] == ["dense", "keyword", "hybrid"]
    assert sum(line["queries"] for line in lines) == 200
    for line in lines:
        assert line["bench"] == "search_latency" and line["chunks"] == 1500
        assert 0 < line["p50_ms"] <= line["p95_ms"] <= line["max_ms"]
        assert line["queries_with_hits"] > 100, "the filtered and unfiltered queries find the synthetic chunks"


def test_search_latency_refuses_an_empty_index():
    done = subprocess.run(
        [sys.executable, "bench/search_latency.py", "--chunks", "0"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 2 and "--chunks must be at least 1" in done.stderr and done.stdout == ""
