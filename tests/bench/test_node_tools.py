"""The benchmark's Node.js tools (bench/node): the node-ws peer and the Node load generator.

Real processes, as ``make bench`` runs them (``bench.nodegen``): the generator against the
peer on the simple wire, then against the project (Daphne, as ``make run`` serves it) on the
proto wire. They need node and ``make bench-node``'s npm packages; without them the tests
fail, they do not skip. Plus the Python generator's 1-note frames, without servers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.loadgen import Client, Layout, encode_batch
from bench.nodegen import NodeLoadGenerator, peer_command
from harness import processes
from harness.processes import HOST, ServerProcess, free_port
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb


def _start(server: ServerProcess, probe: str) -> ServerProcess:
    try:
        server.start(probe, timeout=60)
    except processes.StartError as exc:
        pytest.fail(str(exc))
    return server


@pytest.fixture
def node_peer(tmp_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    server = ServerProcess("node-ws", port, peer_command(port), {}, tmp_path / "peer.log")
    yield _start(server, "/")
    server.terminate(timeout=3)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[ServerProcess]:
    """The project on Daphne with the benchmark's settings (bench.run.Bench.env)."""
    env = processes.project_env(
        tmp_path / "var",
        THROTTLE_REGISTER="1000/min",
        THROTTLE_ANON="100000/min",
        THROTTLE_USER="100000/min",
        MAX_ROOMS_PER_ACCOUNT="1000",
        NUM_PROXIES="1",
    )
    (tmp_path / "var").mkdir()
    try:
        processes.migrate(env, tmp_path / "migrate.log")
    except processes.StartError as exc:
        pytest.fail(str(exc))
    port = free_port()
    command = processes.project_command(port)
    server = ServerProcess("daphne", port, command, env, tmp_path / "daphne.log")
    yield _start(server, "/api/v1/rooms/")
    server.terminate(timeout=3)


def _run_one_step(
    layout: Layout, tmp_path: Path, http: str = "", workers: int = 1, deliveries: float = 300.0
) -> dict[str, object]:
    generator = NodeLoadGenerator(layout, workers, http=http, log_path=tmp_path / "gen.log")
    try:
        connected = generator.connect()
        assert connected["connected"] == connected["expected"] == len(layout.rooms) * 4
        result = generator.step(1, deliveries, duration=1.5, drain=1.0)
    finally:
        generator.close()
    assert generator.proc.returncode == 0, (tmp_path / "gen.log").read_text()
    return result.as_dict()


@pytest.mark.e2e
@pytest.mark.parametrize(("notes", "workers"), [(4, 1), (1, 2)])
def test_node_generator_counts_every_delivery_through_the_node_peer(
    node_peer: ServerProcess, tmp_path: Path, notes: int, workers: int
) -> None:
    base = f"ws://{HOST}:{node_peer.port}"
    layout = Layout("simple", [base], ["r1", "r2"], clients=4, senders=2, notes=notes)
    result = _run_one_step(layout, tmp_path, workers=workers)
    latency = result["latency"]
    assert isinstance(latency, dict)
    # 4 senders (2 rooms x 2) at 300 / (4 x 3 receivers) = 25 batches/s each for 1.5 s.
    assert 120 <= result["sent"] <= 180  # type: ignore[operator]
    assert result["expected"] == 3 * result["sent"]  # type: ignore[operator]
    assert result["delivered"] == result["expected"]
    assert result["duplicates"] == 0
    assert result["stale"] == 0
    assert latency["count"] == result["delivered"]
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"] < 1000
    assert len(result["generator_cpu"]) == workers  # type: ignore[arg-type]


@pytest.mark.e2e
def test_node_generator_speaks_the_project_proto_wire(
    project: ServerProcess, tmp_path: Path
) -> None:
    base = f"ws://{HOST}:{project.port}"
    layout = Layout("proto", [base], ["node-gen-test"], clients=4, senders=1, notes=4)
    # The generator registers an account and creates the room itself, through the REST API.
    result = _run_one_step(layout, tmp_path, http=project.url, deliveries=60.0)
    latency = result["latency"]
    assert isinstance(latency, dict)
    assert result["sent"] > 0  # type: ignore[operator]
    assert result["delivered"] == result["expected"] == 3 * result["sent"]  # type: ignore[operator]
    assert result["errors"] == {}
    assert 0 < latency["p50_ms"] <= latency["max_ms"] < 1000


def _relay(frame: bytes, session_id: str) -> bytes:
    batch = pb.ClientMessage.FromString(frame).note_batch
    relayed = pb.RelayedNotes(session_id=session_id, start_time=batch.start_time)
    relayed.notes.extend(batch.notes)
    return pb.ServerFrame(messages=[pb.ServerMessage(note_batch=relayed)]).SerializeToString()


def test_one_note_batches_carry_sequence_step_and_instance() -> None:
    frame = encode_batch("proto", "", seq=40_000, step=70, instance=1, count=1)
    (note,) = pb.ClientMessage.FromString(frame).note_batch.notes
    # What the server keeps as is (validation.clean_note_batch): key, velocity, delay, channel.
    assert note.key <= 127
    assert 1 <= note.velocity <= 127
    assert note.delay_ms <= 1000
    assert note.channel == 1
    receiver = Client(index=1, room="r", instance=0, sender=False, wire="proto")
    receiver.begin_step(70 & 63)
    receiver.on_payload(_relay(frame, "s1"))
    assert receiver.tracker.seen == {"s1": {40_000}}
    assert len(receiver.lat_cross) == 1
    assert not math.isnan(receiver.lat_cross[0])
    with pytest.raises(ValueError, match="range"):
        encode_batch("proto", "", seq=128 * 1001, step=0, instance=0, count=1)
