"""Airflow plugin: the vector-sync operations page and JSON API inside the API server.

Mounts ``vector_sync.airflow.web.app`` at ``/vector-sync`` (behind Airflow's login) and adds a
"Vector sync" entry to the UI's navigation, which shows the page inside the UI. Every Airflow
process loads plugins (task runners too, for macros), so the web app itself is imported and
built only when the API server gets its first request for it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from vector_sync.airflow.web import URL_PREFIX
from vector_sync.airflow.web.lazy import lazy_app


class VectorSyncPlugin(AirflowPlugin):
    name = "vector_sync"
    fastapi_apps = [{"app": lazy_app(), "url_prefix": URL_PREFIX, "name": "vector-sync"}]
    external_views = [
        {
            "name": "Vector sync",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "vector-sync",  # shown inside the UI at /plugin/vector-sync
            "nav_top_level": True,
            "icon": f"{URL_PREFIX}/static/icon.svg",
        }
    ]
