"""Airflow hooks: one connection -> one ready client. With ``airflow_adapter`` these are the only
modules that import Airflow; the library core takes the clients they build.

``CLIENT_HOOKS`` maps a source to the hook that builds its client (``hook.get_conn()``).
"""

CLIENT_HOOKS: dict[str, str] = {
    "jira": "vector_sync.hooks.jira:JiraHook",
    "slack": "vector_sync.hooks.slack:SlackClientHook",
    "notion": "vector_sync.hooks.notion:NotionHook",
    "fireflies": "vector_sync.hooks.fireflies:FirefliesHook",
    "tempo": "vector_sync.hooks.tempo:TempoHook",
}
