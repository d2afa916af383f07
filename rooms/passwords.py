"""Room passwords: stored as Argon2 hashes, guesses limited per room and identity.

The limiter counts guesses in the shared cache (Redis in production), so the limit holds
across server instances: per account, and per address for guests.
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


def _reserve_guess(key: str) -> int:
    """Count a guess before it is checked and return the count with it.

    Counting first is what makes the limit hold for guesses sent at once, from many sockets
    or instances: each takes its number atomically, and those past the limit are refused
    without a look at the password. add() starts the window with the first guess; incr()
    keeps its expiry.
    """
    cache.add(key, 0, timeout=GUESS_WINDOW_SECONDS)
    try:
        return int(cache.incr(key))
    except ValueError:
        # The window expired between add() and incr(): this guess opens a new one.
        cache.set(key, 1, timeout=GUESS_WINDOW_SECONDS)
        return 1


def _give_back_guess(key: str) -> None:
    """A right password does not count against its guesser."""
    try:
        cache.decr(key)
    except ValueError:
        return  # the window has ended meanwhile: nothing left to give back


def check_room_password(room: Room, password: str, *, guesser: str) -> None:
    """Let ``guesser`` in, or raise.

    ``guesser`` names whose budget the guess spends: ``user:<id>`` for an account,
    ``addr:<key>`` for a guest whose address is known (a guest reconnecting as a new guest,
    or many guest sockets of one address, share it), ``guest:<id>`` otherwise. Accounts are
    never limited by their address, so players behind one shared address do not lock each
    other out. Raises PasswordGuessesError (RATE_LIMITED) for any guess past
    MAX_WRONG_GUESSES within GUESS_WINDOW_SECONDS, before even looking at the password;
    WrongPasswordError on a wrong or missing password. A room without a password accepts
    anything.
    """
    if not room.password_hash:
        return
    key = _guess_key(room, guesser)
    if _reserve_guess(key) > MAX_WRONG_GUESSES:
        raise PasswordGuessesError()
    if password and check_password(password, room.password_hash):
        _give_back_guess(key)
        return
    raise WrongPasswordError()
