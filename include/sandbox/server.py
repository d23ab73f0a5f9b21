"""One local HTTP server that hosts every API simulator under its own path prefix.

Simulators are route tables (``@route``) over a shared sample workspace. The server adds the
knobs every simulator gets for free: latency, per-API rate limits answered with 429 +
Retry-After in the API's own error shape, injected faults, and a request log that tests
and benchmarks read (counts per API and path, timestamps for requests-per-second).

Clients reach a simulator only through the base URL in their connection
(``http://127.0.0.1:PORT/<api>``), exactly as they would reach the real service.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)


@dataclass
class Request:
    method: str
    path: str  # below the simulator's prefix, e.g. "/rest/api/3/search/jql"
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the route regex

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A parameter from the query string, else from a form or JSON body."""
        if name in self.query:
            return self.query[name][0]
        form = self.form()
        if name in form:
            return form[name]
        return default

    def form(self) -> dict[str, Any]:
        content_type = self.headers.get("Content-Type", "") or ""
        if "application/x-www-form-urlencoded" in content_type:
            return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}
        if "json" in content_type and self.body:
            data = self.json()
            return data if isinstance(data, dict) else {}
        return {}

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def bearer(self) -> str | None:
        value = self.headers.get("Authorization", "") or ""
        return value[7:] if value.startswith("Bearer ") else None


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes -> sent as is
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), self.headers.get("Content-Type", "text/plain; charset=utf-8")
        if self.body is None and self.status == 204:
            return b"", ""
        return json.dumps(self.body).encode("utf-8"), "application/json; charset=utf-8"


def route(method: str, pattern: str) -> Callable:
    """Mark a Simulator method as the handler of ``method`` + full-match ``pattern``."""

    def mark(func: Callable) -> Callable:
        func.__sandbox_route__ = (method.upper(), re.compile(pattern))
        return func

    return mark


class Simulator:
    """Base class of an API simulator. Subclasses set ``name`` and declare ``@route``s."""

    name: str = ""
    # The credential the simulator accepts (the sandbox connections use it).
    token: str = "sandbox-token"

    def __init__(self, workspace: Any, **options: Any) -> None:
        self.workspace = workspace
        self.options = options
        self.lock = threading.RLock()  # simulators with mutable state guard it with this
        self.sandbox: Sandbox | None = None
        self.routes: list[tuple[str, re.Pattern, Callable]] = []
        for attr in dir(type(self)):
            func = getattr(type(self), attr)
            spec = getattr(func, "__sandbox_route__", None)
            if spec:
                self.routes.append((spec[0], spec[1], getattr(self, attr)))

    @property
    def prefix(self) -> str:
        return f"/{self.name}"

    # The three hooks below shape the answers in the API's own dialect.
    def authorize(self, request: Request) -> Response | None:
        """Return an error response when the request's credentials are wrong."""
        if request.bearer() != self.token:
            return self.error(401, "invalid credentials")
        return None

    def rate_limited(self, retry_after_s: int, request: Request) -> Response:
        return Response(429, {"error": "rate limited"}, {"Retry-After": str(retry_after_s)})

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"error": message})

    def rate_key(self, request: Request) -> str:
        """Which bucket a request counts against (Slack: per method)."""
        return self.name

    def dispatch(self, request: Request) -> Response:
        allowed = False
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if match:
                allowed = True
                if method == request.method:
                    request.params = match.groupdict()
                    return handler(request)
        return self.error(405 if allowed else 404, f"no route for {request.method} {request.path}")


class RateLimiter:
    """Token bucket per key: ``rate`` requests per ``per_s`` seconds, bursts up to ``burst``."""

    def __init__(self, rate: float, per_s: float = 1.0, burst: float | None = None) -> None:
        self.refill_per_s = rate / per_s
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take a token; returns 0 when allowed, else the seconds until one is available."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.refill_per_s)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.refill_per_s


@dataclass
class Fault:
    """One injected fault. ``times`` requests matching ``api`` and ``path`` get it."""

    api: str
    kind: str  # status | delay | reset | malformed
    times: int = 1
    path: str = ".*"  # regex searched in the path below the API prefix
    status: int = 500
    retry_after_s: int = 1
    delay_s: float = 0.0

    def matches(self, api: str, path: str) -> bool:
        return self.times > 0 and self.api == api and re.search(self.path, path) is not None


