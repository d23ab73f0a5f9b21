"""The index as Model Context Protocol tools, for AI assistants and IDEs.

One server (``server.build_server``: ``search``, ``fetch_document``, ``sync_status``), two
transports: stdio for a local assistant (``vector-sync mcp``, ``stdio``) and streamable HTTP
inside Airflow's API server (``/vector-sync/mcp``, ``http``; the login is checked by the
Airflow layer, ``vector_sync.airflow.web.mcp``). Whoever is asking decides what is visible,
with the same access rule as every other search (``models.SearchFilter``): fail closed.

Airflow-free like the rest of the core: the transports are handed their backends and, over
HTTP, a function that names the caller.
"""
