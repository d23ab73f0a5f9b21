"""`vector-sync settings load`: airflow_settings.yaml into Airflow's metadata DB."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    settings = sub.add_parser("settings", help="load airflow_settings.yaml into Airflow's metadata DB")
    settings.add_argument("action", choices=["load"])
    settings.add_argument("file", nargs="?", help="default: $VECTOR_SYNC_SETTINGS_FILE, else the checkout's airflow_settings.yaml")
    settings.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    import yaml

    from vector_sync.airflow.bootstrap import DEFAULT_FILE, apply_settings, projects_from, read_settings
    from vector_sync.cli.context import metadata, runtime
    from vector_sync.cli.metadata import MIGRATE_HINT
    from vector_sync.cli.output import UsageError, emit

    file = Path(args.file or os.environ.get("VECTOR_SYNC_SETTINGS_FILE") or DEFAULT_FILE)
    if not file.is_file():
        raise UsageError(f"settings file {str(file)!r} not found: give the path of an airflow_settings.yaml")
    try:
        settings = read_settings(file)
    except (yaml.YAMLError, AttributeError, TypeError) as exc:
        raise UsageError(f"settings file {str(file)!r} is not an airflow_settings.yaml: {str(exc).splitlines()[0]}") from None
    meta = metadata()
    if meta is not None and not meta.migrated:
        raise UsageError(f"Airflow's metadata DB ({meta.url}) is not migrated: {MIGRATE_HINT}, then load the settings again")
    projects = projects_from(settings)
    counts = apply_settings(settings)
    if projects:
        runtime(seed_projects=False, embeds=False).state.projects.upsert(projects)
    emit(f"loaded {counts['connections']} connections, {counts['pools']} pools, {counts['variables']} variables, {len(projects)} projects")
    return 0
