"""vector_sync_optimize: every hour, the embedded store's vector index and compaction
(vector_sync.airflow.optimize)."""

from vector_sync.airflow.optimize import build_optimize_dag

vector_sync_optimize = build_optimize_dag()
