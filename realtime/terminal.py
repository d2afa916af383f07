"""The terminal client: two players in two terminals, or a quick look into a room.

    python -m realtime.terminal ws://127.0.0.1:8000/ws/ --room lobby --name Alice

Prints what happens in the room as lines; a typed line is sent as chat, ``/play 60 64 67``
plays a chord, ``/join ROOM``, ``/leave`` and ``/quit`` (or Ctrl-D) do what they say. Built
on the SDK (``realtime.client``); standalone like it: no Django.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Sequence

from realtime.client import ClientClosedError, ClientError, PianoClient, chord
from realtime.client_core import short_name
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
HELP = "Type a line to chat. /play 60 64 67 plays a chord, /leave, /join ROOM, /quit."


def note_name(key: int) -> str:
    return f"{NOTE_NAMES[key % 12]}{key // 12 - 1}"


class Terminal:
    """Prints what happens in the room as lines; sends typed lines as chat or commands."""

    def __init__(self, client: PianoClient, out: Callable[[str], None]) -> None:
        self.client = client
        self.out = out
        self.names: dict[str, str] = {}

    def remember(self, members: Iterable[pb.Member]) -> None:
        for member in members:
            self.names[member.session_id] = member.user.display_name or member.user.username

    def name(self, session_id: str) -> str:
        return self.names.get(session_id, session_id[:8] or "?")

    def show_room(self, state: pb.RoomState) -> None:
        self.names.clear()
        self.remember(state.members)
        self.out(f"* in {state.room.name}: {', '.join(sorted(self.names.values()))}")
        for line in state.recent_chat:
            self.out(f"<{line.display_name}> {line.text}")

    def show(self, message: pb.ServerMessage) -> None:
        kind = message.WhichOneof("kind")
        if kind == "note_batch":
            played = [
                note_name(n.key)
                for n in message.note_batch.notes
                if n.type == pb.NOTE_EVENT_TYPE_NOTE_ON
            ]
            if played:
                self.out(f"♪ {self.name(message.note_batch.session_id)}: {' '.join(played)}")
        elif kind == "chat":
            self.out(f"<{message.chat.display_name}> {message.chat.text}")
        elif kind == "member_joined":
            self.remember([message.member_joined.member])
            self.out(f"* {self.name(message.member_joined.member.session_id)} joined")
        elif kind == "member_updated":
            self.remember([message.member_updated.member])
        elif kind == "member_left":
            self.out(f"* {self.name(message.member_left.session_id)} left")
            self.names.pop(message.member_left.session_id, None)
        elif kind == "error":
            self.out(f"! {ClientError.from_error(message.error)}")
        elif kind == "removed":
            reason = short_name(pb.RemovalReason, "REMOVAL_REASON_", message.removed.reason)
            self.out(f"! removed from the room: {reason} {message.removed.message}")
        elif kind == "room_updated":
            self.out(f"* room updated: {message.room_updated.room.name}")

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; False means quit."""
        line = line.rstrip("\n")
        if line in ("/quit", "/exit"):
            return False
        if line.startswith("/play"):
            try:
                keys = [int(word) for word in line.split()[1:]]
            except ValueError:
                self.out("! usage: /play 60 64 67 (MIDI keys 0-127)")
                return True
            await self.client.send_notes(chord(keys))
            self.out(f"♪ you: {' '.join(note_name(k) for k in keys if 0 <= k <= 127)}")
        elif line.startswith("/join "):
            try:
                self.show_room(await self.client.join(line.removeprefix("/join ").strip()))
            except ClientError as exc:
                self.out(f"! {exc}")
        elif line == "/leave":
            await self.client.leave()
        elif line.startswith("/"):
            self.out(HELP)
        elif line.strip():
            await self.client.chat(line)
        return True


def _stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Lines typed on stdin, read by a daemon thread (None at end of input)."""
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return lines


async def run_terminal(args: argparse.Namespace) -> int:
    def out(line: str) -> None:
        print(line, flush=True)

    async with PianoClient.connect(
        args.url, token=args.token, encoding=args.encoding, origin=args.origin
    ) as client:
        out(f"* connected as {client.user.display_name} ({client.session_id[:8]})")
        if args.name:
            await client.update_profile(display_name=args.name)
        terminal = Terminal(client, out)
        terminal.show_room(
            await client.join(args.room, password=args.password, create_if_missing=args.create)
        )
        out(f"* {HELP}")
        lines = _stdin_lines(asyncio.get_running_loop())

        async def show_messages() -> None:
            async for message in client.messages():
                terminal.show(message)

        printer = asyncio.create_task(show_messages())
        try:
            while (line := await lines.get()) is not None and not client.closed:
                if not await terminal.handle_line(line):
                    break
        finally:
            printer.cancel()
        if client.closed:
            out(f"* connection closed ({client.close_code}) {client.close_reason}")
            return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m realtime.terminal", description="Terminal client for PianoRhythm."
    )
    parser.add_argument("url", help="e.g. ws://127.0.0.1:8000/ws/")
    parser.add_argument("--room", default="lobby")
    parser.add_argument("--name", help="display name to use")
    parser.add_argument("--password", default="", help="room password")
    parser.add_argument("--create", action="store_true", help="create the room if missing")
    parser.add_argument("--token", help="access JWT (default: play as a guest)")
    parser.add_argument("--origin", help="Origin header to send")
    parser.add_argument("--encoding", choices=("proto", "json"), default="proto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return asyncio.run(run_terminal(args))
    except ClientError as exc:
        print(f"! {exc}", file=sys.stderr)
    except ClientClosedError as exc:
        print(f"! {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
