"""The load generator's arithmetic: percentiles, loss and duplicate counting, frame fields."""

from __future__ import annotations

import json
import math
from array import array

import pytest
from google.protobuf import json_format

from bench.loadgen import Client, Layout, combine, decode_seq, encode_batch, encode_seq
from bench.stats import (
    Delivery,
    LatencySummary,
    SequenceTracker,
    expected_deliveries,
    percentile,
)
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 90) == 90.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0


def test_percentile_of_few_samples_picks_a_real_sample():
    assert percentile([3.0, 7.0], 50) == 3.0
    assert percentile([3.0, 7.0], 99) == 7.0
    assert percentile([5.0], 1) == 5.0


def test_percentile_of_nothing_is_nan_and_bad_q_is_refused():
    assert math.isnan(percentile([], 99))
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], 0)
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], 101)


def test_latency_summary_sorts_its_samples():
    summary = LatencySummary.of([9.0, 1.0, 5.0, 3.0, 7.0] * 20)
    assert summary.count == 100
    assert summary.p50 == 5.0
    assert summary.p99 == 9.0
    assert summary.max == 9.0
    assert summary.as_dict()["p90_ms"] == 9.0


def test_tracker_counts_duplicates_per_sender():
    tracker = SequenceTracker()
    assert tracker.record("a", 0)
    assert tracker.record("a", 1)
    assert tracker.record("b", 0)  # same number, other sender: not a duplicate
    assert not tracker.record("a", 1)
    assert tracker.received == 4
    assert tracker.duplicates == 1
    assert tracker.unique == 3


def test_expected_deliveries_excludes_the_sender():
    # room r1: 10 batches to 4 receivers besides the sender; r2: 3 batches, 1 other receiver.
    assert expected_deliveries({"r1": 10, "r2": 3}, {"r1": 5, "r2": 2}) == 10 * 4 + 3 * 1
    assert expected_deliveries({"r1": 10}, {}) == 0


def test_delivery_loss_and_ratio():
    delivery = Delivery(expected=1000, delivered=998, duplicates=5)
    assert delivery.lost == 2
    assert delivery.ratio == pytest.approx(0.998)
    assert Delivery(0, 0, 0).ratio == 1.0


def test_sequence_numbers_survive_three_midi_keys():
    for seq in (0, 1, 127, 128, 16_383, 16_384, (1 << 21) - 1):
        keys = encode_seq(seq)
        assert all(0 <= key <= 127 for key in keys)
        assert decode_seq(*keys) == seq
    with pytest.raises(ValueError, match="range"):
        encode_seq(1 << 21)


def _relay(frame: bytes, session_id: str) -> bytes:
    """What the project's server sends for a client's note batch: a ServerFrame."""
    batch = pb.ClientMessage.FromString(frame).note_batch
    relayed = pb.RelayedNotes(session_id=session_id, start_time=batch.start_time)
    relayed.notes.extend(batch.notes)
    message = pb.ServerMessage(note_batch=relayed)
    return pb.ServerFrame(messages=[message, message]).SerializeToString()


def test_proto_receiver_counts_duplicates_and_stale_steps():
    receiver = Client(index=1, room="r", instance=0, sender=False, wire="proto")
    receiver.begin_step(7)
    frame = encode_batch("proto", "", seq=300, step=7, instance=1, count=4)
    receiver.on_payload(_relay(frame, "s1"))  # two copies of one batch in one frame
    assert receiver.tracker.unique == 1
    assert receiver.tracker.duplicates == 1
    assert len(receiver.lat_cross) == 1  # sent through instance 1, received on 0
    assert receiver.tracker.seen == {"s1": {300}}
    old = encode_batch("proto", "", seq=1, step=6, instance=0, count=8)
    receiver.on_payload(_relay(old, "s1"))
    assert receiver.stale == 2


def test_simple_receiver_ignores_its_own_echo():
    client = Client(index=3, room="r", instance=0, sender=True, wire="simple")
    client.begin_step(0)
    client.on_payload(encode_batch("simple", "c3", seq=0, step=0, instance=0, count=4))
    client.on_payload(encode_batch("simple", "c4", seq=0, step=0, instance=0, count=4))
    assert client.tracker.received == 1
    assert len(client.lat_local) == 1


def test_json_wire_matches_the_project_json_mapping():
    frame = json.loads(encode_batch("json", "", seq=129, step=2, instance=0, count=4))
    message = pb.ClientMessage()
    json_format.ParseDict(frame, message)
    keys = [note.key for note in message.note_batch.notes]
    assert decode_seq(*keys[:3]) == 129
    assert keys[3] == 2


def test_combine_reports_loss_and_rate():
    layout = Layout("simple", ["ws://x"], ["r"], clients=3, senders=1)
    reply = {
        "sent_by_room": {"r": 100},
        "receivers_by_room": {"r": 3},
        "delivered": 190,
        "duplicates": 1,
        "stale": 0,
        "closed": 0,
        "close_codes": {},
        "errors": {},
        "max_send_lag_ms": 0.0,
        "cpu": 0.95,
        "local": b"",
        "cross": b"",
        "slow": [],
    }
    reply["local"] = array("d", [1.0] * 190).tobytes()
    result = combine([reply], 1000.0, layout.rate_for(1000.0), 2.0)
    assert result.expected == 200
    assert result.lost == 10
    assert result.delivered_ratio == pytest.approx(0.95)
    assert result.deliveries_per_s == 95.0
    assert result.generator_saturated
    assert not result.passed()
