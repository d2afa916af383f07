"""Room passwords: stored as Argon2 hashes, guesses limited per room and identity.

The limiter counts wrong guesses in the shared cache (Redis in production), so the limit
holds across server instances, per identity and per address.
"""

from __future__ import annotations

from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache

from rooms.exceptions import PasswordGuessesError, WrongPasswordError
from rooms.models import Room

MAX_WRONG_GUESSES = 5
GUESS_WINDOW_SECONDS = 60


def hash_room_password(raw: str) -> str:
    """The value to store in ``Room.password_hash``; "" (no password) stays ""."""
    return make_password(raw) if raw else ""


def _guess_key(room: Room, who: str) -> str:
    return f"rooms:pw-guesses:{room.pk}:{who}"


def _count_wrong_guess(key: str) -> None:
    # add() starts the window only on the first wrong guess; incr() keeps its expiry.
    cache.add(key, 0, timeout=GUESS_WINDOW_SECONDS)
    try:
        cache.incr(key)
    except ValueError:
        # The window expired between add() and incr(): this guess opens a new one.
        cache.set(key, 1, timeout=GUESS_WINDOW_SECONDS)


def check_room_password(room: Room, password: str, *, identity: str, address_key: str = "") -> None:
    """Let ``identity`` (``user:<id>`` or ``guest:<id>``; "" for a guest known by its
    address alone) in, or raise.

    Wrong guesses count per room for the identity and, when known, for the address it comes
    from (``address_key``): a guest reconnecting as a new guest, or many sockets of one
    address, share the address's budget. Raises PasswordGuessesError (RATE_LIMITED) once
    MAX_WRONG_GUESSES wrong guesses were made on either within GUESS_WINDOW_SECONDS, before
    even looking at the password; WrongPasswordError on a wrong or missing password. A room
    without a password accepts anything.
    """
    if not room.password_hash:
        return
    keys = [
        _guess_key(room, who) for who in (identity, address_key and f"addr:{address_key}") if who
    ]
    if any(cache.get(key, 0) >= MAX_WRONG_GUESSES for key in keys):
        raise PasswordGuessesError()
    if password and check_password(password, room.password_hash):
        return
    for key in keys:
        _count_wrong_guess(key)
    raise WrongPasswordError()
