"""Helpers for the deployment tests: docker-compose.yaml as Compose would resolve it, and a
real S3 API on 127.0.0.1 (moto's standalone server) for the object-storage staging."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from tests.conftest import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yaml"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable interpolation: ``$VAR``, ``${VAR}``, ``${VAR:-default}``,
    ``${VAR-default}``, ``${VAR:?err}``, ``${VAR?err}``, ``${VAR:+alt}``, ``${VAR+alt}``,
    nested defaults and ``$$`` for a literal dollar sign."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 2)
            out.append(_resolve(text[i + 2 : end], env))
            i = end + 1
        elif match := _NAME.match(text, i + 1):
            out.append(env.get(match.group(), ""))
            i = match.end()
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unclosed ${{ in {text!r}")


def _resolve(expr: str, env: Mapping[str, str]) -> str:
    match = _NAME.match(expr)
    if not match:
        raise ValueError(f"invalid interpolation ${{{expr}}}")
    name, rest = match.group(), expr[match.end() :]
    value = env.get(name)
    if not rest:
        return value or ""
    for op in (":-", "-", ":?", "?", ":+", "+"):
        if rest.startswith(op):
            arg = interpolate(rest[len(op) :], env)
            is_set = value is not None and (value != "" or ":" not in op)
            if op.endswith("-"):
                return value if is_set else arg  # type: ignore[return-value]
            if op.endswith("?"):
                if not is_set:
                    raise ValueError(f"required variable {name}: {arg}")
                return value  # type: ignore[return-value]
            return arg if is_set else ""
    raise ValueError(f"unsupported interpolation ${{{expr}}}")


def _walk(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_walk(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _walk(value, env) for key, value in node.items()}
    return node


def raw_compose() -> dict[str, Any]:
    """The file as YAML (anchors and merge keys applied), before interpolation."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The file as Compose resolves it with ``env`` as the environment (and no .env file)."""
    return _walk(raw_compose(), env or {})


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a dict of strings (map or list form)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def airflow_services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if name.startswith("airflow-")}


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3-compatible server on a free port of 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def forget_object_stores() -> None:
    """Airflow caches one filesystem per (protocol, conn id): drop them when the endpoint changes."""
    from airflow.sdk.io import store

    for alias in [alias for alias in store._STORE_CACHE if alias.startswith(("s3", "s3a"))]:
        del store._STORE_CACHE[alias]


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


def keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    pages = s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
