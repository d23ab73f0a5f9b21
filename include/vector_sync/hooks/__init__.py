"""Airflow hooks: one connection -> one ready client. With ``vector_sync.airflow`` these are the only
modules that import Airflow; the library core takes the clients they build.

Each source's hook is named in its ``SourceSpec`` (``vector_sync.airflow.backends.hook_class`` loads it).
"""
