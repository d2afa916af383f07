"""Guests' colours (realtime.identity.guest_color): one per guest, stable, easy to see."""

from __future__ import annotations

import colorsys
import re

from realtime.identity import (
    GUEST_MIN_CONTRAST,
    contrast_with_white,
    guest_color,
    guest_identity,
)

IDS = [f"g-{n:016x}" for n in range(0, 500 * 7919, 7919)]


def _hue(color: str) -> float:
    rgb = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    return colorsys.rgb_to_hls(*rgb)[0] * 360


def test_a_guests_colour_is_the_same_for_its_id_every_time() -> None:
    assert guest_color("g-3b1f0e9a7c2d4e6f") == guest_color("g-3b1f0e9a7c2d4e6f")
    assert guest_identity("g-3b1f0e9a7c2d4e6f").color == guest_color("g-3b1f0e9a7c2d4e6f")


def test_guests_colours_spread_over_the_hues() -> None:
    colors = [guest_color(guest_id) for guest_id in IDS]
    assert len(set(colors)) > 200
    # Every twelfth of the colour wheel is used, none by more than a fifth of the guests.
    bins = [0] * 12
    for color in colors:
        bins[int(_hue(color) // 30) % 12] += 1
    assert min(bins) > 0
    assert max(bins) < len(colors) / 5


def test_guests_colours_stand_out_on_white_keys() -> None:
    for guest_id in IDS:
        color = guest_color(guest_id)
        assert re.fullmatch(r"#[0-9a-f]{6}", color)
        assert contrast_with_white(color) >= GUEST_MIN_CONTRAST >= 3
        # ...and are not so dark they vanish on the page's dark background.
        assert contrast_with_white(color) < 4.5


def test_contrast_with_white() -> None:
    assert round(contrast_with_white("#ffffff"), 2) == 1
    assert round(contrast_with_white("#000000"), 2) == 21
    # The old shared guest grey was too light for ivory keys.
    assert contrast_with_white("#8a8f98") < 3.5