class Faults:
    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._rules.append(fault)
        return fault

    def take(self, api: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(api, path):
                    rule.times -= 1
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


class RequestLog:
    """What clients asked for: counts per API and per path, and recent timestamps."""

    def __init__(self, keep: int = 500_000) -> None:
        self.calls: Counter = Counter()  # (api, method, path) -> n
        self.statuses: Counter = Counter()  # (api, status) -> n
        self.recent: deque = deque(maxlen=keep)  # (monotonic time, api, method, path, status)
        self._lock = threading.Lock()

    def add(self, api: str, method: str, path: str, status: int) -> None:
        with self._lock:
            self.calls[(api, method, path)] += 1
            self.statuses[(api, status)] += 1
            self.recent.append((time.monotonic(), api, method, path, status))

    def count(self, api: str | None = None, path: str | None = None, method: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (a, m, p), n in self.calls.items()
                if (api is None or a == api) and (path is None or re.search(path, p)) and (method is None or m == method)
            )

    def status_count(self, api: str, status: int) -> int:
        with self._lock:
            return self.statuses[(api, status)]

    def times(self, api: str, path: str | None = None) -> list[float]:
        with self._lock:
            return [t for t, a, _, p, _s in self.recent if a == api and (path is None or re.search(path, p))]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.statuses.clear()
            self.recent.clear()

    def detail(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{api: {path: {status: n}}}`` over the recent requests (``keep`` of them)."""
        with self._lock:
            out: dict[str, dict[str, Counter]] = {}
            for _t, api, _m, path, status in self.recent:
                out.setdefault(api, {}).setdefault(path, Counter())[str(status)] += 1
            return {api: {path: dict(c) for path, c in paths.items()} for api, paths in out.items()}

    def summary(self) -> dict[str, int]:
        with self._lock:
            out: Counter = Counter()
            for (api, _m, _p), n in self.calls.items():
                out[api] += n
            return dict(out)


class Sandbox:
    """Runs the simulators on one port in a background thread (or in the foreground)."""

    def __init__(
        self,
        simulators: Iterable[Simulator],
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        rate_limits: Mapping[str, RateLimiter] | None = None,
    ) -> None:
        self.simulators = {sim.prefix: sim for sim in simulators}
        for sim in self.simulators.values():
            sim.sandbox = self
        self.latency_s = latency_ms / 1000.0
        self.rate_limits: dict[str, RateLimiter] = dict(rate_limits or {})
        self.faults = Faults()
        self.log = RequestLog()
        self._server = _Server((host, port), _Handler)
        self._server.sandbox = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def base_url(self, api: str) -> str:
        return f"{self.url}/{api}"

    def simulator(self, api: str) -> Simulator:
        return self.simulators[f"/{api}"]

    def start(self) -> Sandbox:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> tuple[Response | None, str, str]:
        """Route one request; returns (response or None for a dropped connection, api, path)."""
        parts = urlsplit(raw_path)
        if parts.path.startswith("/_sandbox/"):
            return self._control(method, parts.path, body), "_sandbox", parts.path
        prefix = "/" + parts.path.lstrip("/").split("/", 1)[0]
        sim = self.simulators.get(prefix)
        if sim is None:
            return Response(404, {"error": f"no simulator at {prefix}"}), "?", parts.path
        path = parts.path[len(prefix) :] or "/"
        request = Request(method, path, parse_qs(parts.query, keep_blank_values=True), headers, body)
        if self.latency_s:
            time.sleep(self.latency_s)
        fault = self.faults.take(sim.name, path)
        if fault is not None:
            if fault.kind == "reset":
                return None, sim.name, path
            if fault.kind == "delay":
                time.sleep(fault.delay_s)
            elif fault.kind == "malformed":
                return Response(200, '{"truncated": ', {"Content-Type": "application/json"}), sim.name, path
            elif fault.kind == "status":
                if fault.status == 429:
                    return sim.rate_limited(fault.retry_after_s, request), sim.name, path
                response = sim.error(fault.status, "injected fault")
                if fault.status == 503:
                    response.headers.setdefault("Retry-After", str(fault.retry_after_s))
                return response, sim.name, path
        denied = sim.authorize(request)
        if denied is not None:
            return denied, sim.name, path
        limiter = self.rate_limits.get(sim.name)
        if limiter is not None:
            wait_s = limiter.acquire(sim.rate_key(request))
            if wait_s > 0:
                return sim.rate_limited(max(1, int(wait_s + 0.999)), request), sim.name, path
        try:
            return sim.dispatch(request), sim.name, path
        except Exception as exc:  # a simulator bug must look like a 500, not kill the server
            log.exception("simulator %s failed on %s %s", sim.name, method, path)
            return sim.error(500, f"simulator error: {exc}"), sim.name, path

    def _control(self, method: str, path: str, body: bytes) -> Response:
        if path == "/_sandbox/log" and method == "GET":
            return Response(200, self.log.summary())
        if path == "/_sandbox/log/detail" and method == "GET":  # per path and status
            return Response(200, self.log.detail())
        if path == "/_sandbox/faults" and method == "POST":
            self.faults.add(Fault(**json.loads(body)))
            return Response(201, {"ok": True})
        if path == "/_sandbox/faults" and method == "DELETE":
            self.faults.clear()
            return Response(200, {"ok": True})
        if path == "/_sandbox/changes" and method == "POST" and getattr(self, "changes", None) is not None:  # sandbox.webhooks
            return Response(*self.changes.handle(body))
        if path == "/_sandbox/health":
            return Response(200, {"ok": True, "apis": sorted(s.name for s in self.simulators.values())})
        return Response(404, {"error": "unknown control path"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sandbox: Sandbox


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections as with real APIs
    # Headers and body go out in two writes; with Nagle on, each response stalls ~40 ms
    # waiting for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet; the RequestLog records
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response, api, path = self.server.sandbox.handle(self.command, self.path, self.headers, body)
        if response is None:  # injected connection reset
            self.server.sandbox.log.add(api, self.command, path, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.close_connection = True
            return
        payload, content_type = response.encode()
        self.server.sandbox.log.add(api, self.command, path, response.status)
        self.send_response(response.status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in response.headers.items():
            if key.lower() != "content-type":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve
