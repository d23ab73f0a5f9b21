"""Helpers for the alerting tests: a real (minimal) SMTP server and the alert connections.

Alerts are read back where they land: the Slack simulator's ``posted`` list (chat.postMessage
and the incoming webhook) and the messages this SMTP server received over a socket.
"""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
import threading
from dataclasses import dataclass
from typing import Any

from sandbox.slack import WEBHOOK_PATH

ALERT_EMAIL = "oncall@example.com"


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def text(self) -> str:
        """Subject and every text part, decoded."""
        parts = [self.subject]
        for part in self.message.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_content())
        return "\n".join(parts)


class _SmtpHandler(socketserver.StreamRequestHandler):
    """RFC 5321's happy path: EHLO/HELO, MAIL, RCPT, DATA (dot-stuffed), RSET, NOOP, QUIT."""

    server: _SmtpServer

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode("ascii"))
        self.wfile.flush()

    def handle(self) -> None:
        self.reply("220 localhost vector-sync test SMTP")
        sender, recipients = "", []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb == "EHLO":
                self.reply("250-localhost")
                self.reply("250-8BITMIME")
                self.reply("250 SIZE 10485760")
            elif verb == "HELO":
                self.reply("250 localhost")
            elif verb == "MAIL":
                sender, recipients = line.split(":", 1)[1].strip().split()[0].strip("<>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(line.split(":", 1)[1].strip().split()[0].strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    data = self.rfile.readline()
                    if data in (b".\r\n", b".\n", b""):
                        break
                    lines.append(data[1:] if data.startswith(b"..") else data)
                message = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
                with self.server.lock:
                    self.server.mails.append(Mail(sender, recipients, message))
                self.reply("250 OK queued")
            elif verb == "RSET":
                sender, recipients = "", []
                self.reply("250 OK")
            elif verb == "NOOP":
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.mails: list[Mail] = []
        self.lock = threading.Lock()


class SmtpSink:
    """A local SMTP server on a free port; ``mails`` holds what it received."""

    def __init__(self) -> None:
        self._server = _SmtpServer()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def mails(self) -> list[Mail]:
        with self._server.lock:
            return list(self._server.mails)

    def connection_json(self) -> str:
        return json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": self.port,
                "extra": {
                    "disable_ssl": True,
                    "disable_tls": True,
                    "from_email": "vector-sync@example.com",
                    "timeout": 5,
                    "retry_limit": 0,
                },
            }
        )

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


def webhook_connection_json(sandbox) -> str:
    """``slack_default`` as the settings file defines it: host = the sandbox's Slack prefix +
    /services, password = the webhook's token path."""
    return json.dumps(
        {"conn_type": "slackwebhook", "host": f"{sandbox.base_url('slack')}/services", "password": WEBHOOK_PATH.removeprefix("/services/")}
    )


def alert_env(monkeypatch, sandbox, smtp: SmtpSink | None, *, bot: bool = True, webhook: bool = True, channel: str = "#alerts") -> None:
    """Alert connections and the ``vector_sync_alerts`` Variable, as environment variables."""
    if webhook:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_DEFAULT", webhook_connection_json(sandbox))
    else:
        monkeypatch.delenv("AIRFLOW_CONN_SLACK_DEFAULT", raising=False)
    if not bot:
        monkeypatch.delenv("AIRFLOW_CONN_SLACK_API_DEFAULT", raising=False)
    settings: dict[str, Any] = {"slack_channel": channel}
    if smtp is not None:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp.connection_json())
        settings["email_to"] = [ALERT_EMAIL]
    else:
        monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    monkeypatch.setenv("AIRFLOW_VAR_VECTOR_SYNC_ALERTS", json.dumps(settings))


def slack_posts(sandbox, kind: str | None = None) -> list[dict]:
    """What reached Slack (bot posts and webhook posts), optionally of one alert kind."""
    posted = list(sandbox.simulator("slack").posted)
    if kind is not None:
        posted = [p for p in posted if f"*vector-sync {kind}*" in (p.get("text") or "")]
    return posted


# ----------------------------------------------------------------------------- DAG runs


@dataclass
class World:
    """One test's sandbox, embedded backends, SMTP server and alert settings."""

    sandbox: Any
    state: Any
    store: Any
    smtp: SmtpSink
    settings: dict


def make_world(monkeypatch, sandbox, tmp_path, smtp: SmtpSink) -> World:
    from tests.sourcekit import sandbox_settings
    from vector_sync.airflow.bootstrap import projects_from
    from vector_sync.runtime import build_state, build_store, embedded_config

    settings = sandbox_settings(monkeypatch, sandbox)
    monkeypatch.setenv("VECTOR_SYNC_DATA_DIR", str(tmp_path / "data"))
    config = embedded_config()
    state = build_state(config)
    state.projects.upsert(projects_from(settings))
    alert_env(monkeypatch, sandbox, smtp)
    return World(sandbox, state, build_store(config), smtp, settings)


def source_dag(name: str, *, retries: int | None = None):
    """The source's DAG as the DAG file builds it, with retry waits shortened for the test
    (``dag.test`` waits out real retry delays): 1 s per retry, same counts unless given."""
    from datetime import timedelta

    from vector_sync.airflow.dags import build_source_dag

    dag = build_source_dag(name)
    for task in dag.tasks:
        task.retry_delay = timedelta(0)
        task.max_retry_delay = timedelta(seconds=1)
        if retries is not None:
            task.retries = retries
    return dag


def task_states(run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (str(ti.state), ti.try_number) for ti in run.get_task_instances()}


def first_failure(run) -> tuple[str, int]:
    """State and try of the first task that failed itself (not upstream_failed): ``plan`` when
    the client checks credentials as it is built (Jira, Slack), else ``fetch``."""
    states = task_states(run)
    task = next(t for t in ("plan", "fetch", "filter_active_projects", "embed", "upsert", "record") if states.get(t, ("",))[0] == "failed")
    return states[task]


def index_snapshot(store, state, source: str) -> dict[str, Any]:
    """What a sync left behind for ``source``, independent of where it ran: every vector
    (id -> text, metadata, values), the ledger (document -> hash, chunk count, fingerprint)
    and the chunk ledger. Two syncs of the same windows must leave equal snapshots."""
    import lancedb

    vectors: dict[str, Any] = {}
    try:
        table = lancedb.connect(store.uri).open_table(store.table_name)
    except (ValueError, FileNotFoundError):
        table = None
    if table is not None:
        rows = (
            table.search()
            .where(f"starts_with(id, '{source}:')")
            .select(["id", "text", "metadata_json", "vector"])
            .limit(None)
            .to_arrow()
            .to_pylist()
        )
        vectors = {row["id"]: (row["text"], row["metadata_json"], tuple(round(v, 6) for v in row["vector"])) for row in rows}
    doc_ids = state.ledger.documents_of_source(source, include_deleted=True)
    ledger = {doc_id: (e.content_hash, e.chunk_count, e.fingerprint, e.deleted) for doc_id, e in state.ledger.entries(doc_ids).items()}
    chunks = dict(sorted(state.ledger.chunk_hashes(doc_ids).items()))
    return {"vectors": vectors, "ledger": ledger, "chunks": chunks}
