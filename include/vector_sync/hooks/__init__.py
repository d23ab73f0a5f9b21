"""Airflow hooks: one connection -> one ready client. With ``airflow_adapter`` these are the only
modules that import Airflow; the library core takes the clients they build.

Each source's hook is named in its ``SourceSpec`` (``vector_sync.specs.hook_class``).
"""
