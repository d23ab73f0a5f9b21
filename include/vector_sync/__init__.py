"""vector-sync: incremental sync of work tools into a vector index (library core, no Airflow)."""
