"""The one project tagger: which projects a document belongs to, and whether it is kept.

Sources whose items carry their project (Jira, Tempo) tag with it directly; the others find
projects in text: Slack in a channel's name, Fireflies in a meeting's title and summary,
Notion in a page's title and breadcrumb. ``is_kept`` is the rule the pipeline applies to
every document: kept when any of its projects is active, or when it names none and its
source keeps unmapped documents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# What a project key looks like when no project is known (SUBS, BC, ARCH).
KEY_PATTERN = r"[A-Z][A-Z0-9]{1,9}"


def _word(pattern: str, flags: int = 0) -> re.Pattern:
    """``pattern`` not glued to letters or digits on either side (``SUBS-12`` holds ``SUBS``)."""
    return re.compile(rf"(?<![A-Za-z0-9]){pattern}(?![A-Za-z0-9])", flags)


class ProjectTagger:
    """Project keys named in texts.

    A key counts when written as a whole word, case-sensitively (keys are capitals, while
    "arch" or "bc" are ordinary words); a project's name as a phrase in any case and spacing.
    With no project known, ``fallback`` (a regex whose first group is the key) finds them.
    Tags come back sorted, so a document's content never depends on configuration order.
    """

    def __init__(self, keys: Iterable[str] = (), names: Mapping[str, str | None] | None = None, fallback: str | None = None) -> None:
        names = {str(k): v for k, v in (names or {}).items() if k}
        self.rules = [(key, _word(re.escape(key))) for key in dict.fromkeys([*map(str, keys), *names]) if key]
        for key, name in names.items():
            words = (name or "").split()
            if words:
                self.rules.append((key, _word(r"\s+".join(map(re.escape, words)), re.IGNORECASE)))
        self.fallback = re.compile(fallback) if fallback else None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, names: bool = True, fallback: str | None = None) -> ProjectTagger:
        """From the source options ``project_keys`` (keys, or ``{key, name}``), ``projects``
        (``[{key, name}]``, filled from the projects table) and ``project_names`` (``{key: name}``);
        ``names=False`` matches keys only."""
        keys: list[str] = []
        named: dict[str, str | None] = {}
        for entry in [*(options.get("projects") or []), *(options.get("project_keys") or [])]:
            key, name = (entry.get("key"), entry.get("name")) if isinstance(entry, Mapping) else (entry, None)
            if key:
                keys.append(str(key))
                named[str(key)] = named.get(str(key)) or (str(name) if name else None)
        named.update(options.get("project_names") or {})
        return cls(keys, named if names else None, fallback)

    def __call__(self, *texts: str) -> tuple[str, ...]:
        text = "\n".join(t for t in texts if t)
        if not self.rules:
            return tuple(sorted(set(self.fallback.findall(text)))) if self.fallback else ()
        return tuple(sorted({key for key, rule in self.rules if rule.search(text)}))


def names_of(options: Mapping[str, Any]) -> dict[str, str]:
    """``{key: name}`` of the projects in option ``projects`` (for text that names them)."""
    return {
        str(p["key"]): str(p["name"]) for p in options.get("projects") or [] if isinstance(p, Mapping) and p.get("key") and p.get("name")
    }


def is_kept(projects: Iterable[str], active: Mapping[str, bool], keep_unmapped: bool) -> bool:
    """Whether a document with ``projects`` is indexed: one of them is active, or it names
    none and its source keeps unmapped documents (``Source.keep_unmapped``)."""
    projects = list(projects)
    return any(active.get(key) is True for key in projects) or (not projects and keep_unmapped)
