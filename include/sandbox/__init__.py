"""Local simulators of the external APIs vector-sync talks to, and their sample workspace.

Nothing in ``vector_sync`` imports this package: the connectors reach it only through the
base URLs in their connections.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from importlib import import_module

from sandbox.server import RateLimiter, Sandbox
from sandbox.workspace import Workspace, floor_to_hour

# api -> "module:SimulatorClass"
SIMULATORS: dict[str, str] = {
    "jira": "sandbox.jira:JiraSimulator",
    "slack": "sandbox.slack:SlackSimulator",
    "notion": "sandbox.notion:NotionSimulator",
    "fireflies": "sandbox.fireflies:FirefliesSimulator",
    "tempo": "sandbox.tempo:TempoSimulator",
    "openai": "sandbox.openai:OpenAISimulator",
    "pinecone": "sandbox.pinecone:PineconeSimulator",
}


def build_sandbox(
    workspace: Workspace | None = None,
    apis: Iterable[str] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    latency_ms: float = 0.0,
    rate_limits: Mapping[str, RateLimiter] | None = None,
) -> Sandbox:
    """A Sandbox serving ``apis`` (default: every simulator) over ``workspace``."""
    if workspace is None:
        workspace = Workspace(anchor=floor_to_hour(datetime.now(timezone.utc)))
    sims = []
    for api in apis or SIMULATORS:
        module_name, class_name = SIMULATORS[api].split(":")
        sims.append(getattr(import_module(module_name), class_name)(workspace))
    return Sandbox(sims, host=host, port=port, latency_ms=latency_ms, rate_limits=rate_limits)
