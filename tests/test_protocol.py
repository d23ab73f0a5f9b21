"""The records a run's tasks hand each other (``vector_sync.protocol``) and the staging layout
they name (``StagedRun``): plain JSON both ways, nothing lost, no file name built elsewhere."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from vector_sync import pipeline
from vector_sync.models import Window
from vector_sync.protocol import EmbedBatch, FetchPart, RunPlan, StepCounts
from vector_sync.staging import Kind, StagedRun, run_key

T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)
WINDOW = Window(T0, T0 + timedelta(hours=6))
PLAN = RunPlan(
    "slack",
    "scheduled__2026-11-20T00:00:00+00:00",
    WINDOW,
    "interval",
    run_key("scheduled__2026-11-20T00:00:00+00:00", WINDOW),
    T0 + timedelta(hours=6, seconds=3),
)
FETCH_COUNTS = StepCounts.of({"fetched": 7, "items": 9, "removed": 1, "errors": 2, "skip_reasons": {"bot_message": 2}, "part": 1})


def as_xcom(value):
    """What XCom stores and hands back: JSON text, parsed again."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize(
    "record",
    [
        PLAN,
        FETCH_COUNTS,
        StepCounts(),
        FetchPart(PLAN, 1, {"channels": ["C01", "C02"]}, "1: 2 channels"),
        FetchPart(PLAN, 0, {}, "0: whole window", FETCH_COUNTS),
        EmbedBatch(PLAN, 2, (0, 1, 2)),
        EmbedBatch(
            PLAN, 0, (0,), StepCounts.of({"kept": 3, "filtered_out": 1, "embedded": 4, "cost_usd": 0.25, "fingerprint": "hashing-384"})
        ),
    ],
    ids=lambda r: type(r).__name__,
)
def test_every_record_round_trips_through_plain_json(record):
    data = as_xcom(record.to_json())
    assert type(record).from_json(data) == record
    assert data == record.to_json()  # only dicts, lists, str, int, float: nothing JSON would change


def test_step_counts_add_up_numbers_and_skip_reasons_and_keep_the_first_fact():
    embed = StepCounts.of({"documents": 3, "tokens": 120, "cost_usd": 0.5, "fingerprint": "a", "batch": 0})
    again = StepCounts.of({"documents": 2, "tokens": 30, "cost_usd": 0.25, "fingerprint": "b", "batch": 1})
    total = StepCounts.total([FETCH_COUNTS, FETCH_COUNTS, embed, again])
    assert total.as_dict() == {
        "fetched": 14,
        "items": 18,
        "removed": 2,
        "errors": 4,
        "skip_reasons": {"bot_message": 4},
        "documents": 5,
        "tokens": 150,
        "cost_usd": 0.75,
        "fingerprint": "a",
    }
    assert "part" not in FETCH_COUNTS.numbers  # a step's own index is no count
    assert pipeline.sum_counts([{"fetched": 1, "part": 0}, {"fetched": 2, "part": 1}]) == {"fetched": 3}


def test_a_batch_adds_each_step_counts_to_what_it_carries():
    batch = EmbedBatch(PLAN, 0, (0, 1)).add(StepCounts.of({"embedded": 5})).add(StepCounts.of({"upserted": 5, "deleted": 1}))
    assert batch.counts.as_dict() == {"embedded": 5, "upserted": 5, "deleted": 1}
    assert FetchPart(PLAN, 3, {}, "3").fetched(FETCH_COUNTS).counts == FETCH_COUNTS


def test_staged_run_owns_the_layout_of_parts_and_batches(tmp_path):
    staged = StagedRun.for_run(tmp_path, "jira", PLAN.run_id, WINDOW)
    assert staged.key == PLAN.staging_key and staged.path == tmp_path / "jira" / PLAN.staging_key
    assert staged.write(Kind.DOCUMENTS, 0, [{"id": "jira:A-1"}]) == 1
    assert staged.write(Kind.DOCUMENTS, 3, [{"id": "jira:A-2"}, {"id": "jira:A-3"}]) == 2
    staged.write(Kind.FILTERED, 1, [])
    assert staged.indexes(Kind.DOCUMENTS) == [0, 3] and staged.indexes(Kind.FILTERED) == [1] and staged.indexes(Kind.VECTORS) == []
    assert [r["id"] for r in staged.read(Kind.DOCUMENTS, 3)] == ["jira:A-2", "jira:A-3"]
    assert list(staged.read(Kind.REMOVED, 3)) == [] and not staged.exists(Kind.REMOVED, 3)
    # Another worker finds the same files from the plan's key alone.
    assert StagedRun(tmp_path, "jira", PLAN.staging_key).indexes(Kind.DOCUMENTS) == [0, 3]
    staged.cleanup()
    assert not staged.path.exists() and (tmp_path / "jira").exists()
