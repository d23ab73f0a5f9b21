"""Only the result on stdout: everything else, whoever prints it, goes to stderr.

Importing Airflow installs its log handler on ``sys.stdout`` (and structlog prints there), so
setting up logging in the CLI is not enough. ``run_guarded`` points ``sys.stdout`` at stderr
for the whole command and keeps the real stdout for ``emit``; handlers configured meanwhile
keep writing to stderr. An error is one line on stderr and exit 2 (a traceback with ``-v``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any, TextIO

_result: list[TextIO] = []  # the real stdout of the command that runs (a stack: tests nest)


class UsageError(ValueError):
    """A value the user gave that the command cannot take: one line, exit 2."""


def emit(text: str = "") -> None:
    """One line (or several) of the command's result, on the real stdout."""
    stream = _result[-1] if _result else sys.stdout
    stream.write(f"{text}\n")
    stream.flush()


@contextlib.contextmanager
def protocol_stdout() -> Iterator[None]:
    """The real stdout as ``sys.stdout`` inside the block, for a command whose result is a
    protocol stream (``vector-sync mcp``): its library writes to ``sys.stdout``. Log handlers set
    up before the block keep writing to stderr."""
    saved = sys.stdout
    sys.stdout = _result[-1] if _result else saved
    try:
        yield
    finally:
        sys.stdout = saved


@contextlib.contextmanager
def reserved_stdout() -> Iterator[None]:
    """Inside the block ``sys.stdout`` is stderr and ``emit`` writes to the real stdout: what
    any library prints, Airflow's log handler included, stays off the result."""
    _result.append(sys.stdout)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = _result.pop()


def emit_json(value: Any, indent: int | None = 2) -> None:
    emit(json.dumps(value, indent=indent, default=str))


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


def run_guarded(handler: Callable[[argparse.Namespace], int | None], args: argparse.Namespace, verbose: bool) -> int:
    """Run a command with stdout reserved for its result; known errors are one line, exit 2."""
    from vector_sync.errors import FatalError

    try:
        with reserved_stdout():
            return int(handler(args) or 0)
    except (FatalError, ValueError, OverflowError) as exc:
        if verbose:
            traceback.print_exc(file=sys.stderr)
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug or an outage: still one line unless asked for more
        if verbose:
            traceback.print_exc(file=sys.stderr)
        print(f"error: {type(exc).__name__}: {one_line(exc)} (run with -v for the traceback)", file=sys.stderr)
        return 1
