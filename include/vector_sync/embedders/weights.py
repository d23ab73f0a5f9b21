"""Model weights from safetensors files as read-only memory maps, for the offline embedders.

The format: an 8-byte little-endian header length, a JSON header giving each tensor's dtype,
shape and ``data_offsets`` (relative to the end of the header), then the raw little-endian
data. ``safetensors``' own ``safe_open(..., framework="np")`` copies each tensor instead; mapped,
only the rows actually read (the tokens seen) are paged in, and the page cache shares them
between the task processes of one worker.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_DTYPES = {"F16": "<f2", "F32": "<f4", "I64": "<i8"}


def map_tensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file, by name, as a memory map (no copy)."""
    with open(path, "rb") as file:
        header_len = int.from_bytes(file.read(8), "little")
        header = json.loads(file.read(header_len))
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(meta["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {meta['dtype']}")
        start, end = meta["data_offsets"]
        tensor = np.memmap(path, dtype=dtype, mode="r", offset=8 + header_len + start, shape=tuple(meta["shape"]))
        if tensor.nbytes != end - start:
            raise ValueError(f"{path}: tensor {name} has {end - start} bytes, its shape says {tensor.nbytes}")
        tensors[name] = tensor
    return tensors


def map_tensor(path: Path, name: str) -> np.ndarray:
    """One tensor of a safetensors file as a memory map."""
    tensors = map_tensors(path)
    if name not in tensors:
        raise KeyError(f"{path}: no tensor {name}")
    return tensors[name]
