"""Readiness of what the server depends on: the database and, when configured, Redis.

Each check returns a ``ComponentState``; failures are logged with their cause, while the
HTTP answer only names the component (a load balancer needs no connection strings).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

#: Seconds a readiness probe waits for Redis: well under a load balancer's probe timeout.
REDIS_TIMEOUT = 1.0

OK = "ok"
DOWN = "down"
DISABLED = "disabled"


@dataclass(frozen=True)
class ComponentState:
    name: str
    state: str  # OK, DOWN or DISABLED (not configured)

    @property
    def healthy(self) -> bool:
        return self.state != DOWN


def check_database() -> ComponentState:
    """A trivial query on the default database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("readiness: the database is unreachable", exc_info=True)
        return ComponentState("database", DOWN)
    return ComponentState("database", OK)


def check_redis(url: str | None = None) -> ComponentState:
    """PING the Redis of the channel layer and cache, when REDIS_URL is set."""
    url = settings.REDIS_URL if url is None else url
    if not url:
        return ComponentState("redis", DISABLED)
    client = redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        logger.warning("readiness: redis is unreachable: %s", exc)
        return ComponentState("redis", DOWN)
    finally:
        client.close()
    return ComponentState("redis", OK)


def check_components() -> list[ComponentState]:
    return [check_database(), check_redis()]
