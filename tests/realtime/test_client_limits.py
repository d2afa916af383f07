"""Limits per person, not per socket (hardening issue, items 3 and 7): sockets per account
and, for guests, per address; note and chat quotas shared by all of a player's sockets; and
a guest's ban, mute and password guesses held by its address, so reconnecting as a new guest
sheds none of them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from foundation.db import database_sync_to_async
from pianorhythm.asgi import application
from realtime import client_core, codec, quotas
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from rooms.models import ChatMessage, Room
from rooms.passwords import MAX_WRONG_GUESSES, hash_room_password
from tests.realtime.conftest import ORIGIN, Connect, ConnectUser, Player, with_host

in_thread = database_sync_to_async
HOME = ("203.0.113.7", 40000)
ELSEWHERE = ("198.51.100.9", 40000)


async def try_socket(
    client: tuple[str, int], headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[str, Any]:
    """Open a socket from ``client``: ("welcome", user) or ("refused", (error, close code))."""
    communicator = WebsocketCommunicator(
        application,
        "/ws/",
        headers=with_host(headers or [ORIGIN]),
        subprotocols=["pianorhythm.v1.json"],
    )
    communicator.scope["client"] = client
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    first = client_core.decode_server(await communicator.receive_from(5), strict=True)[0]
    if first.WhichOneof("kind") == "welcome":
        opened.append(communicator)
        return "welcome", first.welcome.user
    closed = await communicator.receive_output(5)
    return "refused", (first.error, closed.get("code"))


opened: list[WebsocketCommunicator] = []


@pytest.fixture(autouse=True)
async def _close_sockets() -> Any:
    yield
    while opened:
        await opened.pop().disconnect()


async def test_guest_sockets_from_one_address_stop_at_the_limit(
    connect: Connect, settings: Any
) -> None:
    settings.MAX_GUEST_SOCKETS_PER_ADDRESS = 10
    results = [await try_socket(HOME) for _ in range(14)]
    assert [kind for kind, _ in results] == ["welcome"] * 10 + ["refused"] * 4
    error, code = results[-1][1]
    assert error.code == pb.ERROR_CODE_RATE_LIMITED
    assert "your address" in error.message
    assert code == 4429
    # Another address is not affected, and a freed socket makes room again.
    assert (await try_socket(ELSEWHERE))[0] == "welcome"
    await opened.pop(0).disconnect()
    assert (await try_socket(HOME))[0] == "welcome"


async def test_sockets_of_one_account_stop_at_the_limit_from_any_address(
    connect_user: ConnectUser, make_user: Any, settings: Any
) -> None:
    settings.MAX_SOCKETS_PER_ACCOUNT = 3
    user = await in_thread(make_user)()
    from tests.realtime.conftest import bearer_headers

    for n in range(3):
        headers = await in_thread(bearer_headers)(user)
        assert (await try_socket((f"10.0.0.{n}", 1), headers))[0] == "welcome"
    headers = await in_thread(bearer_headers)(user)
    kind, (error, _code) = await try_socket(("10.0.9.9", 1), headers)
    assert kind == "refused"
    assert "your account" in error.message


async def test_accounts_behind_one_address_are_not_held_to_the_guests_limit(
    transactional_db: None, make_user: Any, settings: Any
) -> None:
    from tests.realtime.conftest import bearer_headers

    settings.MAX_GUEST_SOCKETS_PER_ADDRESS = 2
    # A classroom behind one address: guests fill the address's share...
    assert [(await try_socket(HOME))[0] for _ in range(3)] == ["welcome", "welcome", "refused"]
    # ...and every signed-in pupil still gets in, each within their own account's limit.
    for _ in range(5):
        user = await in_thread(make_user)()
        headers = await in_thread(bearer_headers)(user)
        assert (await try_socket(HOME, headers))[0] == "welcome"


# --- quotas shared by a player's sockets ---------------------------------------------------------


def notes(count: int) -> pb.NoteBatch:
    import time

    return pb.NoteBatch(
        start_time=time.time() * 1000,
        notes=[pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=60, velocity=90)] * count,
    )


async def heard_notes(listener: Player, seconds: float = 0.5) -> int:
    return sum(
        len(m.note_batch.notes) for m in await listener.drain(seconds) if m.HasField("note_batch")
    )


async def test_twenty_five_guest_sockets_of_one_address_share_one_note_quota(
    connect: Connect,
) -> None:
    listener = await connect(client=ELSEWHERE)
    await listener.join()
    flooders = [await connect(client=HOME) for _ in range(25)]
    for flooder in flooders:
        await flooder.join()
    await listener.drain(0.2)
    for flooder in flooders:
        for _ in range(2):
            await flooder.send(note_batch=notes(300))  # 15,000 notes in one burst
    heard = await heard_notes(listener)
    # The lobby's burst is 600 for the address, plus what refills in the meantime.
    assert 600 <= heard <= 700


async def test_one_accounts_sockets_share_one_note_quota(
    connect: Connect, connect_user: ConnectUser, make_user: Any
) -> None:
    listener = await connect()
    await listener.join()
    user = await in_thread(make_user)()
    sockets = [await connect_user(user, client=(f"10.1.0.{n}", 1)) for n in range(5)]
    for socket in sockets:
        await socket.join()
    await listener.drain(0.2)
    for socket in sockets:
        await socket.send(note_batch=notes(300))
    assert 600 <= await heard_notes(listener) <= 700


async def test_twenty_five_guest_sockets_of_one_address_share_one_chat_quota(
    connect: Connect,
) -> None:
    sockets = [await connect(client=HOME) for _ in range(25)]
    for socket in sockets:
        await socket.join()
    for n, socket in enumerate(sockets):
        for m in range(4):
            await socket.send(chat=pb.ChatSend(text=f"spam {n}.{m}"))
    await asyncio.sleep(0.5)
    stored = await in_thread(ChatMessage.objects.count)()
    assert 4 <= stored <= 6  # four in a burst, and what refills (one a second)


# --- a guest's ban, mute and guesses hold for its address ---------------------------------------


async def owned_room(connect_user: ConnectUser, name: str, **settings: Any) -> Player:
    owner = await connect_user()
    await owner.join(
        name, create_if_missing=True, settings=pb.RoomSettings(persistent=True, **settings)
    )
    return owner


async def test_a_banned_guest_cannot_come_back_as_a_new_guest(
    connect: Connect, connect_user: ConnectUser, make_user: Any
) -> None:
    owner = await owned_room(connect_user, "quiet")
    guest = await connect(client=HOME)
    await guest.join("quiet")
    assert guest.user is not None
    await owner.send(
        moderate=pb.Moderate(action=pb.MODERATION_ACTION_BAN, target_user_id=guest.user.id)
    )
    assert (await guest.expect("removed")).reason == pb.REMOVAL_REASON_BANNED
    again = await connect(client=HOME)  # a new socket, no cookie: a new guest id
    assert again.user is not None
    assert again.user.id != guest.user.id
    await again.send(join_room=pb.JoinRoom(room_name="quiet"))
    assert (await again.expect("error")).code == pb.ERROR_CODE_BANNED
    # A guest of another address, and an account at this one, are not banned.
    await (await connect(client=ELSEWHERE)).join("quiet")
    await (await connect_user(client=HOME)).join("quiet")


async def test_a_muted_guest_is_still_muted_as_a_new_guest(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await owned_room(connect_user, "hush")
    guest = await connect(client=HOME)
    await guest.join("hush")
    assert guest.user is not None
    await owner.send(
        moderate=pb.Moderate(action=pb.MODERATION_ACTION_MUTE, target_user_id=guest.user.id)
    )
    await guest.expect("member_updated")
    await guest.close()
    again = await connect(client=HOME)
    state = await again.join("hush")
    assert [m.muted for m in state.members if m.session_id == again.session_id] == [True]
    await again.send(chat=pb.ChatSend(text="can you hear me"))
    assert (await again.expect("error")).code == pb.ERROR_CODE_MUTED


async def test_password_guesses_are_limited_per_address_across_new_guests(
    connect: Connect, fast_passwords: None
) -> None:
    @in_thread
    def locked() -> None:
        Room.objects.create(name="vault", persistent=True, password_hash=hash_room_password("x1"))

    await locked()
    codes = []
    for n in range(MAX_WRONG_GUESSES + 3):  # a fresh guest socket for every guess
        guesser = await connect(client=HOME)
        await guesser.send(join_room=pb.JoinRoom(room_name="vault", password=f"guess {n}"))
        codes.append((await guesser.expect("error")).code)
        await guesser.close()
    assert codes[:MAX_WRONG_GUESSES] == [pb.ERROR_CODE_WRONG_PASSWORD] * MAX_WRONG_GUESSES
    assert set(codes[MAX_WRONG_GUESSES:]) == {pb.ERROR_CODE_RATE_LIMITED}
    # Even the right password waits; another address has its own budget.
    right = await connect(client=HOME)
    await right.send(join_room=pb.JoinRoom(room_name="vault", password="x1"))
    assert (await right.expect("error")).code == pb.ERROR_CODE_RATE_LIMITED
    await (await connect(client=ELSEWHERE)).join("vault", password="x1")


async def test_a_ban_on_a_guest_who_already_left_holds_for_its_address(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await owned_room(connect_user, "after")
    troll = await connect(client=HOME)
    await troll.join("after")
    assert troll.user is not None
    await troll.close()  # gone before the owner could act
    await owner.drain(0.1)
    ban = pb.Moderate(action=pb.MODERATION_ACTION_BAN, target_user_id=troll.user.id)
    await owner.send(moderate=ban)
    await owner.drain(0.2)
    again = await connect(client=HOME)
    await again.send(join_room=pb.JoinRoom(room_name="after"))
    assert (await again.expect("error")).code == pb.ERROR_CODE_BANNED


async def test_a_guest_ban_made_over_rest_holds_for_its_address(
    connect: Connect, connect_user: ConnectUser
) -> None:
    owner = await owned_room(connect_user, "rested")
    troll = await connect(client=HOME)
    await troll.join("rested")
    assert troll.user is not None
    assert owner.account is not None
    room = await in_thread(Room.objects.get)(name="rested")
    guest_id = troll.user.id

    @in_thread
    def ban_over_rest() -> int:
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_authenticate(owner.account)
        response = client.post(
            f"/api/v1/rooms/{room.pk}/bans", {"guest_id": guest_id}, format="json"
        )
        return int(response.status_code)

    assert await ban_over_rest() == 201
    assert (await troll.expect("removed")).reason == pb.REMOVAL_REASON_BANNED
    again = await connect(client=HOME)
    await again.send(join_room=pb.JoinRoom(room_name="rested"))
    assert (await again.expect("error")).code == pb.ERROR_CODE_BANNED


async def test_minting_tickets_cannot_push_limits_out_of_the_cache(
    connect: Connect, fast_passwords: None, make_user: Any
) -> None:
    from realtime import tickets

    @in_thread
    def locked() -> None:
        Room.objects.create(name="safe", persistent=True, password_hash=hash_room_password("k"))

    await locked()
    for n in range(MAX_WRONG_GUESSES):
        guesser = await connect(client=HOME)
        await guesser.send(join_room=pb.JoinRoom(room_name="safe", password=f"no {n}"))
        assert (await guesser.expect("error")).code == pb.ERROR_CODE_WRONG_PASSWORD
        await guesser.close()
    grant = tickets.TicketGrant(user_id=1, stamp="s")
    for _ in range(25_000):  # more than any cache keeps: the tickets' own cache forgets them
        tickets.issue_ticket(grant)
    guesser = await connect(client=HOME)
    await guesser.send(join_room=pb.JoinRoom(room_name="safe", password="k"))
    assert (await guesser.expect("error")).code == pb.ERROR_CODE_RATE_LIMITED


async def test_costly_requests_are_budgeted_per_socket_and_per_player(connect: Connect) -> None:
    sockets = [await connect(client=HOME) for _ in range(30)]
    for socket in sockets:
        for _ in range(20):
            await socket.send(room_list=pb.SubscribeRoomList(subscribe=True))
    await asyncio.sleep(1.0)  # let every answer arrive
    answered = 0
    for socket in sockets:
        granted = refused_count = 0
        for message in await socket.drain(0.05):
            if message.HasField("room_list"):
                granted += 1
            elif message.HasField("error") and message.error.code == pb.ERROR_CODE_RATE_LIMITED:
                refused_count += 1
        # Each run of refusals is answered once (a grant ends a run), not refusal by refusal.
        assert 1 <= refused_count <= granted + 1
        answered += granted
    # 600 asked; the address (one player) gets its burst of 50 and what refills meanwhile.
    assert 50 <= answered <= 80
    # Someone else is not held up.
    other = await connect(client=ELSEWHERE)
    await other.join()


async def test_one_socket_spamming_joins_is_held_to_one_a_second(connect: Connect) -> None:
    player = await connect(client=HOME)
    codes = []
    for _ in range(15):
        await player.send(join_room=pb.JoinRoom(room_name="lobby"))
    for message in await player.drain(0.5):
        if message.HasField("room_state"):
            codes.append("joined")
        elif message.HasField("error"):
            codes.append(pb.ErrorCode.Name(message.error.code))
    assert codes.count("joined") in (10, 11)
    assert "ERROR_CODE_RATE_LIMITED" in codes


async def test_a_socket_that_keeps_asking_when_refused_is_answered_once_then_closed(
    connect: Connect,
) -> None:
    player = await connect(client=HOME)
    for _ in range(70):  # its 10 at once, then 60 refused within the same second
        await player.send(room_list=pb.SubscribeRoomList(subscribe=True))
    assert await player.expect_close(timeout=5) == 4429
    errors = [m.error.code for m in player.seen if m.HasField("error")]
    assert errors == [pb.ERROR_CODE_RATE_LIMITED]
    assert len([m for m in player.seen if m.HasField("room_list")]) in (10, 11)


async def test_a_client_that_waits_after_a_refusal_is_answered_again_and_stays(
    connect: Connect,
) -> None:
    player = await connect(client=HOME)
    for _ in range(3):  # three runs: a burst over the budget, then a pause
        for _ in range(15):
            await player.send(room_list=pb.SubscribeRoomList(subscribe=True))
        heard = await player.drain(1.2)
        assert [m.error.code for m in heard if m.HasField("error")] == [pb.ERROR_CODE_RATE_LIMITED]
    await player.send(time_sync=pb.TimeSync(client_time=7))
    assert (await player.expect("time_sync")).client_time == 7


# --- what one player may make the server decode ---------------------------------------------------


async def test_a_players_sockets_share_one_frame_budget(connect: Connect) -> None:
    sockets = [await connect(client=HOME) for _ in range(8)]
    frame = pb.ClientMessage(time_sync=pb.TimeSync(client_time=1)).SerializeToString()
    for _ in range(300):  # each socket within its own burst of 400; 2,400 in all
        for socket in sockets:
            await socket.ws.send_to(bytes_data=frame)
    served = 0
    for socket in sockets:
        served += sum(1 for m in await socket.drain(0.3) if m.HasField("time_sync"))
    # One player (one address): its burst of 800, and what refills while the frames arrive.
    assert 800 <= served <= 1_400
    # Another player is served in full meanwhile.
    other = await connect(client=ELSEWHERE)
    for n in range(300):
        await other.send(time_sync=pb.TimeSync(client_time=n))
    assert sum(1 for m in await other.drain(0.3) if m.HasField("time_sync")) == 300


async def test_guests_sending_huge_json_frames_are_closed_and_others_are_served(
    connect: Connect,
) -> None:
    junk = '{"noteBatch":{"notes":[' + ",".join(["{}"] * 21_700) + "]}}"  # 64 KiB, legal JSON
    flooders = [await connect(client=HOME, encoding=codec.Encoding.JSON) for _ in range(8)]
    bystander = await connect()
    for _ in range(25):
        for flooder in flooders:
            await flooder.ws.send_to(text_data=junk)
    for flooder in flooders:
        # Each frame is a bad frame (refused before it is parsed): ten of them close the socket.
        assert await flooder.expect_close(timeout=5) == 4400
    await bystander.send(time_sync=pb.TimeSync(client_time=7))
    assert (await bystander.expect("time_sync")).client_time == 7


async def test_a_players_sockets_share_one_cursor_and_each_ends_where_it_stopped(
    connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long interval, so that the whole burst below arrives within one turn.
    monkeypatch.setattr(quotas, "CURSOR_MIN_INTERVAL", 0.2)
    tabs = [await connect(client=HOME) for _ in range(8)]
    watcher = await connect()
    for tab in tabs:
        await tab.join()
    await watcher.join()
    await watcher.drain(0.1)
    for n in range(20):
        for tab in tabs:
            await tab.send(cursor=pb.Cursor(x=n, y=1))
    moves = [m.cursor for m in await watcher.drain(2.5) if m.HasField("cursor")]
    # One player: one move at once, then each socket's newest in its turn (one per 0.2 s
    # for the player), not a move at once from every socket.
    assert len(moves) <= 1 + len(tabs) + 1
    last = {move.session_id: move.x for move in moves}
    assert last == {tab.session_id: 19.0 for tab in tabs}
