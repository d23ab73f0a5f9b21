"""The vendors' webhook receivers: ``POST /vector-sync/webhooks/{slack,jira,notion,fireflies}``.

Mounted inside the plugin app but outside Airflow's login (vendors have no Airflow token):
each request proves itself with its vendor's signature instead (``vector_sync.webhooks``),
keyed by the password of the Airflow connection ``vector_sync_webhook_<source>``. No
connection, no receiver: the request is refused (fail closed).

The request does only what keeps it under a second (Slack retries after three): read at most
``MAX_BODY_BYTES``, verify, store the event in the state DB (idempotent by the vendor's event
id), add an asset event on the source's asset so its events DAG runs, answer. Nothing is
fetched from the vendor here. A bad or missing signature, a stale timestamp, a replayed event
id, an oversized or malformed body gets a 4xx and stores no event (only a rejection count).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from vector_sync.webhooks import MAX_BODY_BYTES, Rejected, events_asset_name, parse_json, vendor

log = logging.getLogger(__name__)

CONN_PREFIX = "vector_sync_webhook_"
# A changed secret applies within this long without restarting the API server.
SECRET_TTL_S = 30.0


def connection_secret(source: str) -> str | None:
    """The signing secret: the password of connection ``vector_sync_webhook_<source>``."""
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(CONN_PREFIX + source)
    except Exception as exc:  # AirflowNotFoundException, or the secrets backend failing: closed
        log.warning("webhooks: no usable connection %s%s (%s)", CONN_PREFIX, source, type(exc).__name__)
        return None
    return conn.password or None


def add_asset_event(source: str, extra: dict[str, Any]) -> None:
    """Add an asset event on the source's asset, as ``POST /api/v2/assets/events`` does (this
    runs inside the API server, so it calls the same asset manager directly)."""
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.name == events_asset_name(source)).limit(1))
        if asset is None:
            log.warning(
                "webhooks: asset %s is not known yet (DAGs not parsed?): the events wait for the next run", events_asset_name(source)
            )
            return
        asset_manager.register_asset_change(asset=asset, extra=extra, source_is_api=True, session=session)


class SecretCache:
    """Secrets by source for ``ttl_s`` seconds (a lookup may hit the metadata DB)."""

    def __init__(self, lookup: Callable[[str], str | None] = connection_secret, ttl_s: float = SECRET_TTL_S) -> None:
        self.lookup = lookup
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, str | None]] = {}

    def get(self, source: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            cached = self._values.get(source)
            if cached and now - cached[0] < self.ttl_s:
                return cached[1]
        value = self.lookup(source)
        with self._lock:
            self._values[source] = (now, value)
        return value


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, or ``Rejected(413)`` as soon as it passes ``limit`` (never read whole)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Rejected(413, f"body over {limit} bytes")
    body = bytearray()
    async for part in request.stream():
        body.extend(part)
        if len(body) > limit:
            raise Rejected(413, f"body over {limit} bytes")
    return bytes(body)


# Headers a vendor sets on its own redelivery of an event it thinks failed (our answer was slow or
# lost): Slack "X-Slack-Retry-Num" (https://api.slack.com/apis/events-api#retries), Atlassian
# "X-Atlassian-Webhook-Retry" (https://developer.atlassian.com/cloud/jira/platform/webhooks/).
# Such a duplicate of a stored event is acknowledged with 200 and records nothing: a 409 would
# count as a failed delivery, and Slack disables an app's events after enough of them. Any
# other duplicate (a replay) is refused with 409.
RETRY_HEADERS = ("x-slack-retry-num", "x-atlassian-webhook-retry")


def vendor_retry(headers: Any) -> bool:
    return any(str(headers.get(name, "")).strip() for name in RETRY_HEADERS)


def webhooks_app(
    state: Callable[[], Any],
    secrets: Callable[[str], str | None] | None = None,
    notify: Callable[[str, dict[str, Any]], None] = add_asset_event,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The receivers; ``state()`` gives the ``StateStore`` (the plugin app's backends)."""
    secret_of = secrets or SecretCache().get
    app = FastAPI(title="vector-sync webhooks", docs_url=None, redoc_url=None, openapi_url=None)

    def refuse(source: str, exc: Rejected) -> JSONResponse:
        log.warning("webhooks: refused a %s request: %s", source, exc.reason)
        if exc.status != 404:
            try:
                state().webhooks.reject(source, exc.reason, datetime.now(timezone.utc))
            except Exception:  # counting is best effort; the refusal stands
                log.exception("webhooks: could not count a rejection")
        return JSONResponse({"ok": False, "error": exc.reason}, status_code=exc.status)

    def handle(source: str, headers: Any, body: bytes) -> JSONResponse:
        """Everything after the body is read: blocking (the state DB, the metadata DB), so it
        runs in the thread pool, never on the API server's event loop."""
        try:
            hooks = vendor(source)
            now = clock()
            secret = secret_of(source)
            if not secret:
                payload = parse_json(body)
                token = hooks.unsigned_handshake_token(payload)
                if token is None:
                    raise Rejected(403, f"webhooks for {source} are not configured (connection {CONN_PREFIX}{source})")
                # Notion's first request: keep the token for the operator to put in the
                # connection; never logged.
                state().webhooks.save_handshake(source, token, datetime.now(timezone.utc))
                log.info("webhooks: %s verification token received; store it as connection %s%s's password", source, CONN_PREFIX, source)
                return JSONResponse({"ok": True})
            hooks.verify(headers, body, secret, now)
            payload = parse_json(body)
            answer = hooks.handshake(payload)
            if answer is not None:
                return JSONResponse(answer)
            changes = hooks.changes(headers, payload, now)
            if not changes:
                return JSONResponse({"ok": True, "stored": 0})
            # One insert decides, so two deliveries of one event racing each other store it once.
            stored = state().webhooks.add(source, changes, datetime.now(timezone.utc))
            if not stored:
                if vendor_retry(headers):  # the vendor's own retry of a delivery we stored: acknowledge it
                    log.info("webhooks: %s retried event %s, already stored", source, changes[0].event_id)
                    return JSONResponse({"ok": True, "stored": 0, "duplicate": True})
                raise Rejected(409, f"event {changes[0].event_id} was already received (replay or retry)")
        except Rejected as exc:
            return refuse(source, exc)
        try:
            notify(source, {"events": stored})
        except Exception:  # stored: the events DAG's next run (or the next event) takes it
            log.exception("webhooks: could not add the %s asset event", source)
        return JSONResponse({"ok": True, "stored": stored})

    @app.post("/{source}")
    async def receive(source: str, request: Request) -> JSONResponse:
        try:
            vendor(source)
            body = await read_body(request)
        except Rejected as exc:
            return await run_in_threadpool(refuse, source, exc)
        return await run_in_threadpool(handle, source, dict(request.headers), body)

    return app
