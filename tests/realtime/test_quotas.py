"""Rate limits as pure rules, driven by a fake clock (plain floats)."""

from __future__ import annotations

import pytest

from realtime.quotas import (
    LOBBY_TIER,
    OWNER_TIER,
    ROOM_TIER,
    UNLIMITED_TIER,
    BadFrameCounter,
    FloodGuard,
    FloodVerdict,
    IntervalGate,
    PlayerShares,
    RateLimiter,
    RefusalVerdict,
    RefusedRequests,
    SlidingWindowLimiter,
    chat_limiter,
    frame_cost,
    note_quota_fields,
    note_rate,
    tier_for,
)

# --- RateLimiter ----------------------------------------------------------------------------


def test_rate_limiter_starts_full_and_refills_at_its_rate():
    bucket = RateLimiter(rate=10, burst=5, now=0.0)
    assert [bucket.allow(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert not bucket.allow(0.05)
    assert bucket.allow(0.1)
    assert not bucket.allow(0.1)


def test_rate_limiter_never_holds_more_than_its_burst():
    bucket = RateLimiter(rate=10, burst=5, now=0.0)
    assert bucket.tokens(1000.0) == 5


def test_rate_limiter_take_returns_what_is_available():
    bucket = RateLimiter(rate=1, burst=3, now=0.0)
    assert bucket.take(5, 0.0) == 3
    assert bucket.take(5, 0.0) == 0
    assert bucket.take(5, 2.5) == 2


def test_rate_limiter_ignores_a_clock_stepping_back():
    bucket = RateLimiter(rate=1, burst=2, now=10.0)
    bucket.take(2, 10.0)
    assert bucket.tokens(5.0) == 0
    assert bucket.tokens(11.0) == 1


@pytest.mark.parametrize(("rate", "burst"), [(0, 5), (-1, 5), (1, 0), (float("inf"), 5)])
def test_rate_limiter_rejects_bad_parameters(rate, burst):
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(rate, burst, now=0.0)


def test_rate_limiter_rejects_negative_take():
    with pytest.raises(ValueError, match="negative"):
        RateLimiter(1, 1, now=0.0).take(-1, 0.0)


# --- Note quota -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("is_lobby", "is_owner", "unlimited", "expected"),
    [
        (True, False, False, LOBBY_TIER),
        (True, True, False, LOBBY_TIER),
        (False, False, False, ROOM_TIER),
        (False, True, False, OWNER_TIER),
        (False, True, True, UNLIMITED_TIER),
        (True, False, True, UNLIMITED_TIER),
    ],
)
def test_tier_for_picks_the_mpp_tier(is_lobby, is_owner, unlimited, expected):
    assert tier_for(is_lobby=is_lobby, is_owner=is_owner, unlimited=unlimited) == expected


def test_tiers_match_the_design():
    assert (LOBBY_TIER.allowance, LOBBY_TIER.max, LOBBY_TIER.interval_ms) == (200, 600, 2000)
    assert (ROOM_TIER.allowance, ROOM_TIER.max, ROOM_TIER.interval_ms) == (400, 1200, 2000)
    assert (OWNER_TIER.allowance, OWNER_TIER.max, OWNER_TIER.interval_ms) == (600, 1800, 2000)


def test_note_quota_message_fields() -> None:
    assert note_quota_fields(OWNER_TIER) == {"allowance": 600, "max": 1800, "interval_ms": 2000}
    # Zeros tell the client there is no limit.
    assert note_quota_fields(UNLIMITED_TIER) == {"allowance": 0, "max": 0, "interval_ms": 0}


def test_note_rate_is_the_allowance_per_second() -> None:
    assert note_rate(LOBBY_TIER) == 100.0
    assert note_rate(OWNER_TIER) == 300.0


# --- Chat ---------------------------------------------------------------------------------


def test_chat_allows_four_messages_per_four_seconds():
    limiter = chat_limiter(privileged=False)
    assert [limiter.allow(t * 0.1) for t in range(5)] == [True] * 4 + [False]
    assert not limiter.allow(3.9)
    assert limiter.allow(4.0)
    assert not limiter.allow(4.05)


def test_chat_allows_ten_messages_for_owner_and_moderators():
    limiter = chat_limiter(privileged=True)
    assert [limiter.allow(0.0) for _ in range(11)] == [True] * 10 + [False]


def test_sliding_window_refused_messages_do_not_count():
    limiter = SlidingWindowLimiter(limit=2, window=1.0)
    assert limiter.allow(0.0)
    assert limiter.allow(0.5)
    assert not limiter.allow(0.9)
    assert limiter.allow(1.0)
    assert not limiter.allow(1.4)
    assert limiter.allow(1.5)


def test_sliding_window_rejects_bad_parameters():
    with pytest.raises(ValueError, match="limit"):
        SlidingWindowLimiter(limit=0, window=1.0)


# --- Bad frames -----------------------------------------------------------------------------


def test_bad_frames_close_after_max_within_window():
    counter = BadFrameCounter(max_bad=3, window=10.0)
    assert [counter.record(t) for t in (0.0, 1.0, 2.0)] == [False, False, True]


def test_bad_frames_spread_out_do_not_close():
    counter = BadFrameCounter(max_bad=3, window=10.0)
    assert not any(counter.record(t * 6.0) for t in range(20))


def test_bad_frame_counter_rejects_bad_parameters():
    with pytest.raises(ValueError, match="max_bad"):
        BadFrameCounter(max_bad=0)


# --- Flood guard ------------------------------------------------------------------------------


def test_flood_guard_lets_a_normal_client_through():
    guard = FloodGuard(0.0)
    # 50 frames per second for a minute.
    assert all(guard.check(i / 50) is FloodVerdict.OK for i in range(3000))


def test_flood_guard_drops_frames_over_the_rate():
    guard = FloodGuard(0.0, rate=10, burst=5)
    verdicts = [guard.check(0.0) for _ in range(6)]
    assert verdicts == [FloodVerdict.OK] * 5 + [FloodVerdict.DROP]


def test_flood_guard_closes_a_flood_after_max_drops():
    guard = FloodGuard(0.0)
    # 10,000 frames per second.
    verdicts = [guard.check(i / 10_000) for i in range(2000)]
    first_close = verdicts.index(FloodVerdict.CLOSE)
    # The burst of 400 plus the refill, then 1000 drops: closed after about 0.15 s.
    assert 1400 <= first_close < 1500
    assert verdicts[first_close - 1] is FloodVerdict.DROP
    assert set(verdicts[first_close:]) == {FloodVerdict.CLOSE}


def test_flood_guard_closes_a_sustained_overshoot_after_close_after():
    guard = FloodGuard(0.0, rate=10, burst=10, close_after=3.0, max_drops=10_000)
    # 20 frames per second: half of them dropped, continuously.
    verdicts = [(i / 20, guard.check(i / 20)) for i in range(200)]
    first_close = next(t for t, v in verdicts if v is FloodVerdict.CLOSE)
    first_drop = next(t for t, v in verdicts if v is FloodVerdict.DROP)
    assert first_close - first_drop == pytest.approx(3.0, abs=0.1)


def test_flood_guard_forgives_a_short_burst_followed_by_quiet():
    guard = FloodGuard(0.0, rate=10, burst=5, close_after=3.0, quiet=1.0)
    for second in range(10):
        # A burst of 20 frames at the start of every second, then silence.
        verdicts = [guard.check(float(second)) for _ in range(20)]
        assert FloodVerdict.CLOSE not in verdicts
        assert FloodVerdict.DROP in verdicts


def test_flood_guard_stays_closed():
    guard = FloodGuard(0.0, rate=1, burst=1, max_drops=1)
    guard.check(0.0)
    assert guard.check(0.0) is FloodVerdict.CLOSE
    assert guard.check(100.0) is FloodVerdict.CLOSE


def test_flood_guard_rejects_bad_parameters():
    with pytest.raises(ValueError, match="close_after"):
        FloodGuard(0.0, close_after=0)


def test_interval_gate_lets_one_event_through_per_interval() -> None:
    gate = IntervalGate(0.04)
    assert gate.delay(10.0) == 0.0
    assert gate.delay(10.01) == pytest.approx(0.03)
    assert gate.delay(10.03) == pytest.approx(0.01)  # asking again does not push it back
    assert gate.delay(10.04) == 0.0
    assert gate.delay(10.05) == pytest.approx(0.03)


def test_interval_gate_needs_a_positive_interval() -> None:
    with pytest.raises(ValueError, match="interval"):
        IntervalGate(0)


def test_refused_requests_are_answered_once_a_run_and_closed_when_endless() -> None:
    refused = RefusedRequests(max_refused=5, window=10.0)
    verdicts = [refused.refuse(float(t)) for t in range(3)]
    assert verdicts == [RefusalVerdict.ANSWER, RefusalVerdict.QUIET, RefusalVerdict.QUIET]
    refused.granted()
    assert refused.refuse(3.0) is RefusalVerdict.ANSWER
    assert refused.refuse(4.0) is RefusalVerdict.CLOSE  # five within ten seconds


def test_refusals_spread_beyond_the_window_never_close() -> None:
    refused = RefusedRequests(max_refused=5, window=10.0)
    verdicts = {refused.refuse(t * 3.0) for t in range(50)}
    assert RefusalVerdict.CLOSE not in verdicts


def test_a_players_sockets_share_one_frame_budget_and_cursor_until_the_last_one_goes() -> None:
    shares = PlayerShares(rate=10.0, burst=10.0)
    first, second = shares.acquire("a1"), shares.acquire("a1")
    assert first is second
    assert first.frames(0.0) is second.frames(1.0)
    assert shares.acquire("a2") is not first
    assert first.cursor.delay(0.0) == 0.0
    assert second.cursor.delay(0.01) > 0.0  # the other socket's move waits its turn
    shares.release("a1")
    assert len(shares) == 2
    shares.release("a1")
    shares.release("a2")
    shares.release("a2")  # one release too many is harmless
    assert len(shares) == 0


def test_the_flood_guard_drops_what_the_players_budget_refuses() -> None:
    player = RateLimiter(10.0, 10.0, 0.0)
    guards = [FloodGuard(0.0), FloodGuard(0.0)]
    verdicts = [guards[n % 2].check(0.0, 1.0, player) for n in range(12)]
    assert verdicts.count(FloodVerdict.OK) == 10
    assert verdicts[10:] == [FloodVerdict.DROP, FloodVerdict.DROP]


def test_a_frame_costs_one_and_one_more_per_8_kib() -> None:
    assert [frame_cost(n) for n in (0, 8191, 8192, 65536)] == [1.0, 1.0, 2.0, 9.0]
    guard = FloodGuard(0.0, rate=200.0, burst=400.0)
    big = frame_cost(65536)
    assert sum(guard.check(0.0, big) is FloodVerdict.OK for _ in range(100)) == 44
