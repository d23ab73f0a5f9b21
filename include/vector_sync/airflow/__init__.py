"""The Airflow layer: with ``vector_sync.hooks``, the only code that imports Airflow.

Variables and connections are read in ``settings``; ``backends`` builds the state store,
embedder, vector store and sources from connections; ``windows`` chooses a run's window;
``tasks`` holds the task bodies and ``dags`` wires them into the sync DAGs; ``callbacks``
records failures and delivers alerts; ``maintenance`` and ``health`` build the prune,
permission and freshness DAGs; ``schedule`` reads the metadata DB for stuck schedules;
``bootstrap`` loads ``airflow_settings.yaml``; ``web`` is the plugin's FastAPI app.

The library core (everything else in ``vector_sync``) never imports this package: it takes
ready clients and backends (see ``vector_sync.run``). Nothing here touches the network or a
database at import time, so DAG files stay cheap to parse.
"""
