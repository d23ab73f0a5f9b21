"""The shared plain-HTTP session: urllib3 retries (429/5xx, Retry-After), timeouts, pooling.

Runs against a tiny route-table simulator on the sandbox server, whose fault injection serves
the 429s, 5xxs, delays and resets.
"""

from __future__ import annotations

import time

import pytest
import requests

from sandbox.server import Fault, Request, Response, Sandbox, Simulator, route
from vector_sync.http import DEFAULT_TIMEOUT_S, make_session


class EchoSimulator(Simulator):
    name = "echo"

    def authorize(self, request: Request) -> Response | None:
        return None  # the caller's header is echoed back instead

    @route("GET", "/thing")
    def get_thing(self, request: Request) -> Response:
        return Response(200, {"ok": True, "auth": request.headers.get("Authorization")})

    @route("POST", "/query")
    def post_query(self, request: Request) -> Response:
        return Response(200, {"ok": True, "echo": request.json()})

    @route("GET", "/bad")
    def bad(self, request: Request) -> Response:
        return Response(400, {"error": "bad request"})


@pytest.fixture(scope="module")
def server():
    with Sandbox([EchoSimulator(None)]) as box:
        yield box


@pytest.fixture()
def box(server, clean_slate):
    return clean_slate(server)


def url(box, path: str) -> str:
    return f"{box.base_url('echo')}{path}"


def test_429_is_retried_after_retry_after(box):
    box.faults.add(Fault(api="echo", kind="status", status=429, retry_after_s=1))
    started = time.monotonic()
    response = make_session(backoff_factor=0).get(url(box, "/thing"))
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.9  # waited for Retry-After, not the (zero) backoff
    assert box.log.status_count("echo", 429) == 1 and box.log.count("echo") == 2


def test_503_and_post_are_retried(box):
    box.faults.add(Fault(api="echo", kind="status", status=503, retry_after_s=1))
    response = make_session().post(url(box, "/query"), json={"query": "{ x }"})
    assert response.status_code == 200 and response.json()["echo"] == {"query": "{ x }"}
    assert box.log.status_count("echo", 503) == 1


def test_500_without_retry_after_uses_exponential_backoff(box):
    box.faults.add(Fault(api="echo", kind="status", status=500, times=2))
    started = time.monotonic()
    response = make_session(backoff_factor=0.05).get(url(box, "/thing"))
    assert response.status_code == 200 and box.log.count("echo") == 3
    assert time.monotonic() - started < 1.0


def test_connection_reset_is_retried(box):
    box.faults.add(Fault(api="echo", kind="reset"))
    assert make_session(backoff_factor=0.01).get(url(box, "/thing")).status_code == 200


def test_spent_retries_return_the_last_response_with_its_body(box):
    box.faults.add(Fault(api="echo", kind="status", status=500, times=10))
    response = make_session(total_retries=2, backoff_factor=0.01).get(url(box, "/thing"))
    assert response.status_code == 500 and response.json() == {"error": "injected fault"}
    assert box.log.count("echo") == 3  # first try + 2 retries


def test_client_errors_are_not_retried(box):
    assert make_session().get(url(box, "/bad")).status_code == 400
    assert box.log.count("echo") == 1


def test_default_timeout_applies_to_every_request(box):
    box.faults.add(Fault(api="echo", kind="delay", delay_s=0.6))
    session = make_session(total_retries=0, timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises((requests.Timeout, requests.ConnectionError)):
        session.get(url(box, "/thing"))
    assert time.monotonic() - started < 0.55
    time.sleep(0.5)  # let the server finish writing to the closed socket inside this test
    # An explicit timeout still wins over the default.
    box.faults.add(Fault(api="echo", kind="delay", delay_s=0.3))
    assert session.get(url(box, "/thing"), timeout=5).status_code == 200
    assert make_session().timeout_s == DEFAULT_TIMEOUT_S


def test_pool_headers_and_retry_policy_are_configured(box):
    session = make_session(pool_maxsize=8, headers={"Authorization": "Bearer abc"})
    adapter = session.get_adapter("https://api.example.com/")
    assert adapter is session.get_adapter("http://127.0.0.1/")
    assert adapter._pool_maxsize == 8
    retry = adapter.max_retries
    assert retry.total == 5 and retry.respect_retry_after_header and not retry.raise_on_status
    assert {429, 500, 502, 503, 504} <= set(retry.status_forcelist) and "POST" in retry.allowed_methods
    assert session.get(url(box, "/thing")).json()["auth"] == "Bearer abc"
