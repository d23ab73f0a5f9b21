"""What the own hooks (Jira, Notion, Fireflies, Tempo) do alike with an Airflow connection:
find it or say what to add, insist on the secret, read a base URL and the client extras."""

from __future__ import annotations

import math
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from vector_sync.errors import FatalError

_LOCAL_HOSTS = ("localhost", "127.0.0.1")


def connection(hook: BaseHook, conn_id: str, fields: str) -> Any:
    """The connection ``conn_id``; a missing one is a ``FatalError`` naming the ``fields`` to set."""
    try:
        return hook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise FatalError(f"Airflow connection '{conn_id}' is not defined: add it ({fields})") from None


def require(value: Any, conn_id: str, what: str) -> Any:
    """``value``, or a ``FatalError`` saying which field of ``conn_id`` is empty (``what``)."""
    if not value:
        raise FatalError(f"Airflow connection '{conn_id}' has no {what}")
    return value


def base_url(conn: Any, default: str, default_path: str = "") -> str:
    """The connection's base URL: ``host`` as written when it is a full URL, else built from
    host, port and schema (a connection given as a URI, ``tempo://api.eu.tempo.io``, loses its
    scheme: https, http for localhost); ``default`` without a host."""
    host = conn.host
    if not host:
        return default
    if "://" in host:
        return host.rstrip("/")
    scheme = "http" if host in _LOCAL_HOSTS else "https"
    url = f"{scheme}://{host}:{conn.port}" if conn.port else f"{scheme}://{host}"
    path = (conn.schema or default_path).strip("/")
    return f"{url}/{path}" if path else url


def client_options(conn: Any, **types: type) -> dict[str, Any]:
    """The extras among ``types`` the connection sets, cast (``timeout_s=float``); the client
    factory's own defaults stand for the others.

    Raises:
        FatalError: naming the connection and the extra, when the extras are not a JSON object
            or one of them is not of its type (a number: not negative) — a retry would not fix it.
    """
    extras = conn.extra_dejson or {}
    conn_id = getattr(conn, "conn_id", None) or "?"
    if not isinstance(extras, dict):
        raise FatalError(f"Airflow connection '{conn_id}': extra must be a JSON object, got {type(extras).__name__}")
    options = {}
    for key, cast in types.items():
        value = extras.get(key)
        if value in (None, ""):
            continue
        try:
            if isinstance(value, (bool, list, dict)) or (cast is int and isinstance(value, float) and not value.is_integer()):
                raise TypeError
            options[key] = cast(value)
        except (TypeError, ValueError):
            raise FatalError(
                f"Airflow connection '{conn_id}': extra {key} must be {_KINDS.get(cast, cast.__name__)}, got {value!r:.40}"
            ) from None
        if cast in (int, float) and not 0 <= options[key] < math.inf:
            raise FatalError(f"Airflow connection '{conn_id}': extra {key} must not be negative or infinite, got {value!r:.40}")
    return options


_KINDS = {int: "a whole number", float: "a number", str: "a string"}
