from __future__ import annotations

import math

import pytest
from google.protobuf import json_format

from realtime import codec, validation
from realtime.codec import Encoding
from realtime.exceptions import ProtocolError
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb

NOW = 1_700_000_000_000.0
ON = pb.NOTE_EVENT_TYPE_NOTE_ON
OFF = pb.NOTE_EVENT_TYPE_NOTE_OFF


def _batch(*notes: pb.NoteEvent, start_time: float = NOW) -> pb.NoteBatch:
    return pb.NoteBatch(start_time=start_time, notes=notes)


def _note(
    type: int = ON, key: int = 60, velocity: int = 80, delay_ms: int = 0, channel: int = 0
) -> pb.NoteEvent:
    event = pb.NoteEvent(key=key, velocity=velocity, delay_ms=delay_ms, channel=channel)
    # Assigned apart so that numbers outside the enum (as a hostile client sends) get in too.
    event.type = type  # type: ignore[assignment]
    return event


# --- notes -----------------------------------------------------------


def test_valid_batch_is_returned_unchanged_without_copying() -> None:
    batch = _batch(
        _note(),
        _note(type=OFF, velocity=0, delay_ms=1000),
        _note(type=pb.NOTE_EVENT_TYPE_SUSTAIN_ON, key=0, velocity=0, channel=15),
        _note(key=127, velocity=127, delay_ms=10),
        start_time=NOW - 9_000,
    )
    assert validation.clean_note_batch(batch, NOW) is batch


def test_empty_batch_is_allowed() -> None:
    assert len(validation.clean_note_batch(_batch(), NOW).notes) == 0


def test_key_out_of_range_is_dropped() -> None:
    cleaned = validation.clean_note_batch(_batch(_note(key=300), _note(key=61)), NOW)
    assert [n.key for n in cleaned.notes] == [61]


def test_note_on_with_velocity_zero_becomes_note_off() -> None:
    cleaned = validation.clean_note_batch(_batch(_note(velocity=0)), NOW)
    assert cleaned.notes[0] == _note(type=OFF, velocity=0)


def test_velocity_above_127_is_clamped() -> None:
    cleaned = validation.clean_note_batch(_batch(_note(velocity=999)), NOW)
    assert cleaned.notes[0].velocity == 127


def test_huge_delay_is_clamped_to_one_second() -> None:
    cleaned = validation.clean_note_batch(_batch(_note(delay_ms=10**9)), NOW)
    assert cleaned.notes[0].delay_ms == 1000


def test_channel_above_15_is_clamped() -> None:
    cleaned = validation.clean_note_batch(_batch(_note(channel=99)), NOW)
    assert cleaned.notes[0].channel == 15


@pytest.mark.parametrize("event_type", [pb.NOTE_EVENT_TYPE_UNSPECIFIED, 99])
def test_unknown_event_type_is_dropped(event_type: int) -> None:
    cleaned = validation.clean_note_batch(_batch(_note(type=event_type), _note(key=62)), NOW)
    assert [n.key for n in cleaned.notes] == [62]


def test_repair_keeps_the_good_events_in_order() -> None:
    batch = _batch(
        _note(key=1, delay_ms=5),
        _note(key=300),
        _note(key=2, velocity=999, delay_ms=10),
        _note(key=3, type=OFF, delay_ms=20),
    )
    cleaned = validation.clean_note_batch(batch, NOW)
    assert [(n.key, n.velocity, n.delay_ms) for n in cleaned.notes] == [
        (1, 80, 5),
        (2, 127, 10),
        (3, 80, 20),
    ]
    assert cleaned.start_time == NOW


@pytest.mark.parametrize("start_time", [math.nan, math.inf, -math.inf, 0.0, -5.0])
def test_non_finite_or_missing_start_time_is_refused(start_time: float) -> None:
    with pytest.raises(ProtocolError) as caught:
        validation.clean_note_batch(_batch(_note(), start_time=start_time), NOW)
    assert caught.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("offset_ms", [-3_600_000.0, -10_001.0, 10_001.0, 86_400_000.0])
def test_start_time_far_from_server_clock_is_set_to_now(offset_ms: float) -> None:
    batch = _batch(_note(), start_time=NOW + offset_ms)
    cleaned = validation.clean_note_batch(batch, NOW)
    assert cleaned.start_time == NOW
    assert list(cleaned.notes) == list(batch.notes)


