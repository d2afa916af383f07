"""``make profile``: where the server's time goes under load, per target and layout.

For each target (``--targets``, project targets of bench.run) and layout (``--layouts``),
the target is started as ``make bench`` starts it, a load generator (``--generator``)
connects the layout's clients, and one step runs at ``--rate`` deliveries/s for
``--seconds`` while py-spy samples every server process (native frames off, idle threads
off: what it sees is CPU time). The Python generator's worker processes are sampled the same
way; the Node generator runs with ``--cpu-prof``. Each profile is summarised (own time per
function, and per component: interface server, event loop, Channels, the project, protobuf,
Redis client, ...) into bench/results/profiles/<date>-<target>-<layout>-<generator>.md, with
the collapsed stacks beside it (.txt, one line per stack, for flamegraph tools).

Only shares within one profile mean anything; the step's own figures (delivered, p99, CPU of
each process) are printed with it, so a profile taken past capacity says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.loadgen import Layout, LoadGenerator, raise_file_limit
from bench.nodegen import NodeLoadGenerator
from bench.run import (
    ONE_NOTE,
    REPO,
    RESULTS,
    TARGETS,
    Bench,
    Generator,
    LayoutSpec,
    Server,
    fanout_layout,
    run_step,
)
from bench.run import _parser as bench_parser

PROFILES = RESULTS / "profiles"
#: py-spy's samples per second: enough for shares to 1 %, little enough not to slow the
#: server (py-spy reads the process' memory from outside it; it does not stop it).
SAMPLE_RATE = 250
TOP = 25

#: Components by the file a frame's code is in (the first pattern that matches wins).
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("protobuf", r"google/protobuf"),
    ("Channels", r"site-packages/channels(_redis)?/"),
    ("Redis client", r"site-packages/redis/"),
    ("Daphne + Twisted", r"site-packages/(daphne|twisted|autobahn|txaio|zope)/"),
    ("uvicorn + websockets", r"site-packages/(uvicorn|websockets|httptools|uvloop|wsproto)/"),
    ("asgiref", r"site-packages/asgiref/"),
    ("Django", r"site-packages/django/"),
    ("prometheus_client", r"site-packages/prometheus_client/"),
    ("event loop (asyncio)", r"/asyncio/"),
    ("msgpack", r"msgpack"),
    (
        "project",
        r"/(realtime|rooms|users|observability|foundation|analytics|moderation|"
        r"pianorhythm)/",
    ),
    ("load generator", r"/bench/"),
    ("picows", r"picows"),
)

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def component(path: str) -> str:
    for name, pattern in COMPONENTS:
        if re.search(pattern, path):
            return name
    return "other Python"


def _short(path: str) -> str:
    """A frame's file as a reader knows it: from the package on."""
    for marker in ("site-packages/", "/lib/python3", str(REPO) + "/"):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3" and "/" in tail else tail
    return path


def shorten(raw: str) -> str:
    """Collapsed stacks with each file as ``_short`` gives it (no machine's paths)."""
    return re.sub(
        r"\((/[^():;]*?)(:\d+)?\)",
        lambda m: f"({_short(m[1])}{m[2] or ''})",
        raw,
    )


