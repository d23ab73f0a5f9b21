"""The sample workspace every simulator serves: a fictional company, deterministic.

People, projects and an ``anchor`` (the sample's "now": all activity happens before it) are
shared; each API's data is generated on first use by that API's module (``generate(ws)``),
so Tempo's worklogs can point at Jira's issues. ``scale`` multiplies item counts for
benchmarks. The same (anchor, scale, seed) always gives the same data.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import import_module
from typing import Any

COMPANY = "Lumen Harbor"
DOMAIN = "example.com"

# api -> module with ``generate(workspace) -> data``
GENERATORS: dict[str, str] = {
    "jira": "sandbox.jira",
    "slack": "sandbox.slack",
    "notion": "sandbox.notion",
    "fireflies": "sandbox.fireflies",
    "tempo": "sandbox.tempo",
}


@dataclass(frozen=True)
class Person:
    account_id: str  # Atlassian accountId
    slack_id: str
    name: str
    email: str


@dataclass(frozen=True)
class Project:
    key: str
    name: str
    is_active: bool


_FIRST = [
    "Dana",
    "Luis",
    "Mei",
    "Omar",
    "Priya",
    "Jonas",
    "Ines",
    "Kofi",
    "Sara",
    "Tomas",
    "Aiko",
    "Bruno",
    "Chloe",
    "Dmitri",
    "Elif",
    "Femi",
    "Greta",
    "Hugo",
    "Ivy",
    "Jamal",
]
_LAST = [
    "Reyes",
    "Ortega",
    "Chen",
    "Haddad",
    "Nair",
    "Berg",
    "Costa",
    "Mensah",
    "Lind",
    "Novak",
    "Sato",
    "Almeida",
    "Dubois",
    "Petrov",
    "Kaya",
    "Adeyemi",
    "Holm",
    "Moreau",
    "Walsh",
    "Farah",
]

PROJECTS = (
    Project("SUBS", "Subscriptions", True),
    Project("BC", "Billing Console", True),
    Project("ARCH", "Archive Migration", False),
)


def floor_to_hour(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


@dataclass
class Workspace:
    anchor: datetime
    scale: int = 1
    seed: int = 7
    days: int = 3  # activity spreads over this many days before the anchor
    people: list[Person] = field(default_factory=list)
    projects: tuple[Project, ...] = PROJECTS
    _data: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)  # generators may call data() for another API

    def __post_init__(self) -> None:
        self.anchor = self.anchor.astimezone(timezone.utc)
        if not self.people:
            count = min(len(_FIRST) * len(_LAST), 12 * max(1, self.scale) if self.scale > 1 else 12)
            self.people = [self._person(i) for i in range(count)]

    def _person(self, i: int) -> Person:
        first = _FIRST[i % len(_FIRST)]
        last = _LAST[(i * 7 + i // len(_FIRST)) % len(_LAST)]
        handle = f"{first}.{last}".lower() + ("" if i < len(_FIRST) else str(i))
        return Person(
            account_id=f"5b10ac8d82e05b22cc7d{i:04x}",
            slack_id=f"U{1000 + i:07d}",
            name=f"{first} {last}",
            email=f"{handle}@{DOMAIN}",
        )

    @property
    def start(self) -> datetime:
        """Earliest activity in the sample."""
        return self.anchor - timedelta(days=self.days)

    def rng(self, api: str) -> random.Random:
        """A generator private to one API, so adding data to one never shifts another."""
        return random.Random(f"{self.seed}:{api}:{self.scale}")

    def data(self, api: str) -> Any:
        """The API's generated data (created once, then shared by the simulator and tests)."""
        with self._lock:
            if api not in self._data:
                self._data[api] = import_module(GENERATORS[api]).generate(self)
            return self._data[api]

    def person_by_account(self, account_id: str) -> Person | None:
        return next((p for p in self.people if p.account_id == account_id), None)


def load_or_create_anchor(path) -> datetime:
    """The sample's anchor, fixed at first use, so a second demo sees the very same data
    (and embeds nothing) even hours later."""
    from pathlib import Path

    file = Path(path)
    if file.exists():
        return datetime.fromisoformat(file.read_text().strip())
    anchor = floor_to_hour(datetime.now(timezone.utc))
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(anchor.isoformat())
    return anchor
