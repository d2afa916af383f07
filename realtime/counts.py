"""Live member counts for code outside the event loop (the REST API, the admin).

The presence store is async and belongs to the event loop of the process's real-time
runtime. Django's sync views run in worker threads of that loop, so ``async_to_sync`` hands
the question to it. In a process with no runtime yet (no socket has connected), presence is
read directly when it is shared (Redis); the in-process store would be empty anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from asgiref.sync import async_to_sync
from django.conf import settings

from realtime.presence import RedisPresence
from realtime.runtime import current_runtime

logger = logging.getLogger(__name__)


async def _counts(room_ids: Sequence[str]) -> dict[str, int]:
    runtime = current_runtime()
    if runtime is not None:
        return await runtime.presence.member_counts(room_ids)
    if settings.REDIS_URL:
        presence = RedisPresence(settings.REDIS_URL, prefix=settings.REDIS_PREFIX)
        try:
            return await presence.member_counts(room_ids)
        finally:
            await presence.close()
    return {}


async def _is_present(room_id: str, user_id: str) -> bool:
    runtime = current_runtime()
    if runtime is not None:
        members = await runtime.presence.members(room_id)
    elif settings.REDIS_URL:
        presence = RedisPresence(settings.REDIS_URL, prefix=settings.REDIS_PREFIX)
        try:
            members = await presence.members(room_id)
        finally:
            await presence.close()
    else:
        return False
    return any(member.user_id == user_id for member in members)


def is_live_member(room_id: str, user_id: str) -> bool:
    """Whether ``user_id`` (an account id, or a guest id) has a socket in the room now.
    False when presence cannot be reached: this decides who may read, so it fails closed."""
    try:
        return async_to_sync(_is_present)(room_id, user_id)
    except Exception:
        logger.warning("presence unavailable to check room membership", exc_info=True)
        return False


def live_member_counts(room_ids: Sequence[str]) -> dict[str, int]:
    """Members in each room now; rooms missing from the answer have none. Never raises:
    a REST listing is still worth having when presence cannot be reached."""
    try:
        return async_to_sync(_counts)(room_ids)
    except Exception:
        logger.warning("live member counts unavailable", exc_info=True)
        return {}
