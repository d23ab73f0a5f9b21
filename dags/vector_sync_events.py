"""vector_sync_<source>_events: one DAG per source with webhooks, run when its webhook asset
gets an event (vector_sync.airflow.events); a run syncs exactly the items the events name."""

from vector_sync.airflow.events import build_events_dag, webhook_sources

for _name in webhook_sources():
    globals()[f"vector_sync_{_name}_events"] = build_events_dag(_name)
