"""vector_sync_health: every 15 minutes, is every source fresh?

One alert when a source turns stale or failed, one when it recovers (vector_sync.health).
"""

from vector_sync.airflow.health import build_health_dag

vector_sync_health = build_health_dag()
