"""What the plugin mounts: the app, built on its first request (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class BuiltOnFirstRequest:
    """An ASGI app that builds the real one (``factory()``) when the first request comes."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._app: Any = None

    @property
    def app(self) -> Any:
        if self._app is None:
            self._app = self._factory()
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def lazy_app() -> BuiltOnFirstRequest:
    """What the plugin mounts: ``vector_sync.airflow.web.app.create_app()``, built on first use."""

    def build() -> Any:
        from vector_sync.airflow.web.app import create_app

        return create_app()

    return BuiltOnFirstRequest(build)
