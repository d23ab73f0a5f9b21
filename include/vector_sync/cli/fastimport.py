"""Imports the CLI makes cheaper: what a command never uses is not loaded, or checked, at start.

``lancedb`` imports ``lance_namespace``, which imports ``lance_namespace_urllib3_client``,
whose ``__init__`` loads the generated REST API classes of a Lance namespace server (0.7 s on
this 2-core machine, over half of ``import lancedb``). Only its ``models`` are used by a local
LanceDB (lancedb 0.40, lance-namespace 0.13: nothing imports the API classes). The package is
registered without running its ``__init__``; the first name asked of it runs it then, so a
caller that does use the REST client still gets it.

On Python 3.11 lancedb marks its methods with the ``overrides`` package's ``@override``, which
disassembles each method to check it at import (0.4 s); on 3.12 it uses ``typing.override``, a
marker that checks nothing. ``import_lancedb`` imports it with that marker.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from typing import Any

DEFERRED_PACKAGES = ("lance_namespace_urllib3_client",)


def defer_package_init(name: str) -> None:
    """Register package ``name`` with its ``__path__`` but not its ``__init__``, which runs
    on the first attribute looked up on it. No-op when it is imported or not installed."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)

    def load_on_use(attr: str) -> Any:
        del module.__dict__["__getattr__"]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return getattr(module, attr)

    module.__getattr__ = load_on_use  # type: ignore[method-assign]
    sys.modules[name] = module


def defer_unused_imports() -> None:
    for name in DEFERRED_PACKAGES:
        defer_package_init(name)


def _marker(method: Any = None, **_: Any) -> Any:
    """``typing.override`` of Python 3.12: sets ``__override__`` (what ``EnforceOverrides``
    reads) and checks nothing; also usable as ``@override(check_signature=...)``."""
    if method is None:
        return _marker
    try:
        method.__override__ = True
    except (AttributeError, TypeError):  # a builtin or a property's descriptor
        pass
    return method


def import_lancedb() -> None:
    """``import lancedb`` with the 3.12 override marker (see the module docstring)."""
    if "lancedb" in sys.modules or sys.version_info >= (3, 12):
        return
    try:
        import overrides
    except ImportError:
        return
    original: Callable[..., Any] = overrides.override
    overrides.override = _marker
    try:
        import lancedb  # noqa: F401
    finally:
        overrides.override = original