def parse_collapsed(lines: Iterable[str]) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy's raw output: ``frame;frame;...;frame count``, outermost first; each frame
    ``function (file:line)``. Returns (frames as (function, file), count) per line."""
    stacks = []
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            # py-spy reads the process' memory without stopping it (--nonblocking): now and
            # then a frame is read mid-change, and its name is garbage spread over lines.
            continue
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            frames.append(
                (match["function"], match["file"]) if match else (frame, "")  # "process 1:..."
            )
        stacks.append((frames, int(count)))
    return stacks


def summarise(stacks: list[tuple[list[tuple[str, str]], int]], top: int = TOP) -> dict[str, Any]:
    """Own time per function and per component (by the innermost frame), and the project's
    functions by time including what they call."""
    total = sum(count for _, count in stacks)
    own: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        python = [f for f in frames if f[1]]
        if not python:
            continue
        function, path = python[-1]
        own[f"{function} ({_short(path)})"] += count
        parts[component(path)] += count
        seen = set()
        for function, path in python:
            if component(path) == "project":
                name = f"{function} ({_short(path)})"
                if name not in seen:
                    seen.add(name)
                    inclusive[name] += count
    share = 100.0 / total if total else 0.0
    return {
        "samples": total,
        "components": [(name, round(n * share, 1)) for name, n in parts.most_common()],
        "own": [(name, round(n * share, 1)) for name, n in own.most_common(top)],
        "project_inclusive": [
            (name, round(n * share, 1)) for name, n in inclusive.most_common(top)
        ],
    }


def summarise_cpuprofile(path: Path, top: int = TOP) -> dict[str, Any]:
    """A Node ``--cpu-prof`` profile: own samples per function while busy (the profile spans
    the process' life, connecting included; GC and V8's own work as V8 names them)."""
    profile = json.loads(path.read_text())
    nodes = {node["id"]: node for node in profile["nodes"]}
    counts: Counter[int] = Counter(profile.get("samples", []))
    own: Counter[str] = Counter()
    for node_id, count in counts.items():
        frame = nodes[node_id]["callFrame"]
        if frame.get("functionName") == "(idle)":
            continue  # the process' whole life is sampled, most of it waiting
        url = frame.get("url", "").rsplit("/node_modules/", 1)[-1].rsplit("/", 1)[-1]
        own[f"{frame.get('functionName') or '(anonymous)'} ({url})"] += count
    total = sum(own.values())
    share = 100.0 / total if total else 0.0
    return {
        "samples": total,
        "own": [(name, round(n * share, 1)) for name, n in own.most_common(top)],
    }


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("py-spy is not installed: make .venv/.bench")
    return found


def server_pids(servers: list[Server]) -> list[int]:
    pids = []
    for server in servers:
        if server.proc is None:
            continue
        pids.append(server.proc.pid)
        children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
        if children.exists():
            pids += [int(pid) for pid in children.read_text().split()]
    return pids


def record(
    pids: dict[str, int], seconds: float, workdir: Path
) -> dict[str, subprocess.Popen[bytes]]:
    """One py-spy per process, recording for ``seconds`` into workdir/<name>.txt."""
    running = {}
    for name, pid in pids.items():
        command = [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            str(SAMPLE_RATE),
            "--format",
            "raw",
            "--nonblocking",
            "--full-filenames",
            "--output",
            str(workdir / f"{name}.txt"),
        ]
        log = (workdir / f"{name}.py-spy.log").open("wb")
        running[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    return running


def _table(rows: list[tuple[str, float]], what: str) -> list[str]:
    return [f"| {what} | % of samples |", "| --- | ---: |", *[f"| `{n}` | {s} |" for n, s in rows]]


def report(
    title: str, step: dict[str, Any], profiles: dict[str, dict[str, Any]], command: str
) -> str:
    lat = step["latency"]
    lines = [
        f"# {title}",
        "",
        f"Taken {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} with `{command}`.",
        "",
        "py-spy samples CPU time only (idle threads are left out). A Python function's own",
        "time includes the C code it calls: socket writes under the interface server's",
        "`send`, protobuf's C decoder under `ParseFromString`; `run (asyncio/runners.py)` is",
        "the event loop's own C code (uvloop): polling, reading sockets, running callbacks.",
        "",
        f"The step: {step['target_deliveries_per_s']:,.0f} deliveries/s offered, "
        f"{step['deliveries_per_s']:,.0f}/s delivered ({step['delivered_ratio']:.1%}), "
        f"p50 {lat['p50_ms']:.2f} / p99 {lat['p99_ms']:.2f} ms; CPU (share of one core, over "
        f"the step and its drain): servers {step['server'].get('cpu')}, generator "
        f"{step['generator_cpu']}.",
    ]
    for name, summary in profiles.items():
        lines += ["", f"## {name} ({summary['samples']:,} samples)", ""]
        if "components" in summary:
            lines += ["By component (own time of the innermost frame):", ""]
            lines += _table(summary["components"], "component")
            lines += ["", f"Own time, top {TOP} functions:", ""]
            lines += _table(summary["own"], "function")
            if summary["project_inclusive"]:
                lines += ["", "The project's functions, including what they call:", ""]
                lines += _table(summary["project_inclusive"], "function")
        else:
            lines += [f"Own time while busy, top {TOP} functions (V8):", ""]
            lines += _table(summary["own"], "function")
    return "\n".join(lines) + "\n"


def profile_one(
    bench: Bench, target_name: str, layout: LayoutSpec, kind: str, rate: float, seconds: float
) -> Path:
    target = next(t for t in TARGETS if t.name == target_name)
    if target.app != "project":
        raise SystemExit(f"{target_name}: only the project's targets are profiled")
    stamp = dt.date.today().isoformat()
    stem = f"{stamp}-{target.name}-{layout.name}-{kind}"
    work = bench.workdir / stem
    work.mkdir()
    with bench.servers(target) as servers:
        bases = [s.ws_base for s in servers]
        generator: Generator
        if kind == "python":
            rooms = bench.rooms(target, servers, layout.rooms)
            shape = Layout(target.wire, bases, rooms, layout.clients, layout.senders, layout.notes)
            python_gen = LoadGenerator(shape, bench.args.workers)
            generator = python_gen
        else:
            rooms = bench.rooms(target, servers, layout.rooms, create=False)
            shape = Layout(target.wire, bases, rooms, layout.clients, layout.senders, layout.notes)
            generator = NodeLoadGenerator(
                shape,
                layout.node_workers,
                http=servers[0].url,
                log_path=work / "loadgen-js.log",
                node_args=["--cpu-prof", f"--cpu-prof-dir={work / 'node'}"],
            )
        try:
            connected = generator.connect()
            bench.log(f"{stem}: connected {connected['connected']} of {connected['expected']}")
            pids = {f"server-{n}": pid for n, pid in enumerate(server_pids(servers))}
            if kind == "python":
                pids |= {f"generator-{n}": p.pid for n, p in enumerate(python_gen.procs) if p.pid}
            spies = record(pids, seconds, work)
            time.sleep(0.3)  # py-spy attaches
            step = run_step(generator, servers, 1, rate, seconds, bench.args.drain)
            for name, spy in spies.items():
                if spy.wait(timeout=seconds + 60) != 0:
                    log = (work / f"{name}.py-spy.log").read_text(errors="replace")
                    raise RuntimeError(f"py-spy on {name} failed: {log[-500:]}")
        finally:
            generator.close()
    profiles = {}
    PROFILES.mkdir(parents=True, exist_ok=True)
    for name in pids:
        raw = (work / f"{name}.txt").read_text(errors="replace")
        (PROFILES / f"{stem}-{name}.txt").write_text(shorten(raw))
        profiles[name] = summarise(parse_collapsed(raw.splitlines()))
    for n, cpuprofile in enumerate(sorted((work / "node").glob("*.cpuprofile"))):
        profiles[f"node generator process {n}"] = summarise_cpuprofile(cpuprofile)
    command = (
        f"make profile PROFILE_ARGS='--targets {target.name} --layouts {layout.name} "
        f"--generator {kind} --rate {rate:g} --seconds {seconds:g}'"
    )
    title = f"Profile: {target.name}, {layout.name} layout, {kind} generator"
    out = PROFILES / f"{stem}.md"
    out.write_text(report(title, step.as_dict(), profiles, command))
    bench.log(f"{stem}: {out.relative_to(REPO)}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Profile the server under load (bench/).")
    parser.add_argument("--targets", default="project-memory,project-uvicorn")
    parser.add_argument("--layouts", default="fanout,1-note")
    parser.add_argument("--generator", default="python", choices=("python", "node"))
    parser.add_argument("--rate", type=float, default=15000.0, help="deliveries/s")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    # The bench's own options (rooms, workers, drain...), at their defaults.
    bench_args = bench_parser().parse_args([])
    raise_file_limit()
    bench = Bench(bench_args)
    layouts = {"fanout": fanout_layout(bench_args), "1-note": ONE_NOTE}
    py_spy()
    try:
        for target in args.targets.split(","):
            for name in args.layouts.split(","):
                profile_one(bench, target, layouts[name], args.generator, args.rate, args.seconds)
    finally:
        if bench.redis is not None:
            bench.redis.stop()
    shutil.rmtree(bench.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
