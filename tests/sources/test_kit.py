"""The source kit's pure parts: credentials mapping, project tagging, ordered prefetch."""

from __future__ import annotations

import threading
import time

import pytest

from vector_sync.errors import CredentialsError
from vector_sync.sources.auth import credentials_checked, credentials_error
from vector_sync.sources.prefetch import prefetch
from vector_sync.sources.projects import ProjectTagger, is_kept, names_of


def test_refused_credentials_are_one_error_naming_the_connection():
    for status, code in ((401, None), (403, None), (200, "invalid_auth"), (200, "auth_failed"), (None, "token_revoked")):
        error = credentials_error("conn_x", "Svc", status, code, "detail")
        assert isinstance(error, CredentialsError) and "conn_x" in str(error) and "Svc" in str(error)
    assert credentials_error("conn_x", "Svc", 404, "object_not_found") is None
    assert credentials_error("conn_x", "Svc", 403, None, statuses=(401,)) is None  # Notion: 403 is one page

    class Refused(Exception):
        status = 401

    with pytest.raises(CredentialsError, match="conn_x"):
        with credentials_checked("conn_x", "Svc", Refused, lambda exc: (exc.status, None, "HTTP 401")):
            raise Refused()
    with pytest.raises(KeyError):  # anything else passes unchanged
        with credentials_checked("conn_x", "Svc", Refused, lambda exc: (exc.status, None, "")):
            raise KeyError("x")


def test_tagger_finds_keys_as_words_and_names_in_any_case():
    tagger = ProjectTagger.from_options(
        {
            "project_keys": ["SUBS"],
            "projects": [{"key": "BC", "name": "Billing Console"}, {"key": "ARCH", "name": "Archive Migration"}],
            "project_names": {"SUBS": "Subscriptions"},
        }
    )
    assert tagger("SUBS-12 and BC rollout") == ("BC", "SUBS")
    assert tagger("the billing\n console ", "subscriptions") == ("BC", "SUBS")  # sorted, any spacing
    assert tagger("subs abc", "SUBSCRIPTION", "ARCHIVE") == ()  # keys: capitals, whole words
    assert ProjectTagger.from_options({"projects": [{"key": "BC", "name": "Billing Console"}]}, names=False)("billing console") == ()
    assert ProjectTagger(fallback=r"^([A-Z]+)-")("SUBS-DEV") == ("SUBS",)
    assert ProjectTagger()("SUBS") == ()
    assert names_of({"projects": [{"key": "BC", "name": "Billing Console"}, {"key": "X"}]}) == {"BC": "Billing Console"}


def test_kept_documents_have_an_active_project_or_none_where_allowed():
    active = {"SUBS": True, "ARCH": False}
    assert is_kept(["ARCH", "SUBS"], active, keep_unmapped=False)
    assert not is_kept(["ARCH"], active, keep_unmapped=True)
    assert not is_kept(["NEW"], active, keep_unmapped=True)  # unknown projects are not active
    assert is_kept([], active, keep_unmapped=True) and not is_kept([], active, keep_unmapped=False)


def test_prefetch_yields_in_order_with_at_most_ahead_in_flight():
    running, most, lock = [0], [0], threading.Lock()

    def slow(n: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02 * (n % 3))  # later items often finish first
        with lock:
            running[0] -= 1
        return n * n

    assert list(prefetch(slow, range(30), ahead=4, workers=4)) == [n * n for n in range(30)]
    assert 1 < most[0] <= 4


def test_prefetch_pulls_items_lazily_and_raises_in_place():
    pulled = []

    def items():
        for n in range(100):
            pulled.append(n)
            yield n

    results = prefetch(lambda n: n, items(), ahead=2)
    assert next(results) == 0 and len(pulled) <= 3  # not the whole listing up front
    results.close()

    def failing(n: int) -> int:
        if n == 3:
            raise ValueError("item 3")
        return n

    seen = []
    with pytest.raises(ValueError, match="item 3"):
        for n in prefetch(failing, range(10), ahead=3, workers=2):
            seen.append(n)
    assert seen == [0, 1, 2]
