"""Issue #22 end to end through the CLI: a sync records the active store, `verify` finds a chunk
deleted behind the ledger's back, and a switch of store turns status "needs-rebuild" until
the command it names has rebuilt the history."""

from __future__ import annotations

import json
import re

from tests.test_cli import cli_env, run, window_args  # noqa: F401 - fixture
from vector_sync import cli


def verify(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["verify", *args])
    return code, capsys.readouterr().out


def jira_status(capsys) -> dict:
    return next(row for row in json.loads(run(capsys, "status", "--json")) if row["source"] == "jira")


def test_verify_finds_a_chunk_deleted_behind_the_ledgers_back(cli_env, capsys):
    from vector_sync.cli.context import runtime

    run(capsys, "sync", "jira", *window_args())
    backends = runtime()
    store = backends.store()
    chunks = backends.state.ledger.live_chunk_ids("jira")
    assert chunks and set(backends.state.ledger.written_to("jira")) == {(store.store_key, backends.embedder().fingerprint)}
    assert verify(capsys, "jira") == (0, f"ok: {len(chunks)} chunks\n")
    assert jira_status(capsys)["health"] != "needs-rebuild"

    store.delete([chunks[0]])  # behind the project's back
    code, out = verify(capsys, "jira")
    assert (code, out) == (1, "mismatch: 1 missing, 0 extra\n")
    code, out = verify(capsys, "jira", "--json")
    report = json.loads(out)
    assert code == 1 and report["missing"] == [chunks[0]] and report["extra"] == [] and report["chunks"] == len(chunks)
    assert report["sampled"] == 20 and report["metadata_mismatches"] == []
    assert cli.main(["verify", "nope"]) == 2
    assert cli.main(["verify", "jira", "--sample", "-1"]) == 2

    # Who may see a document, changed in the store behind the ledger's back: a sampled mismatch.
    doc_id = chunks[-1].rsplit("#", 1)[0]
    tampered = [c for c in chunks if c.rsplit("#", 1)[0] == doc_id]
    store.update_access([doc_id], "restricted", ["mallory@example.com"])
    code, out = verify(capsys, "jira", "--json", "--sample", str(len(chunks)))
    report = json.loads(out)
    assert (
        code == 1 and report["verdict"] == f"mismatch: 1 missing, 0 extra, {len(tampered)} of {len(chunks) - 1} sampled with other metadata"
    )
    assert {(m["id"], m["field"], m["ledger"], m["store"]) for m in report["metadata_mismatches"]} == {
        (c, "access", "all []", "restricted ['mallory@example.com']") for c in tampered
    }


def test_a_switched_store_needs_a_rebuild_until_the_named_command_ran(cli_env, capsys, monkeypatch, tmp_path):
    run(capsys, "sync", "jira", *window_args())
    assert jira_status(capsys)["health"] != "needs-rebuild"

    monkeypatch.setenv("AIRFLOW_VAR_VECTOR_SYNC_CONFIG", json.dumps({"lancedb_uri": str(tmp_path / "new-lancedb")}))
    jira = jira_status(capsys)
    assert jira["health"] == "needs-rebuild" and jira["vectors"] == 0
    [problem] = jira["problems"]
    command = problem.split("`")[1]
    assert command == "vector-sync rebuild jira"
    assert "needs-rebuild" in run(capsys, "status")
    code, out = verify(capsys, "jira")
    assert code == 1 and out.startswith("mismatch: ") and out.endswith(" missing, 0 extra\n")

    # --dry-run: the path and what it costs, nothing written. Same embedder, old table readable: copy, $0.
    dry = run(capsys, "rebuild", "jira", "--dry-run")
    assert dry.startswith("dry run, nothing written: jira: copy ") and " 0 tokens, $0.0000 on text-embedding-3-small" in dry
    plan = json.loads(run(capsys, "rebuild", "jira", "--dry-run", "--json"))
    assert plan["result"] is None and plan["plan"]["path"] == "copy" and plan["plan"]["cost_usd"] == 0 and plan["plan"]["chunks"] > 0
    reembed = json.loads(run(capsys, "rebuild", "jira", "--dry-run", "--reembed", "--json"))["plan"]
    assert reembed["path"] == "re-embed" and reembed["tokens"] > 0 and reembed["tokens_estimated"] and reembed["windows"]
    assert reembed["chunks"] == plan["plan"]["chunks"]
    assert jira_status(capsys)["vectors"] == 0
    # A dry run plans from the ledger and the stores: Jira down (nothing listens on port 9) changes nothing.
    with monkeypatch.context() as down:
        down.setenv("AIRFLOW_CONN_JIRA_DEFAULT", json.dumps({"conn_type": "jira", "host": "http://127.0.0.1:9/jira", "password": "x"}))
        assert json.loads(run(capsys, "rebuild", "jira", "--dry-run", "--json"))["plan"] == plan["plan"]

    out = run(capsys, *command.split()[1:])
    assert f"copied {plan['plan']['documents']} documents ({plan['plan']['chunks']} chunks), 0 embedded" in out
    assert out.rstrip().endswith(f"verify: ok: {plan['plan']['chunks']} chunks")
    jira = jira_status(capsys)
    assert jira["health"] != "needs-rebuild" and jira["vectors"] == plan["plan"]["chunks"]
    assert verify(capsys, "jira")[0] == 0
    assert cli.main(["rebuild", "nope"]) == 2

    # Nothing left to rebuild; --reembed re-embeds the history anyway, here (no scheduler runs).
    assert run(capsys, "rebuild", "jira", "--dry-run").startswith("dry run, nothing written: jira: nothing to rebuild")
    out = run(capsys, "rebuild", "jira", "--reembed")
    assert out.startswith("jira: re-embed ") and "0 chunks not in the ledger" in out
    # Every chunk embedded again, from the day of the oldest document on (more of upstream than
    # the first sync's 24 hours), and the ledger lists exactly what was written.
    done = re.search(
        r"re-embedded \d+ windows in this process: \d+ documents, (\d+) chunks, [1-9]\d* tokens.*verify: ok: (\d+) chunks", out
    )
    assert done and done[1] == done[2] and int(done[1]) >= plan["plan"]["chunks"], out
