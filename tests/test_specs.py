"""The source registry and its typed options: defaults as the sources used them before, and
every bad override refused with a message naming the key, the range and the Variable."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from vector_sync.airflow.backends import hook_class
from vector_sync.sources import registered_sources, source_class
from vector_sync.specs import COMMON_OPTIONS, REGISTRY, source_settings

ROOT = Path(__file__).resolve().parents[1]


def test_one_spec_per_source_names_its_class_and_hook():
    assert registered_sources() == ["jira", "slack", "notion", "fireflies", "tempo"]
    for name in registered_sources():
        assert source_class(name).name == name
        assert hook_class(name).conn_name_attr


@pytest.mark.parametrize(
    "name, key, value",
    [
        ("jira", "page_size", 100),
        ("slack", "page_size", 200),
        ("slack", "lookback_days", 14),
        ("slack", "prune_history_days", 90),
        ("fireflies", "page_size", 50),
        ("fireflies", "prune_history_days", 365),
        ("fireflies", "prune_confirm", True),
        ("notion", "rps", 3.0),
        ("notion", "workers", 8),
        ("tempo", "page_size", 1000),
        ("tempo", "deleted_lookback_days", 179),
        ("tempo", "jira_conn_id", "jira_default"),
        ("jira", "max_partitions", 4),
        ("jira", "partition_min_hours", 24),
        ("jira", "initial_history_days", 30),
        ("jira", "embed_batch_docs", 2000),
        ("jira", "max_embed_batches", 16),
        ("jira", "prune_max_share", 0.2),
        ("jira", "prune_schedule", "0 3 * * 0"),
        ("slack", "permissions_schedule", "40 * * * *"),
    ],
)
def test_defaults_are_what_the_sources_used_before(name, key, value):
    assert source_settings(name).option(key) == value


def test_settings_defaults():
    fireflies = source_settings("fireflies")
    assert (fireflies.schedule, fireflies.overlap, fireflies.pool) == ("0 * * * *", timedelta(hours=12), "fireflies_api")
    assert (source_settings("slack").chunk_tokens, source_settings("jira").chunk_tokens) == (400, 512)


def test_every_option_read_in_the_code_is_declared():
    """``settings.option("key")``, ``option("key")`` and ``options.get("key")`` in the library."""
    read = set()
    for path in (ROOT / "include" / "vector_sync").rglob("*.py"):
        text = path.read_text()
        read |= set(re.findall(r"""\boption\(\s*f?["']([a-z_{}]+)["']""", text))
        read |= set(re.findall(r"""\boptions\.get\(\s*["']([a-z_]+)["']""", text))
    read = {key.replace("{kind}", kind) for key in read for kind in ("prune", "permissions")}
    declared = {key for spec in REGISTRY.values() for key in spec.schema}
    backend = {
        "index",
        "namespace",
        "openai_conn_id",
        "pinecone_conn_id",
        "hybrid_alpha",
        "model",
        "dimensions",
    }  # vector_sync_config's options
    assert read - backend <= declared


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("jira", {"options": {"page_sise": 50}}, "unknown option 'page_sise' of source 'jira' (Variable vector_sync_jira); known: "),
        (
            "jira",
            {"options": {"page_size": 0}},
            "option 'page_size' of source 'jira' must be an integer from 1 to 100 (Variable vector_sync_jira), got 0",
        ),
        ("jira", {"options": {"page_size": 101}}, "must be an integer from 1 to 100"),
        ("jira", {"options": {"page_size": 2.5}}, "must be an integer from 1 to 100"),
        ("jira", {"options": {"page_size": True}}, "must be an integer from 1 to 100"),
        ("jira", {"options": {"max_partitions": -1}}, "option 'max_partitions' of source 'jira' must be an integer >= 1"),
        ("jira", {"options": {"prune_max_share": 1.5}}, "option 'prune_max_share' of source 'jira' must be a number from 0 to 1"),
        ("slack", {"options": {"auto_join": "yes"}}, "option 'auto_join' of source 'slack' must be true or false"),
        ("slack", {"options": {"method_rpm": [50]}}, "option 'method_rpm' of source 'slack' must be an object"),
        ("notion", {"options": {"rps": -1}}, "option 'rps' of source 'notion' must be a number >= 0 or null"),
        ("fireflies", {"options": {"fetch_mode": "all"}}, "option 'fetch_mode' of source 'fireflies' must be one of list, detail"),
        ("tempo", {"options": {"page_size": 5001}}, "option 'page_size' of source 'tempo' must be an integer from 1 to 5000"),
        ("jira", {"options": {"permissions_schedule": "0 * * * *"}}, "unknown option 'permissions_schedule' of source 'jira'"),
        ("jira", {"options": [1, 2]}, "setting 'options' of source 'jira' must be a JSON object (Variable vector_sync_jira)"),
        (
            "jira",
            {"overlap_minutes": -5},
            "setting 'overlap_minutes' of source 'jira' (Variable vector_sync_jira) must be a number >= 0, got -5",
        ),
        ("jira", {"deadline_minutes": "soon"}, "setting 'deadline_minutes' of source 'jira'"),
        ("jira", {"chunk_tokens": 0}, "setting 'chunk_tokens' of source 'jira' (Variable vector_sync_jira) must be an integer >= 1"),
        ("jira", {"pool": ""}, "setting 'pool' of source 'jira' must be a non-empty string"),
        (
            "jira",
            {"schedule": "every tuesday"},
            "setting 'schedule' of source 'jira' must be a cron expression (UTC) (Variable vector_sync_jira)",
        ),
        ("jira", {"options": {"prune_schedule": "x"}}, "option 'prune_schedule' of source 'jira' must be a cron expression (UTC)"),
    ],
)
def test_bad_overrides_are_refused_naming_key_and_range(name, overrides, message):
    with pytest.raises(ValueError) as raised:
        source_settings(name, overrides)
    assert message in str(raised.value)


def test_valid_overrides_are_parsed():
    settings = source_settings("jira", {"overlap_minutes": 0, "options": {"page_size": "50", "initial_history_days": "0.5"}})
    assert (settings.overlap, settings.option("page_size"), settings.option("initial_history_days")) == (timedelta(0), 50, 0.5)
    assert settings.option("comment_page_size") == 100  # the other defaults stay
    assert source_settings("notion", {"options": {"rps": None}}).option("rps") is None
    assert source_settings("slack", {"options": {"prune_history_days": None}}).option("prune_history_days") is None


def test_common_options_are_in_every_schema():
    assert all(set(COMMON_OPTIONS) <= set(spec.schema) for spec in REGISTRY.values())


def test_readme_options_table_is_the_schema():
    from vector_sync.specs import options_table

    assert options_table() in (ROOT / "README.md").read_text(), "regenerate the README table with vector_sync.specs.options_table()"
