"""The Slack permission pass at scale: 50 private channels x 2,000 indexed items, membership
changed in 5 of them.

The index and ledger are filled directly (100,000 one-chunk documents in LanceDB and the
SQLite ledger, each with its channel's member emails): the pass is measured, not a sync. The
sandbox (Slack and the OpenAI simulator, in this process, zero latency) serves 50 private
channels of 20 members each out of 400 people; then 5 channels lose one member and gain
another, and one pass runs through the real slack_sdk client. The last line printed is JSON:

{"bench": "permissions", "requests": R, "seconds": S, "embeddings": 0, "updated_documents": 10000, ...}

``requests`` counts every Slack request of the pass (listing, members, people); ``embeddings``
is what the OpenAI simulator saw (the pass has no embedder: it must stay 0); a second pass
with nothing changed is reported too (its store writes must be 0).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from vector_sync.cli.output import emit, reserved_stdout

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "include")]

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
CHANNELS, ITEMS, CHANGED, MEMBERS, PEOPLE = 50, 2_000, 5, 20, 400
DIM = 16


def main() -> int:
    import numpy as np

    from sandbox import build_sandbox
    from sandbox.slack import BOT_USER_ID
    from sandbox.workspace import Workspace
    from vector_sync.models import VectorRecord
    from vector_sync.permissions import sync_permissions
    from vector_sync.sources.slack import SlackSource, make_client
    from vector_sync.specs import source_settings
    from vector_sync.state import Access, ChunkWrite, LedgerWrite, StateStore
    from vector_sync.stores.lancedb import LanceDBStore

    rng = random.Random(7)
    workspace = Workspace(anchor=ANCHOR, scale=PEOPLE // 12 + 1)
    people = workspace.people[:PEOPLE]
    folder = Path(tempfile.mkdtemp(prefix="bench-permissions-"))
    with build_sandbox(workspace, apis=["slack", "openai"]) as box:
        slack = box.simulator("slack")
        data = slack.data
        template = next(c for c in data.channels if c["id"] == "C0SUBSLEAD")
        ids = [f"C0PERM{i:03d}" for i in range(CHANNELS)]
        data.channels[:] = [{**template, "id": cid, "name": f"perm-{i:03d}"} for i, cid in enumerate(ids)]
        for cid in ids:
            data.members[cid] = [p.slack_id for p in rng.sample(people, MEMBERS)] + [BOT_USER_ID]
            data.history[cid] = []
        emails = {p.slack_id: p.email for p in people}

        state = StateStore(f"sqlite:///{folder / 'state.db'}")
        state.migrate()
        store = LanceDBStore(str(folder / "lancedb"))
        fill_started = time.perf_counter()
        base = ANCHOR - timedelta(days=30)
        for cid in ids:
            access = Access.normal("private", [emails[u] for u in data.members[cid] if u in emails])
            docs = [f"slack:{cid}:{1_760_000_000 + n}.000100" for n in range(ITEMS)]
            store.upsert(
                [
                    VectorRecord(
                        id=f"{d}#0",
                        document_id=d,
                        values=np.random.default_rng(n).random(DIM).tolist(),
                        text=f"message {n}",
                        metadata={"source": "slack", "channel_id": cid, "access_type": access.type, "access_list": list(access.emails)},
                    )
                    for n, d in enumerate(docs)
                ]
            )
            state.ledger.write(
                "slack",
                [LedgerWrite(d, "h", 1, "fp", base, "b", access) for d in docs],
                [ChunkWrite(f"{d}#0", d, "c", "fp", "cb") for d in docs],
                [],
                base,
            )
        fill_s = time.perf_counter() - fill_started

        for cid in ids[:CHANGED]:  # one member leaves, someone else joins
            current = [u for u in data.members[cid] if u != BOT_USER_ID]
            newcomer = next(p.slack_id for p in people if p.slack_id not in current)
            slack.set_members(cid, current[1:] + [newcomer, BOT_USER_ID])

        def one_pass() -> tuple[dict, int, float, int]:
            source = SlackSource(make_client(slack.api_url, slack.token), source_settings("slack"))
            version = store._open().version
            box.log.reset()
            started = time.perf_counter()
            result = sync_permissions(source, state, store)
            seconds = time.perf_counter() - started
            return result, box.log.count("slack"), seconds, store._open().version - version

        result, requests, seconds, writes = one_pass()
        embeddings = box.log.count("openai")
        again, again_requests, again_seconds, again_writes = one_pass()
        by_method = {m: box.log.count("slack", m) for m in ("conversations.list", "conversations.members", "users.list", "users.info")}
    line = {
        "bench": "permissions",
        "channels": CHANNELS,
        "indexed_items": CHANNELS * ITEMS,
        "changed_channels": CHANGED,
        "requests": requests,
        "seconds": round(seconds, 2),
        "embeddings": embeddings,
        "updated_documents": result["updated_documents"],
        "changed_scopes": result["changed_scopes"],
        "store_commits": writes,
        "second_pass": {
            "requests": again_requests,
            "seconds": round(again_seconds, 2),
            "changed_scopes": again["changed_scopes"],
            "store_commits": again_writes,
            "by_method": by_method,
        },
        "fill_seconds": round(fill_s, 1),
    }
    ok = (
        embeddings == 0
        and result["changed_scopes"] == CHANGED
        and result["updated_documents"] == CHANGED * ITEMS
        and again["changed_scopes"] == 0
        and again_writes == 0
    )
    emit(json.dumps(line))
    return 0 if ok else 1


if __name__ == "__main__":
    with reserved_stdout():  # results on stdout, every log line (Airflow's too) on stderr
        sys.exit(main())
