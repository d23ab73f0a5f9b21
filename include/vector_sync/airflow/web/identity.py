"""Who the signed-in Airflow user is, as the email that search's access rules compare.

Private Slack channels and restricted meetings list their members by email. Auth managers
that know a user's email (FAB: ``user.email``) give it; SimpleAuthManager only has names, so
the Variable ``vector_sync_identities`` maps them (``{"viewer": "amy@example.com"}``) and a
name that is itself an email stands for itself (SimpleAuthManager only: its names are the
operator's; other managers' users may pick their own). Anything unclear means no identity: search
then shows public items only (fail closed) and the note says why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

IDENTITIES_VARIABLE = "vector_sync_identities"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


@dataclass(frozen=True)
class Identity:
    """The email a search runs as (None: public items only) and a note for the reader."""

    email: str | None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"identity": self.email, "identity_note": self.note}


def as_email(value: Any) -> str | None:
    """``value`` normalised as the stores compare it (strip, lower) when it is an email."""
    text = value.strip().lower() if isinstance(value, str) else ""
    return text if _EMAIL.fullmatch(text) else None


def read_identities() -> tuple[dict[str, Any], str | None]:
    """The Variable's name → email map and, when it is unusable, why (then the map is empty).

    Read on every call (one indexed row in the API server, well under a millisecond), so a
    removed entry stops applying at once; never raises, and never echoes the value.
    """
    from vector_sync.airflow.settings import raw_variable

    raw = raw_variable(IDENTITIES_VARIABLE)
    if raw in (None, ""):
        return {}, None
    try:
        value = raw if isinstance(raw, dict) else json.loads(raw)
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, dict):
        return {}, f"the Variable {IDENTITIES_VARIABLE} is not a JSON object of user name → email: fix it in Admin > Variables"
    return value, None


def _names_set_by_operator() -> bool:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    return isinstance(get_auth_manager(), SimpleAuthManager)


def identity_of(user: Any) -> Identity:
    """The signed-in ``user``'s email, or None with the reason."""
    name = user.get_name()
    if hasattr(user, "email"):
        # The auth manager knows emails (FAB): its answer alone counts, so a user name
        # someone chose to look like a colleague's email grants nothing.
        email = as_email(user.email)
        return Identity(email) if email else Identity(None, f"your Airflow account '{name}' has no email")
    identities, problem = read_identities()
    if name in identities:
        email = as_email(identities[name])
        if email:
            return Identity(email)
        return Identity(None, f"the Variable {IDENTITIES_VARIABLE} maps user '{name}' to something that is not an email")
    # SimpleAuthManager's names are written by the operator (config), so a name that is an
    # email can stand for itself; elsewhere users may choose their own names: not trusted.
    email = as_email(name) if _names_set_by_operator() else None
    if email:
        return Identity(email)
    return Identity(None, problem or f"no email known for user '{name}': add it to the Variable {IDENTITIES_VARIABLE}")
