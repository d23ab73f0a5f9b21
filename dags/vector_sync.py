"""One sync DAG (vector_sync_<source>), one prune DAG (vector_sync_prune_<source>) and one
rebuild DAG (vector_sync_rebuild_<source>, manual trigger only) per registered source, and a
permission DAG (vector_sync_permissions_<source>) per source whose access can change after
indexing (Slack, Fireflies).

Parsing stays cheap: the registry is a dict of names, and every heavy import (clients,
LanceDB, tokenizer) happens inside the tasks.
"""

from vector_sync.airflow.dags import build_source_dag
from vector_sync.airflow.maintenance import build_permissions_dag, build_prune_dag, permissions_sources
from vector_sync.airflow.rebuild import build_rebuild_dag
from vector_sync.sources import registered_sources

for _name in registered_sources():
    globals()[f"vector_sync_{_name}"] = build_source_dag(_name)
    globals()[f"vector_sync_prune_{_name}"] = build_prune_dag(_name)
    globals()[f"vector_sync_rebuild_{_name}"] = build_rebuild_dag(_name)
for _name in permissions_sources():
    globals()[f"vector_sync_permissions_{_name}"] = build_permissions_dag(_name)
