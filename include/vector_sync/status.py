"""Per-source health: what `vector-sync status`, the health DAG and the plugin all show."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from vector_sync.embedders.base import OPENAI_USD_PER_MILLION_TOKENS
from vector_sync.specs import source_settings
from vector_sync.state import StateStore
from vector_sync.stores.base import VectorStore
from vector_sync.webhooks import VENDORS

HEALTHY, STALE, FAILED, STUCK = "healthy", "stale", "failed", "stuck"
# The ledger says (some of) the source's documents live in another store or were embedded by
# another model than the active ones: searches miss them until a rebuild (issue #22).
NEEDS_REBUILD = "needs-rebuild"
# Clocks differ a little; a last_sync further ahead of now than this is a broken cursor.
FUTURE_SLACK_MINUTES = 5
# Skipped items named per reason in the status table (`--json` and the page list up to 100).
SKIPS_SHOWN = 5


@dataclass
class SourceStatus:
    source: str
    health: str
    last_sync: str | None
    age_minutes: float | None
    stale_after_minutes: float
    vectors: int
    documents: int
    last_run: dict[str, Any] | None
    open_failures: list[dict[str, Any]] = field(default_factory=list)
    failed_windows: list[dict[str, Any]] = field(default_factory=list)
    # The sync DAG's schedule (vector_sync.airflow.schedule.assess): state ok/stuck/paused, next_run,
    # due_at, cause, fix. None when Airflow's view of it is not available.
    schedule: dict[str, Any] | None = None
    # The last run's skipped items: [{"reason", "count", "items": first 100}] (``errors`` in words).
    skips: list[dict[str, Any]] = field(default_factory=list)
    # What to fix that no other field says (a cursor in the future), one sentence each.
    problems: list[str] = field(default_factory=list)
    # Webhook events received / rejected / pending and the last one's age (vector_sync.state.webhooks);
    # None for a source without webhooks (Tempo).
    webhooks: dict[str, Any] | None = None
    # A re-embedding rebuild under way (vector_sync.rebuild): its target and windows done / total.
    rebuild: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def source_status(
    source: str,
    state: StateStore,
    store: VectorStore,
    now: datetime | None = None,
    schedule: dict[str, Any] | None = None,
    fingerprint: str | None = None,
) -> SourceStatus:
    """Health is ``failed`` while the last run failed or a window is still failed, ``stuck``
    when the sync DAG's schedule is (``schedule["state"]``, see vector_sync.airflow.schedule),
    ``needs-rebuild`` when the ledger holds documents written to another store than ``store``
    or by another embedder than ``fingerprint`` (the active one's; None: not checked), or when
    ``store`` holds none of the source's vectors while the ledger lists documents,
    ``stale`` when the last sync is older than the source's threshold (or never happened),
    else ``healthy``."""
    now = now or datetime.now(timezone.utc)
    settings = source_settings(source)
    last_sync = state.runs.last_sync(source)
    age = (now - last_sync).total_seconds() / 60 if last_sync else None
    run = state.runs.last(source)
    failures = state.runs.open_failures(source)
    windows = state.runs.failed_windows(source)
    problems = []
    if age is not None and age < -FUTURE_SLACK_MINUTES:  # a window that ended in the future moved it (issue #19)
        problems.append(
            f"last_sync {last_sync.isoformat()} is in the future: catch-up runs cannot start there; "
            f"repair it with `vector-sync cursor {source} --set latest-success`"
        )
    vectors = store.count(source)
    rebuild = rebuild_problem(source, state, store.store_key, fingerprint, vectors)
    if (run is not None and run.status == "failed") or windows or problems:
        health = FAILED
    elif schedule is not None and schedule.get("state") == STUCK:
        health = STUCK
    elif rebuild:
        health = NEEDS_REBUILD
    elif age is None or age > settings.stale_after.total_seconds() / 60:
        health = STALE
    else:
        health = HEALTHY
    return SourceStatus(
        source=source,
        health=health,
        last_sync=last_sync.isoformat() if last_sync else None,
        age_minutes=round(age, 1) if age is not None else None,
        stale_after_minutes=settings.stale_after.total_seconds() / 60,
        vectors=vectors,
        documents=state.ledger.document_count(source),
        last_run=_run_json(run),
        open_failures=[_jsonable(f) for f in failures],
        failed_windows=[{"window_start": s.isoformat(), "window_end": e.isoformat(), "run_id": r} for s, e, r in windows],
        schedule=schedule,
        problems=problems + ([rebuild] if rebuild else []),
        skips=state.skips.of_run(source, run.run_id) if run is not None else [],
        webhooks=state.webhooks.status_json(source, now) if source in VENDORS else None,
        rebuild=state.rebuilds.progress(source),
    )


def all_status(
    sources: Iterable[str],
    state: StateStore,
    store: VectorStore,
    schedules: Mapping[str, dict[str, Any]] | None = None,
    fingerprint: str | None = None,
) -> list[SourceStatus]:
    """Every source's status, with its sync DAG's schedule from ``schedules`` (source ->
    ``vector_sync.airflow.schedule.assess`` result) where known, checked against the active
    embedder's ``fingerprint`` when given."""
    now = datetime.now(timezone.utc)
    schedules = schedules or {}
    return [source_status(name, state, store, now, schedules.get(name), fingerprint) for name in sources]


def rebuild_problem(
    source: str, state: StateStore, store_key: str | None, fingerprint: str | None, vectors: int | None = None
) -> str | None:
    """One sentence when the ledger has live documents of ``source`` in another store than
    ``store_key``, embedded with another fingerprint than ``fingerprint``, or when the active
    store holds no vector of the source at all (``vectors`` == 0: a store switched before
    stores were recorded), else None. A row that recorded no store, or a side not given, is
    not a mismatch by itself: unknown is not evidence; an empty store is."""
    written = state.ledger.written_to(source)
    other_stores = sorted({key for key, _ in written if key is not None and store_key is not None and key != store_key})
    other_models = sorted({fp for _, fp in written if fp and fingerprint and fp != fingerprint})
    total = sum(written.values())
    where = []
    if other_stores:
        n = sum(count for (key, _), count in written.items() if key in other_stores)
        where.append(f"{n} of {total} documents were written to {', '.join(other_stores)}, not the active store {store_key}")
    if other_models:
        n = sum(count for (_, fp), count in written.items() if fp in other_models)
        where.append(f"{n} of {total} documents were embedded with {', '.join(other_models)}, not the active {fingerprint}")
    if not where and total and vectors == 0:
        named = f" {store_key}" if store_key else ""
        where.append(f"the ledger lists {total} documents but the active store{named} holds no vector of {source}")
    if not where:
        return None
    return f"{'; '.join(where)}: searches miss them until they are rebuilt; run `vector-sync rebuild {source}` (`--dry-run` first for the cost)"


def _run_json(run: Any) -> dict[str, Any] | None:
    if run is None:
        return None
    data = _jsonable(run)
    # What these tokens would cost on OpenAI text-embedding-3-small, whatever embedder ran.
    data["openai_cost_estimate_usd"] = round((run.tokens or 0) * OPENAI_USD_PER_MILLION_TOKENS / 1_000_000, 6)
    return data


def _jsonable(record: Any) -> dict[str, Any]:
    data = asdict(record) if hasattr(record, "__dataclass_fields__") else dict(record._mapping if hasattr(record, "_mapping") else record)
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


def describe(rows: Iterable[SourceStatus]) -> str:
    """The status table `vector-sync status` prints: a line per source, then what needs doing."""
    lines = [f"{'source':<10} {'health':<13} {'last_sync':<26} {'age':>8} {'vectors':>8}  last run"]
    for row in rows:
        age = f"{row.age_minutes:.0f} min" if row.age_minutes is not None else "-"
        run = row.last_run or {}
        last = (
            f"fetched {run.get('fetched', 0)}, filtered {run.get('filtered_out', 0)}, embedded {run.get('embedded', 0)}, "
            f"unchanged {run.get('skipped_unchanged', 0)}, upserted {run.get('upserted', 0)}, deleted {run.get('deleted', 0)}, "
            f"errors {run.get('errors', 0)}, tokens {run.get('tokens', 0)}, {run.get('duration_s') or 0:.1f}s"
            if run
            else "never ran"
        )
        lines.append(f"{row.source:<10} {row.health:<13} {row.last_sync or 'never':<26} {age:>8} {row.vectors:>8}  {last}")
        for window in row.failed_windows:
            lines.append(f"{'':<10} failed window {window['window_start']} .. {window['window_end']} (run {window['run_id']})")
        if (row.schedule or {}).get("state") == STUCK:
            lines.append(f"{'':<10} schedule stuck: {row.schedule['cause']}\n{'':<10} fix: {row.schedule['fix']}")
        for skip in row.skips:
            shown = ", ".join(skip["items"][:SKIPS_SHOWN]) or "items not named by the source"
            more = f" and {skip['count'] - min(len(skip['items']), SKIPS_SHOWN)} more" if skip["count"] > SKIPS_SHOWN else ""
            lines.append(f"{'':<10} skipped {skip['count']} ({skip['reason']}): {shown}{more}")
        if row.rebuild:
            lines.append(f"{'':<10} rebuild under way: {row.rebuild['windows_done']} of {row.rebuild['windows_total']} windows done")
        lines.extend(f"{'':<10} {problem}" for problem in row.problems)
    return "\n".join(lines)
