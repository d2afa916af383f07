"""The one way to write the moderation log.

Services check that an act is allowed and carry it out; then they call ``record``. Names
are copied into the entry so that it outlives the accounts and rooms it names.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from foundation.exceptions import InvalidArgumentError
from moderation.models import ModerationAction

Action = ModerationAction.Action
Source = ModerationAction.Source

NAME_MAX_LENGTH = 150
REASON_MAX_LENGTH = 255


def record(
    action: str,
    source: str,
    *,
    actor_id: int | None,
    actor_name: str,
    target_user_id: int | None = None,
    target_name: str = "",
    room_id: uuid.UUID | None = None,
    room_name: str = "",
    reason: str = "",
    expires_at: datetime | None = None,
) -> ModerationAction:
    """Write one audit-log entry: ``actor`` did ``action`` to the target, in a room or not."""
    if action not in Action.values:
        raise InvalidArgumentError(f"Unknown moderation action {action!r}.")
    if source not in Source.values:
        raise InvalidArgumentError(f"Unknown moderation source {source!r}.")
    return ModerationAction.objects.create(
        action=action,
        source=source,
        actor_id=actor_id,
        actor_name=actor_name[:NAME_MAX_LENGTH],
        target_user_id=target_user_id,
        target_name=target_name[:NAME_MAX_LENGTH],
        room_id=room_id,
        room_name=room_name,
        reason=reason[:REASON_MAX_LENGTH],
        expires_at=expires_at,
    )
