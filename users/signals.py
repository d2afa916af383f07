"""Signals other apps listen to (the real-time layer closes a banned user's sockets)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after the transaction that bans or unbans a user commits, with keyword arguments
# ``user_id`` and ``banned_until`` (None when the ban was lifted).
site_ban_changed = Signal()

# Sent after commit when an account's credentials stop being valid: its password changed,
# it was deactivated or deleted. Keyword arguments ``user_id`` and ``why`` ("password",
# "deactivated", "deleted"). Live sockets of the account close; its tokens are already
# refused (users.services).
credentials_changed = Signal()

# Sent after commit when how an account appears or what it may do changed (role, staff
# flags, username, display name, colour), with ``user_id``: live sockets take the new
# identity.
identity_changed = Signal()

# Sent after a sign-in (a refresh-token family) is ended by logging out, with ``user_id``
# and ``family``: sockets opened with its tokens close.
sign_in_ended = Signal()
