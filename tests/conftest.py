"""Shared fixtures: a fixed sample workspace and the sandbox serving it on a free port."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sandbox import build_sandbox
from sandbox.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
# The vendors' specs and recorded responses live beside the repo (../shared), never copied in.
VENDOR_DIR = Path(os.environ.get("VECTOR_SYNC_VENDOR_DIR", ROOT.parent / "shared" / "reference" / "vendor"))

# A fixed "now" for the sample workspace, so expected ids and windows are exact.
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def vendor_dir() -> Path:
    assert VENDOR_DIR.is_dir(), f"vendor specs not found at {VENDOR_DIR} (set VECTOR_SYNC_VENDOR_DIR)"
    return VENDOR_DIR


@pytest.fixture(scope="session")
def workspace() -> Workspace:
    return Workspace(anchor=ANCHOR)


@pytest.fixture()
def sandbox(workspace):
    """Every simulator on one port; faults and the request log start empty for each test."""
    with build_sandbox(workspace) as box:
        yield box
