"""The WebSocket close codes the server sends, one name for each.

Clients act on them (reconnect, give up, sign in again), so they are part of the protocol:
README's close-code table says what each means to a client. Under Daphne the standard codes
(1008 to 1013) go out as 4000 plus their last three digits (``consumers.PianoConsumer._close``).
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    #: A refused handshake (sent before the accept, so the client sees an HTTP 403), or a
    #: client that stopped reading where the transport cannot be dropped at once.
    POLICY_VIOLATION = 1008
    #: A client frame over the WebSocket message limit.
    TOO_LARGE = 1009
    #: A send to this socket failed; the player has been taken out of its room.
    SEND_FAILED = 1011
    #: The server is stopping (SIGTERM): reconnect.
    RESTARTING = 1012
    #: Presence or fan-out (Redis) is unreachable: try again later.
    TRY_LATER = 1013
    #: Repeated malformed frames.
    BAD_FRAMES = 4400
    #: The socket's credentials ended (logout, password change, account deactivated).
    UNAUTHORIZED = 4401
    #: The player is banned from the site.
    SITE_BANNED = 4403
    #: Nothing received for ``REALTIME_IDLE_SECONDS``.
    IDLE = 4408
    #: Flooding, requests refused over and over, or too many sockets for one player.
    FLOOD = 4429
