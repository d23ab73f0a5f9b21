"""Staged data between steps: JSON lines under one folder per (source, run, window).

Tasks hand each other only the folder's URI and counts (XCom stays small); the bulk lives
here. The root is any path object with ``/``, ``open`` and ``mkdir`` — ``pathlib.Path`` for
the CLI and tests, Airflow's ``ObjectStoragePath`` (file://, s3://, gs://) in tasks — so
workers on different machines share it when the root is object storage.
"""

from __future__ import annotations

import base64
import json
import re
from typing import IO, Any, Iterable, Iterator

import numpy as np

from vector_sync.models import Window

# Staged file names, one per kind of record.
DOCUMENTS = "documents.jsonl"
REMOVED = "removed.jsonl"
FILTERED = "filtered.jsonl"
VECTORS = "vectors.jsonl"
LEDGER_PLAN = "ledger.jsonl"
STALE_CHUNKS = "stale_chunks.jsonl"

# Per open staged file: S3's smallest multipart upload part is 5 MiB.
BUFFER_BYTES = 8 * 1024 * 1024


def part(name: str, index: int) -> str:
    """The file of one fetch partition or embed batch: ``documents.jsonl`` for the first,
    ``documents-0003.jsonl`` for the fourth (mapped tasks each write their own)."""
    if index == 0:
        return name
    stem, _, ext = name.partition(".")
    return f"{stem}-{index:04d}.{ext}"


def run_key(run_id: str, window: Window) -> str:
    """A folder name unique per run and window, safe on every filesystem and bucket."""
    stamp = f"{window.start:%Y%m%dT%H%M%S}-{window.end:%Y%m%dT%H%M%S}"
    safe_run = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)[:80]
    return f"{safe_run}__{stamp}"


class StagedRun:
    """The staging folder of one run of one source."""

    def __init__(self, root: Any, source: str, key: str) -> None:
        self.path = root / source / key
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def uri(self) -> str:
        return str(self.path)

    def write(self, name: str, records: Iterable[dict[str, Any]]) -> int:
        """Write records as JSON lines (replacing the file); returns how many."""
        count = 0
        with self.open(name, "w") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                handle.write("\n")
                count += 1
        return count

    def read(self, name: str) -> Iterator[dict[str, Any]]:
        target = self.path / name
        if not target.exists():
            return
        with self.open(name, "r") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def open(self, name: str, mode: str) -> IO[str]:
        """A staged file as UTF-8 text, buffered in ``BUFFER_BYTES`` blocks.

        ``buffering`` is the io buffer of a local file and the block size of an object-store
        file (s3fs defaults to 50 MiB per open file, read-ahead or upload part alike: a task
        with four files open would hold 200 MB of buffers)."""
        # surrogatepass: a lone surrogate from a cut JSON escape must not fail the whole window
        # (the chunker replaces it before anything is embedded).
        return (self.path / name).open(mode, buffering=BUFFER_BYTES, encoding="utf-8", errors="surrogatepass")

    def exists(self, name: str) -> bool:
        return (self.path / name).exists()


def pack_vector(values: Any) -> str:
    """float32 little-endian base64: a quarter of JSON floats' size, exact round trip."""
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode("ascii")


def unpack_vector(data: str) -> list[float]:
    return np.frombuffer(base64.b64decode(data), dtype="<f4").tolist()
