"""The shared connection handling of the own hooks: URLs, extras, and what a missing or
incomplete connection says."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from vector_sync.errors import FatalError
from vector_sync.hooks.connection import base_url, client_options
from vector_sync.hooks.fireflies import FirefliesHook
from vector_sync.hooks.notion import NotionHook
from vector_sync.hooks.tempo import TempoHook


def conn(**fields) -> Connection:
    return Connection(conn_id="x", conn_type="http", **fields)


@pytest.mark.parametrize(
    ("fields", "default_path", "expected"),
    [
        ({}, "", "https://default.example.com"),
        ({"host": "http://127.0.0.1:8765/tempo/"}, "", "http://127.0.0.1:8765/tempo"),
        ({"host": "api.eu.tempo.io"}, "", "https://api.eu.tempo.io"),
        ({"host": "api.fireflies.ai"}, "graphql", "https://api.fireflies.ai/graphql"),
        ({"host": "localhost", "port": 8765, "schema": "notion"}, "", "http://localhost:8765/notion"),
    ],
)
def test_base_url(fields, default_path, expected):
    assert base_url(conn(**fields), "https://default.example.com", default_path) == expected


def test_client_options_cast_the_extras_that_are_set():
    options = client_options(
        conn(extra=json.dumps({"timeout_s": "12", "max_retries": 4, "notion_version": ""})),
        timeout_s=float,
        max_retries=int,
        notion_version=str,
        total_retries=int,
    )
    assert options == {"timeout_s": 12.0, "max_retries": 4}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"timeout_s": "soon"}, "extra timeout_s must be a number, got 'soon'"),
        ({"max_retries": 2.5}, "extra max_retries must be a whole number, got 2.5"),
        ({"max_retries": "x" * 10_000}, "extra max_retries must be a whole number, got 'xxxx"),
        ({"max_retries": True}, "extra max_retries must be a whole number, got True"),
        ({"timeout_s": [30]}, "extra timeout_s must be a number, got \\[30\\]"),
        ({"max_retries": -1}, "extra max_retries must not be negative or infinite, got -1"),
        ({"timeout_s": "-0.5"}, "extra timeout_s must not be negative or infinite"),
        ({"timeout_s": "inf"}, "extra timeout_s must not be negative or infinite"),
        ({"timeout_s": "nan"}, "extra timeout_s must not be negative or infinite"),
    ],
)
def test_a_bad_extra_is_named_with_its_connection(extra, message):
    with pytest.raises(FatalError, match=f"connection 'x': {message}") as caught:
        client_options(conn(extra=json.dumps(extra)), timeout_s=float, max_retries=int)
    assert len(str(caught.value)) < 200


def test_extras_that_are_not_an_object_are_named():
    with pytest.raises(FatalError, match="connection 'x': extra must be a JSON object, got list"):
        client_options(conn(extra=json.dumps([1, 2])), timeout_s=float)


def test_a_missing_connection_names_what_to_add(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_FIREFLIES_MISSING", raising=False)
    with pytest.raises(FatalError, match="connection 'fireflies_missing' is not defined: add it \\(password = Fireflies API key"):
        FirefliesHook("fireflies_missing").get_conn()


@pytest.mark.parametrize(
    ("hook", "env", "message"),
    [
        (lambda: NotionHook("notion_blank"), "AIRFLOW_CONN_NOTION_BLANK", "'notion_blank' has no password \\(the integration token\\)"),
        (
            lambda: TempoHook("tempo_blank", jira_conn_id="jira_default"),
            "AIRFLOW_CONN_TEMPO_BLANK",
            "'tempo_blank' has no password \\(the Tempo API token\\)",
        ),
    ],
)
def test_a_connection_without_its_secret_fails_fast(monkeypatch, hook, env, message):
    monkeypatch.setenv(env, json.dumps({"conn_type": "http", "host": "https://api.example.com"}))
    with pytest.raises(FatalError, match=message):
        hook().get_conn()
