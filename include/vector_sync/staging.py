"""Staged data between steps: JSON lines under one folder per (source, run, window).

Tasks hand each other only small records (``vector_sync.protocol``) naming the folder's key;
the bulk lives here. The root is any path object with ``/``, ``open`` and ``mkdir`` —
``pathlib.Path`` for the CLI and tests, Airflow's ``ObjectStoragePath`` (file://, s3://,
gs://) in tasks — so workers on different machines share it when the root is object storage.

``StagedRun`` is the only code that knows the layout: one file per kind of record and per
fetch part (documents, removed ids) or embed batch (filtered documents, vectors, ledger rows,
stale chunk ids); mapped tasks each write their own.
"""

from __future__ import annotations

import base64
import enum
import json
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

import numpy as np

from vector_sync.models import Window

# Per open staged file: S3's smallest multipart upload part is 5 MiB.
BUFFER_BYTES = 8 * 1024 * 1024


class Kind(enum.Enum):
    """A kind of staged record; its value is the file name of part or batch 0."""

    DOCUMENTS = "documents.jsonl"  # per fetch part: the documents fetched
    REMOVED = "removed.jsonl"  # per fetch part: ids deleted upstream
    FILTERED = "filtered.jsonl"  # per batch: documents of active projects, to embed
    VECTORS = "vectors.jsonl"  # per batch: embedded chunks, to upsert
    LEDGER_ROWS = "ledger.jsonl"  # per batch: ledger rows written after the upsert
    STALE_CHUNKS = "stale_chunks.jsonl"  # per batch: chunk ids a shrunken document lost


def run_key(run_id: str, window: Window) -> str:
    """A folder name unique per run and window, safe on every filesystem and bucket."""
    stamp = f"{window.start:%Y%m%dT%H%M%S}-{window.end:%Y%m%dT%H%M%S}"
    safe_run = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)[:80]
    return f"{safe_run}__{stamp}"


class StagedRun:
    """The staging folder of one run of one source: every staged file's name and place."""

    def __init__(self, root: Any, source: str, key: str) -> None:
        self.key = key
        self.path = root / source / key
        self.path.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_run(cls, root: Any, source: str, run_id: str, window: Window) -> StagedRun:
        """The folder of run ``run_id`` over ``window`` (its key: ``run_key``)."""
        return cls(root, source, run_key(run_id, window))

    @classmethod
    def runs(cls, root: Any, source: str) -> list[StagedRun]:
        """Every run of ``source`` staged under ``root`` (none before its first fetch)."""
        folder = root / source
        if not folder.exists():
            return []
        return [cls(root, source, path.name) for path in sorted(folder.iterdir(), key=lambda p: p.name) if path.is_dir()]

    @property
    def uri(self) -> str:
        return str(self.path)

    @staticmethod
    def file_name(kind: Kind, index: int = 0) -> str:
        """``documents.jsonl`` for part (or batch) 0, ``documents-0003.jsonl`` for the fourth."""
        if index == 0:
            return kind.value
        stem, _, ext = kind.value.partition(".")
        return f"{stem}-{index:04d}.{ext}"

    def write(self, kind: Kind, index: int, records: Iterable[dict[str, Any]]) -> int:
        """Write records as JSON lines (replacing the file); returns how many."""
        count = 0
        with self.open(kind, index, "w") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                handle.write("\n")
                count += 1
        return count

    def read(self, kind: Kind, index: int = 0) -> Iterator[dict[str, Any]]:
        """The records of one part or batch (none when it staged nothing of that kind)."""
        if not self.exists(kind, index):
            return
        with self.open(kind, index, "r") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def open(self, kind: Kind, index: int, mode: str) -> IO[str]:
        """A staged file as UTF-8 text, buffered in ``BUFFER_BYTES`` blocks.

        ``buffering`` is the io buffer of a local file and the block size of an object-store
        file (s3fs defaults to 50 MiB per open file, read-ahead or upload part alike: a task
        with four files open would hold 200 MB of buffers)."""
        # surrogatepass: a lone surrogate from a cut JSON escape must not fail the whole window
        # (the chunker replaces it before anything is embedded).
        return (self.path / self.file_name(kind, index)).open(mode, buffering=BUFFER_BYTES, encoding="utf-8", errors="surrogatepass")

    def exists(self, kind: Kind, index: int = 0) -> bool:
        return (self.path / self.file_name(kind, index)).exists()

    def indexes(self, kind: Kind) -> list[int]:
        """The parts (or batches) that staged a file of ``kind``, in order."""
        stem, _, ext = kind.value.partition(".")
        found = []
        for path in self.path.iterdir():
            number = path.name.removeprefix(f"{stem}-").removesuffix(f".{ext}")
            if path.name == kind.value:
                found.append(0)
            elif number.isdigit() and path.name == f"{stem}-{number}.{ext}":
                found.append(int(number))
        return sorted(found)

    def cleanup(self) -> None:
        """Delete everything staged for the run, and its folder (object stores have none)."""
        for path in self.path.iterdir():
            path.unlink()
        try:
            self.path.rmdir()
        except OSError:
            pass


def pack_vector(values: Any) -> str:
    """float32 little-endian base64: a quarter of JSON floats' size, exact round trip."""
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode("ascii")


def unpack_vector(data: str) -> list[float]:
    return np.frombuffer(base64.b64decode(data), dtype="<f4").tolist()