@pytest.mark.parametrize("offset_ms", [-10_000.0, -150.0, 0.0, 250.0, 10_000.0])
def test_start_time_near_server_clock_is_kept(offset_ms: float) -> None:
    batch = _batch(_note(), start_time=NOW + offset_ms)
    assert validation.clean_note_batch(batch, NOW).start_time == NOW + offset_ms


def test_300_events_are_accepted() -> None:
    batch = _batch(*[_note(key=k % 128) for k in range(300)])
    assert len(validation.clean_note_batch(batch, NOW).notes) == 300


def test_5000_events_are_refused() -> None:
    batch = _batch(*[_note(key=k % 128) for k in range(5000)])
    with pytest.raises(ProtocolError, match="at most 300") as caught:
        validation.clean_note_batch(batch, NOW)
    assert caught.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("encoding", list(Encoding))
def test_hostile_batch_from_the_wire_is_never_relayed_as_given(encoding: Encoding) -> None:
    hostile = pb.ClientMessage(
        note_batch=_batch(
            _note(key=300),
            _note(velocity=0),
            _note(velocity=999),
            _note(delay_ms=10**9),
            start_time=NOW + 10**9,
        )
    )
    if encoding is Encoding.PROTO:
        decoded = codec.decode_client(encoding, None, hostile.SerializeToString())
    else:
        decoded = codec.decode_client(encoding, json_format.MessageToJson(hostile), None)

    cleaned = validation.clean_note_batch(decoded.note_batch, NOW)

    assert cleaned.start_time == NOW
    assert [(n.type, n.key, n.velocity, n.delay_ms) for n in cleaned.notes] == [
        (OFF, 60, 0, 0),
        (ON, 60, 127, 0),
        (ON, 60, 80, 1000),
    ]


def test_nan_start_time_in_json_is_refused_after_decoding() -> None:
    decoded = codec.decode_client(
        Encoding.JSON, '{"noteBatch":{"startTime":"NaN","notes":[{"type":1,"key":60}]}}', None
    )
    with pytest.raises(ProtocolError):
        validation.clean_note_batch(decoded.note_batch, NOW)


# --- cursor --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y"), [(math.nan, 1.0), (1.0, math.nan), (math.inf, 1.0), (1.0, -math.inf)]
)
def test_non_finite_cursor_is_refused(x: float, y: float) -> None:
    with pytest.raises(ProtocolError) as caught:
        validation.clean_cursor(x, y)
    assert caught.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ((50.5, 20.0), (50.5, 20.0)),
        ((-5.0, 150.0), (0.0, 100.0)),
        ((1e30, -1e30), (100.0, 0.0)),
        ((0.0, 100.0), (0.0, 100.0)),
    ],
)
def test_cursor_is_clamped_to_0_100(
    given: tuple[float, float], expected: tuple[float, float]
) -> None:
    assert validation.clean_cursor(*given) == expected


# --- display names and room names (rules owned by users.rules and rooms.rules) -------------


def test_display_name_keeps_markup_as_data() -> None:
    assert validation.clean_display_name(" <b>Ada</b> ") == "<b>Ada</b>"


def test_empty_display_name_means_use_the_username() -> None:
    assert validation.clean_display_name("  ") == ""


@pytest.mark.parametrize(
    "text", ["Ada\u202egnp.exe", "A\u200bda", "A\u200dda", "A\nda", "\x00", "x" * 33, "😀" * 10_000]
)
def test_bad_display_names_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        validation.clean_display_name(text)
    assert caught.value.code == "INVALID_ARGUMENT"


def test_room_name_is_checked_by_the_room_rules() -> None:
    assert validation.clean_room_name("Jazz <Bar>") == "Jazz <Bar>"


@pytest.mark.parametrize("name", ["", " padded ", "x" * 65, "a\u202eb", "a\u200bb", "x" * 10_000])
def test_bad_room_names_are_refused(name: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        validation.clean_room_name(name)
    assert caught.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("user_id", ["1", "42", str(2**63 - 1), "g-0123456789abcdef"])
def test_player_ids_the_server_makes_are_accepted(user_id: str) -> None:
    assert validation.clean_player_id(user_id) == user_id


@pytest.mark.parametrize(
    "user_id",
    ["", "0", "01", "²", "١٢", "-1", " 1", "1 ", "9" * 5000, str(2**63), "g-", "g-0123", "G-0"],
)
def test_player_ids_no_server_makes_are_invalid_argument(user_id: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        validation.clean_player_id(user_id)
    assert caught.value.code == "INVALID_ARGUMENT"
