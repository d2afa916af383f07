"""``make profile``'s summaries (bench.profile): py-spy's collapsed stacks and Node's
``--cpu-prof`` profiles turned into shares per function and per component."""

from __future__ import annotations

import json
from pathlib import Path

from bench.profile import (
    component,
    parse_collapsed,
    shorten,
    summarise,
    summarise_cpuprofile,
)

SITE = "/venv/lib/python3.11/site-packages"
LOOP = "/usr/lib/python3.11/asyncio/runners.py"
REPO = str(Path(__file__).resolve().parents[2])

COLLAPSED = [
    f'process 7:"python";<module> ({REPO}/pianorhythm/server.py:9);run ({LOOP}:118) 50',
    f"<module> ({REPO}/pianorhythm/server.py:9);_flush ({REPO}/realtime/session.py:290);"
    f"send ({SITE}/uvicorn/protocols/websockets/websockets_sansio_impl.py:330) 30",
    f"<module> ({REPO}/pianorhythm/server.py:9);note_batch ({REPO}/realtime/handlers.py:220) 20",
    # py-spy read a frame mid-change: garbage over several lines, no count.
    "Selectors module.",
    "",
    "This module allows high-level and efficient I/O multiplexing, built upon the",
]


def test_collapsed_stacks_are_read_and_garbage_lines_skipped() -> None:
    stacks = parse_collapsed(COLLAPSED)
    assert [count for _, count in stacks] == [50, 30, 20]
    assert stacks[1][0][-1] == (
        "send",
        f"{SITE}/uvicorn/protocols/websockets/websockets_sansio_impl.py",
    )
    assert stacks[0][0][0] == ('process 7:"python"', "")


def test_shares_per_function_component_and_project_function() -> None:
    summary = summarise(parse_collapsed(COLLAPSED))
    assert summary["samples"] == 100
    assert dict(summary["components"]) == {
        "event loop (asyncio)": 50.0,
        "uvicorn + websockets": 30.0,
        "project": 20.0,
    }
    own = dict(summary["own"])
    assert own["run (asyncio/runners.py)"] == 50.0
    assert own["send (uvicorn/protocols/websockets/websockets_sansio_impl.py)"] == 30.0
    inclusive = dict(summary["project_inclusive"])
    assert inclusive["<module> (pianorhythm/server.py)"] == 100.0
    assert inclusive["_flush (realtime/session.py)"] == 30.0
    assert inclusive["note_batch (realtime/handlers.py)"] == 20.0


def test_components_go_by_the_file() -> None:
    assert component(f"{SITE}/daphne/ws_protocol.py") == "Daphne + Twisted"
    assert component(f"{SITE}/twisted/python/util.py") == "Daphne + Twisted"
    assert component(f"{SITE}/google/protobuf/json_format.py") == "protobuf"
    assert component(f"{SITE}/channels_redis/pubsub.py") == "Channels"
    assert component(f"{REPO}/realtime/hub.py") == "project"
    assert component("/usr/lib/python3.11/selectors.py") == "other Python"


def test_written_stacks_keep_no_machine_paths() -> None:
    short = shorten("\n".join(COLLAPSED[:3]))
    assert REPO not in short
    assert SITE not in short
    assert "(realtime/session.py:290)" in short
    assert "(uvicorn/protocols/websockets/websockets_sansio_impl.py:330)" in short
    assert "(asyncio/runners.py:118)" in short


def test_node_profiles_count_busy_samples_only(tmp_path: Path) -> None:
    def node(node_id: int, name: str, url: str = "") -> dict[str, object]:
        return {"id": node_id, "callFrame": {"functionName": name, "url": url}}

    profile = {
        "nodes": [
            node(1, "(idle)"),
            node(2, "onMessage", "file:///repo/bench/node/loadgen.js"),
            node(3, "", "file:///repo/bench/node/node_modules/ws/lib/receiver.js"),
            node(4, "(garbage collector)"),
        ],
        "samples": [1] * 900 + [2] * 60 + [3] * 30 + [4] * 10,
    }
    path = tmp_path / "p.cpuprofile"
    path.write_text(json.dumps(profile))
    summary = summarise_cpuprofile(path)
    assert summary["samples"] == 100
    assert summary["own"] == [
        ("onMessage (loadgen.js)", 60.0),
        ("(anonymous) (receiver.js)", 30.0),
        ("(garbage collector) ()", 10.0),
    ]
