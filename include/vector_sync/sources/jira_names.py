"""Jira's names for ids that other APIs hand out: issues by id (key, summary, project) in bulk,
people by account id, each asked once and cached for the run.

Tempo's worklogs carry only ``issue.id`` and ``author.accountId``: one ``id in (...)`` search
per batch of issues and one user look-up per person name them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jira import JIRA, JIRAError

from vector_sync.sources.jira import jira_errors, search_issues

ISSUE_FIELDS = ("summary", "project")
# Jira names an id it does not know in its 400: "An issue with key '99001' does not exist...".
_QUOTED_NUMBER = re.compile(r"'(\d+)'")


@dataclass(frozen=True)
class IssueInfo:
    key: str
    summary: str
    project_key: str


class JiraNames:
    """Issues and people as Jira names them; 401/403 raise ``CredentialsError`` for ``conn_id``."""

    def __init__(self, jira: JIRA, conn_id: str) -> None:
        self.jira = jira
        self.conn_id = conn_id
        self.issues: dict[int, IssueInfo | None] = {}  # None: Jira does not know the id
        self._authors: dict[str, str] = {}

    def resolve(self, issue_ids: list[int]) -> None:
        """Look up ``issue_ids`` with one JQL search; ids Jira does not know resolve to None.

        Jira answers 400 naming the ids it does not know: those are dropped and the search
        repeated (one extra request per report). A 400 naming none of them is a real error.
        """
        remaining = list(issue_ids)
        with jira_errors(self.conn_id):
            while remaining:
                try:
                    jql = f"id in ({', '.join(map(str, remaining))})"
                    found = list(search_issues(self.jira, jql, ISSUE_FIELDS, len(remaining), use_post=True))
                except JIRAError as exc:
                    named = _named_ids(exc, remaining) if exc.status_code == 400 else set()
                    if not named:
                        raise
                    self.issues.update(dict.fromkeys(named))
                    remaining = [i for i in remaining if i not in named]
                    continue
                for raw in found:
                    issue_id, info = _issue_info(raw)
                    if issue_id is not None:
                        self.issues[issue_id] = info
                for issue_id in remaining:  # not returned: hidden from this Jira user
                    self.issues.setdefault(issue_id, None)
                return

    def author(self, account_id: str) -> str:
        """The person's display name, asked once per person and run."""
        if not account_id:
            return "Unknown user"
        if account_id not in self._authors:
            with jira_errors(self.conn_id):
                try:
                    name = self.jira.user(account_id).displayName
                except JIRAError as exc:
                    if exc.status_code != 404:
                        raise
                    name = None
            # A deleted or hidden account keeps its id, so hours still add up per person.
            self._authors[account_id] = str(name) if name else f"User {account_id}"
        return self._authors[account_id]


def _issue_info(raw: Any) -> tuple[int | None, IssueInfo | None]:
    try:
        issue_id = int(raw["id"])
        key = str(raw["key"])
    except (KeyError, TypeError, ValueError):
        return None, None
    fields = raw.get("fields") if isinstance(raw.get("fields"), dict) else {}
    project = fields.get("project") if isinstance(fields.get("project"), dict) else {}
    project_key = str(project.get("key") or key.rsplit("-", 1)[0])
    return issue_id, IssueInfo(key, str(fields.get("summary") or "").strip(), project_key)


def _named_ids(exc: JIRAError, ids: Iterable[int]) -> set[int]:
    """The ids of ``ids`` that Jira's error messages name (one message per unknown value)."""
    messages = [exc.text or ""]
    try:
        body = exc.response.json() if exc.response is not None else {}
        messages += [str(m) for m in body.get("errorMessages") or []]
    except (ValueError, AttributeError):
        pass
    quoted = {int(n) for m in messages for n in _QUOTED_NUMBER.findall(m)}
    return quoted & set(ids)
