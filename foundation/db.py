"""Channels' ``database_sync_to_async`` with the types Channels does not ship.

Channels has no type hints, so its decorator would make every function it wraps untyped. This
is the same decorator (the connection upkeep around each call included), typed as what it
returns: a coroutine function with the wrapped function's parameters and result.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from channels.db import database_sync_to_async as _channels_database_sync_to_async

P = ParamSpec("P")
R = TypeVar("R")


def database_sync_to_async(func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run ``func`` in Channels' database thread and close stale connections around it."""
    return cast(Callable[P, Coroutine[Any, Any, R]], _channels_database_sync_to_async(func))
