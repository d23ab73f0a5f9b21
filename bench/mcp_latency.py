"""MCP tool-call latency over streamable HTTP (#21), as an assistant sees it.

Syncs the sandbox workspace (Jira, Slack, Fireflies) into a fresh embedded index (LanceDB, the
offline default embedder) in a temporary folder, starts Airflow's API server with the plugin
on a free port (uvicorn, SimpleAuthManager, a copy of the checkout's metadata DB), signs in
through POST /auth/token and, in one session of the `mcp` SDK's own client on
/vector-sync/mcp, after 10 warm-up calls, times each call_tool round trip: 120 searches (40
queries x 3), 60 fetch_document calls (the documents those searches found) and 20 sync_status
calls. Every call is a full HTTP request: JWT check, identity, a stateless MCP exchange.
One JSON line per tool, then the overall line, last:

{"bench": "mcp_latency", "transport": "http", "calls": 200, "p50_ms": ..., "p95_ms": ..., "search_p95_ms": ...}
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from vector_sync.cli.output import emit, reserved_stdout

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "include")]

WARM_UP = 10
QUERIES = [
    "dunning schedule configuration",
    "invoice PDF export times out",
    "partial refund button",
    "EU VAT ID validation",
    "proration on plan upgrades",
    "checkout redesign review",
    "webhook retries failing",
    "pricing annual plans",
    "renewal reminder emails",
    "what did we decide about the migration",
    "deploy failed on friday",
    "customer escalation",
    "billing console release",
    "subscription cancellation flow",
    "tax calculation bug",
    "retro action items",
    "sprint planning",
    "payment gateway timeout",
    "onboarding checklist",
    "incident postmortem",
]
QUERIES = (QUERIES * 2)[:40]
ROUNDS = 3
FETCHES = 60
STATUS_CALLS = 20


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def figures(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "max_ms": round(max(samples), 1),
    }


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
    try:
        return measure(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(folder: Path) -> int:
    # Airflow reads its configuration at import: a home of our own, with a copy of the
    # checkout's migrated metadata DB (make setup), before anything imports it.
    source_db = ROOT / ".airflow" / "airflow.db"
    if not source_db.exists():
        print(f"no migrated metadata DB at {source_db}: run `make setup` first", file=sys.stderr)
        return 2
    home = folder / "airflow"
    home.mkdir()
    shutil.copyfile(source_db, home / "airflow.db")
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "VECTOR_SYNC_DATA_DIR": str(folder / "data"),
            "VECTOR_SYNC_SETTINGS_FILE": str(folder / "no-settings.yaml"),
        }
    )
    import anyio

    from sandbox import build_sandbox
    from sandbox.workspace import Workspace, floor_to_hour
    from tests import mcpkit
    from tests.processkit import free_port
    from vector_sync.airflow.backends import Runtime
    from vector_sync.airflow.bootstrap import connection_json, projects_from, read_settings

    workspace = Workspace(anchor=floor_to_hour(datetime.now(timezone.utc)))
    with build_sandbox(workspace) as box:
        os.environ["VECTOR_SYNC_SANDBOX_URL"] = box.url
        settings = read_settings(ROOT / "airflow_settings.yaml")
        for entry in settings["connections"]:
            os.environ[f"AIRFLOW_CONN_{entry['conn_id'].upper()}"] = connection_json(entry)
        passwords = mcpkit.simple_auth_env(_Env(), folder)
        # The signed-in user's view, as over the page: public items and those listing this email.
        os.environ["AIRFLOW_VAR_VECTOR_SYNC_IDENTITIES"] = json.dumps({"member": "dana.reyes@example.com"})
        runtime = Runtime()
        runtime.state.projects.upsert(projects_from(settings))
        started = time.perf_counter()
        mcpkit.sync_demo_index(runtime, workspace, ("jira", "slack", "fireflies"))
        documents = runtime.state.ledger.document_count()
        print(f"# indexed {documents} documents in {time.perf_counter() - started:.1f} s", file=sys.stderr)

        with mcpkit.api_server(free_port()) as base_url:
            token = mcpkit.login(base_url, "member", passwords["member"])
            headers = {"Authorization": f"Bearer {token}"}
            times: dict[str, list[float]] = {"search": [], "fetch_document": [], "sync_status": []}

            async def timed(session, tool: str, arguments: dict) -> dict:
                begin = time.perf_counter()
                result = await session.call_tool(tool, arguments)
                times[tool].append((time.perf_counter() - begin) * 1000)
                return mcpkit.answer(result)

            async def run() -> None:
                async with mcpkit.http_session(base_url, headers=headers) as session:
                    for query in QUERIES[:WARM_UP]:
                        await session.call_tool("search", {"query": query})
                    found: list[str] = []
                    for _ in range(ROUNDS):
                        for query in QUERIES:
                            answer = await timed(session, "search", {"query": query, "top_k": 10})
                            found += [h["document_id"] for h in answer["hits"] if h["document_id"] not in found]
                    for document_id in (found * FETCHES)[:FETCHES]:
                        await timed(session, "fetch_document", {"document_id": document_id})
                    for _ in range(STATUS_CALLS):
                        await timed(session, "sync_status", {})

            for key in times:
                times[key].clear()
            anyio.run(run)

    every = [t for samples in times.values() for t in samples]
    for tool, samples in times.items():
        emit(json.dumps({"bench": "mcp_latency", "transport": "http", "tool": tool, "calls": len(samples), **figures(samples)}))
    line = {"bench": "mcp_latency", "transport": "http", "documents": documents, "calls": len(every), **figures(every)}
    for tool, samples in times.items():
        line[f"{tool}_p50_ms"] = figures(samples)["p50_ms"]
        line[f"{tool}_p95_ms"] = figures(samples)["p95_ms"]
    emit(json.dumps(line))
    return 0


class _Env:
    """``simple_auth_env`` sets variables through a monkeypatch; here, the process's own."""

    def setenv(self, key: str, value: str) -> None:
        os.environ[key] = value


if __name__ == "__main__":
    with reserved_stdout():  # results on stdout, every log line (Airflow's too) on stderr
        sys.exit(main())
