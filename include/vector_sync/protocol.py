"""What a sync run's tasks hand each other (through XCom in Airflow): small frozen records.

Vocabulary (also in the README):

- **plan** (``RunPlan``): the run's plan only — its window, how it was chosen, its staging key.
- **part** (``FetchPart``): one sub-window of the fetch, a mapped ``fetch`` task each; ``scope``
  is what the source's part covers (a time slice, a group of Slack channels, a range of Tempo
  work dates). The option ``max_partitions`` (a user-facing name, kept) caps how many parts.
- **batch** (``EmbedBatch``): one embed/upsert batch of the filtered documents, a mapped
  ``embed`` and ``upsert`` task each.
- **counts** (``StepCounts``): what a step did, summed over parts and batches by ``record``.

Each record turns into plain JSON (dicts, lists, str, int, float) with ``to_json`` and back
with ``from_json``; bulk data stays in staging (``vector_sync.staging.StagedRun``), and no
record carries a secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from vector_sync.models import Window, parse_time

_INDEX_KEYS = ("part", "batch")  # a step's own index, not a count


@dataclass(frozen=True)
class StepCounts:
    """Counts of one step (or of several, added up): numbers by name, skip reasons by reason,
    and text facts such as the embedder's ``fingerprint`` (the first one seen wins)."""

    numbers: Mapping[str, int | float] = field(default_factory=dict)
    skip_reasons: Mapping[str, int] = field(default_factory=dict)
    facts: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, counts: Mapping[str, Any]) -> StepCounts:
        """The counts a pipeline step returned (``pipeline.fetch``, ``embed``, ...)."""
        numbers: dict[str, int | float] = {}
        reasons: dict[str, int] = {}
        facts: dict[str, str] = {}
        for key, value in counts.items():
            if key in _INDEX_KEYS or isinstance(value, (list, tuple)):
                continue
            if isinstance(value, Mapping):
                for reason, n in value.items():
                    reasons[str(reason)] = reasons.get(str(reason), 0) + int(n)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                numbers[key] = value
            elif value is not None:
                facts[key] = str(value)
        return cls(numbers, reasons, facts)

    def __add__(self, other: StepCounts) -> StepCounts:
        numbers = dict(self.numbers)
        for key, value in other.numbers.items():
            numbers[key] = numbers.get(key, 0) + value
        reasons = dict(self.skip_reasons)
        for reason, n in other.skip_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
        return StepCounts(numbers, reasons, {**other.facts, **self.facts})

    @classmethod
    def total(cls, items: Iterable[StepCounts]) -> StepCounts:
        result = cls()
        for item in items:
            result = result + item
        return result

    def as_dict(self) -> dict[str, Any]:
        """One flat dict, as ``pipeline.record`` and the run's summary read it."""
        out: dict[str, Any] = {**self.facts, **self.numbers}
        if self.skip_reasons:
            out["skip_reasons"] = dict(self.skip_reasons)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"numbers": dict(self.numbers), "skip_reasons": dict(self.skip_reasons), "facts": dict(self.facts)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepCounts:
        return cls(dict(data.get("numbers") or {}), dict(data.get("skip_reasons") or {}), dict(data.get("facts") or {}))


@dataclass(frozen=True)
class RunPlan:
    """The plan of one run: which window, chosen how, staged under which key."""

    source: str
    run_id: str
    window: Window
    window_mode: str  # conf | interval | interval+skipped | catch_up (see vector_sync.airflow.windows)
    staging_key: str
    started_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "run_id": self.run_id,
            "window": self.window.to_json(),
            "window_mode": self.window_mode,
            "staging_key": self.staging_key,
            "started_at": self.started_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunPlan:
        return cls(
            source=data["source"],
            run_id=data["run_id"],
            window=Window.from_json(data["window"]),
            window_mode=data["window_mode"],
            staging_key=data["staging_key"],
            started_at=parse_time(data["started_at"]),
        )


@dataclass(frozen=True)
class FetchPart:
    """One part of the run's fetch; after the fetch, with its counts."""

    plan: RunPlan
    index: int
    scope: Mapping[str, Any]  # the source's description of the part ({}: the whole window)
    label: str  # the mapped task's name in the Airflow UI
    counts: StepCounts = field(default_factory=StepCounts)

    def fetched(self, counts: StepCounts) -> FetchPart:
        return replace(self, counts=counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_json(),
            "index": self.index,
            "scope": dict(self.scope),
            "label": self.label,
            "counts": self.counts.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FetchPart:
        return cls(
            RunPlan.from_json(data["plan"]),
            int(data["index"]),
            dict(data.get("scope") or {}),
            data["label"],
            StepCounts.from_json(data.get("counts") or {}),
        )


@dataclass(frozen=True)
class EmbedBatch:
    """One embed/upsert batch of the filtered documents, with what was done to it so far.

    ``parts`` lists the fetch parts whose removed documents batch 0 deletes. Batch 0 also
    carries the filter step's counts, so adding up every batch's counts gives the run's."""

    plan: RunPlan
    index: int
    parts: tuple[int, ...]
    counts: StepCounts = field(default_factory=StepCounts)

    def add(self, counts: StepCounts) -> EmbedBatch:
        return replace(self, counts=self.counts + counts)

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan.to_json(), "index": self.index, "parts": list(self.parts), "counts": self.counts.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EmbedBatch:
        return cls(
            RunPlan.from_json(data["plan"]),
            int(data["index"]),
            tuple(int(p) for p in data["parts"]),
            StepCounts.from_json(data.get("counts") or {}),
        )
