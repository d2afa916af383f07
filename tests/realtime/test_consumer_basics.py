from __future__ import annotations

from channels.testing import WebsocketCommunicator

from pianorhythm.asgi import application
from realtime import codec
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from tests.realtime.conftest import Connect


async def test_guest_gets_welcome_with_guest_identity(connect: Connect) -> None:
    player = await connect()
    assert player.session_id
    assert player.user is not None
    assert player.user.is_guest
    assert player.user.display_name.startswith("Guest-")


async def test_join_lobby_sends_room_state(connect: Connect) -> None:
    player = await connect()
    state = await player.join("lobby")
    assert state.room.name == "lobby"
    assert state.room.is_lobby
    assert [m.session_id for m in state.members] == [player.session_id]


async def test_notes_reach_others_but_not_the_sender(connect: Connect) -> None:
    alice = await connect()
    bob = await connect(encoding=codec.Encoding.JSON)
    await alice.join()
    await bob.join()
    joined = await alice.expect("member_joined")
    assert joined.member.session_id == bob.session_id
    note = pb.NoteEvent(type=pb.NOTE_EVENT_TYPE_NOTE_ON, key=60, velocity=100)
    import time

    await alice.send(note_batch=pb.NoteBatch(start_time=time.time() * 1000, notes=[note]))
    relayed = await bob.expect("note_batch")
    assert relayed.session_id == alice.session_id
    assert relayed.notes[0].key == 60
    assert await alice.ws.receive_nothing(0.3)


async def test_chat_is_stored_and_broadcast(connect: Connect) -> None:
    alice = await connect()
    bob = await connect()
    await alice.join()
    await bob.join()
    await bob.send(chat=pb.ChatSend(text="<b>hello</b>"))
    line = await alice.expect("chat")
    assert line.text == "<b>hello</b>"
    assert line.session_id == bob.session_id
    own = await bob.expect("chat")
    assert own.id == line.id


async def test_garbage_frame_gets_bad_message(connect: Connect) -> None:
    player = await connect()
    await player.ws.send_to(bytes_data=b"\xff\xff\xff")
    error = await player.expect("error")
    assert error.code == pb.ERROR_CODE_BAD_MESSAGE


async def test_notes_outside_a_room_get_not_in_room(connect: Connect) -> None:
    player = await connect()
    await player.send(note_batch=pb.NoteBatch(start_time=1.0))
    error = await player.expect("error")
    assert error.code == pb.ERROR_CODE_NOT_IN_ROOM
    assert error.request == "note_batch"


async def test_unknown_path_is_refused(transactional_db: None) -> None:
    communicator = WebsocketCommunicator(application, "/ws/<script>/")
    connected, _ = await communicator.connect()
    assert not connected
