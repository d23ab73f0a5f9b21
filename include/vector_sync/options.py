"""Typed source options: each key's type, default and allowed range, declared once.

A Variable's ``options`` are checked against these before any task uses them, so a typo or a
nonsense value (``page_size: 0``) fails at once with a message naming the key and the range,
instead of being ignored or clamped somewhere deep in a source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list", dict: "an object"}


@dataclass(frozen=True)
class Option:
    """One key of a source's ``options``. JSON may give numbers as text: "0.5" is read as 0.5."""

    type: type
    default: Any
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False  # null is meaningful (e.g. "no limit")
    cron: bool = False  # a schedule: a bad one would otherwise break the DAG file's parsing

    def allowed(self) -> str:
        """The allowed values in words, e.g. "an integer from 1 to 100"."""
        if self.choices:
            text = "one of " + ", ".join(self.choices)
        elif self.cron:
            text = "a cron expression (UTC)"
        else:
            text = _TYPE_NAMES[self.type]
            if self.min is not None and self.max is not None:
                text += f" from {_number(self.min)} to {_number(self.max)}"
            elif self.min is not None:
                text += f" >= {_number(self.min)}"
            elif self.max is not None:
                text += f" <= {_number(self.max)}"
        return text + (" or null" if self.nullable else "")

    def parse(self, value: Any) -> Any:
        """``value`` as this option's type; ``ValueError`` when it is not an allowed value."""
        if value is None and self.nullable:
            return None
        parsed = _as_type(self.type, value)
        if self.choices and parsed not in self.choices or self.cron and not is_cron(parsed):
            raise ValueError(value)
        if self.min is not None and parsed < self.min or self.max is not None and parsed > self.max:
            raise ValueError(value)
        return parsed


def _as_type(kind: type, value: Any) -> Any:
    if isinstance(value, bool) and kind is not bool:  # JSON true is not the number 1
        raise ValueError(value)
    if kind is int:
        number = float(value) if isinstance(value, (int, float, str)) else None
        if number is None or number != int(number):
            raise ValueError(value)
        return int(number)
    if kind is float:
        if not isinstance(value, (int, float, str)):
            raise ValueError(value)
        return float(value)
    if kind is list and isinstance(value, tuple):
        return list(value)
    if kind is dict and isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, kind):
        raise ValueError(value)
    return value


def is_cron(text: str) -> bool:
    """Whether Airflow's cron timetables accept ``text`` (croniter, as they use)."""
    from croniter import croniter

    return croniter.is_valid(text)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def check_options(source: str, schema: Mapping[str, Option], values: Any) -> dict[str, Any]:
    """``values`` (a Variable's ``options``) parsed against ``schema``; ``ValueError`` naming
    the key, the source, the Variable and the allowed values otherwise."""
    where = f"(Variable vector_sync_{source})"
    if not isinstance(values, Mapping):
        raise ValueError(f"setting 'options' of source '{source}' must be a JSON object {where}, got {values!r}")
    parsed: dict[str, Any] = {}
    for key, value in values.items():
        option = schema.get(key)
        if option is None:
            raise ValueError(f"unknown option '{key}' of source '{source}' {where}; known: {', '.join(sorted(schema))}")
        try:
            parsed[key] = option.parse(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"option '{key}' of source '{source}' must be {option.allowed()} {where}, got {value!r}") from None
    return parsed


def defaults(schema: Mapping[str, Option]) -> dict[str, Any]:
    """The options a source runs with when its Variable sets none."""
    return {key: option.default for key, option in schema.items()}
