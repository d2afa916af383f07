"""``make bench``: the fan-out benchmark (README, Benchmark), every target in one run.

Targets, each started here as real processes (a private redis-server on a free port when
needed, Daphne, uvicorn or Node, all sharing one throwaway VAR_DIR); adding one is one line
of ``TARGETS``:

- ``node-ws``: a bare Node.js ``ws`` broadcast peer (bench/node/peer.js), the reference every
  other figure is divided by (``x node-ws``, from the same run and the same generator);
- ``ceiling-<server>``: the bare ASGI broadcast app (bench/ceiling.py) on Daphne, uvicorn
  (as ``pianorhythm.server --interface uvicorn`` runs it), granian and hypercorn: what each
  interface server allows on this machine with this load generator;
- ``project-memory`` / ``project-uvicorn``: the project, one instance, in-memory channel
  layer, on Daphne (as ``make run`` serves it) and on uvicorn (the production option);
- ``project-redis``: the project, one Daphne instance, Redis;
- ``project-redis-x2``: two project instances on one Redis, each room's clients split
  between them (cross-instance latency comes from this one).

Only when named in ``--targets`` (the run stays under 20 minutes): ``baseline``, the
textbook Channels consumer (bench/baseline/, Daphne + Redis layer); uvicorn's other
WebSocket implementations; the project on granian, hypercorn, and uvicorn with Redis (the
list is TARGETS, the command lines ``harness.processes``).

Two layouts (``--layouts``): ``fanout``, 10 rooms x 20 clients x 4 senders, 4-note batches,
4 s steps, a step passes at p99 < 50 ms and >= 99.9 % delivered; and ``1-note``, the issue's
independent measurement, 10 x 20 x 10 senders, 1-note batches, 6 s steps, >= 99 % delivered,
the Node generator in one process, for node-ws, project-memory, project-uvicorn and
project-redis only.

Two load generators (``--generators``), each measuring every target of every layout on the
same server processes, one after the other: ``bench.loadgen`` (Python, 2 worker processes)
and ``bench/node/loadgen.js`` (Node.js, driven by ``bench.nodegen``); the table shows both
side by side and their ratio (they should agree within 20 %). The Python one goes first: p50
and p99 at a fixed moderate load (5,000 deliveries/s, fanout only; the Node one runs it too
on the project's targets; a first try like the others, which, when it passes, counts and
starts the search from above it), then the send rate from
2,000/s doubled until a step misses, then two bisections (in log) between the last pass and
the first miss (a target that misses at 2,000/s is stepped down first). The Node one starts
at 0.8 x the Python figure and steps by 1.25 with one bisection. Every step is run once: the
headline is the highest step that passed on its first try; ``--retry`` runs a missed step
once more and shows it apart, marked as a retry, in the .md and the .json, without changing
the search or the headline. A step whose generator used >= 90 % of a core is flagged.

Then memory per idle socket (1,000 and 5,000 sockets) and a slow-consumer run (Python
generator). Results go to bench/results/<date>.json and .md; the table is printed. Ratios
within one run are the headline: the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.loadgen import Layout, LoadGenerator, StepResult, create_project_rooms, raise_file_limit
from bench.nodegen import NodeLoadGenerator, peer_command
from harness.processes import (
    HOST,
    RedisServer,
    ServerProcess,
    free_port,
    migrate,
    project_command,
    project_env,
    server_command,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
START_TIMEOUT = 60.0
P99_LIMIT_MS = 50.0
MIN_DELIVERED = 0.999
FIXED_LOAD = 5000.0
#: The two generators agree when one's figure is within this factor of the other's.
AGREE = 1.2


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) of ``pid`` from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_pages = int(fields[21])
    return cpu, rss_pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


class Server(ServerProcess):
    """One interface-server process, whose CPU and memory the samples read."""

    @property
    def ws_base(self) -> str:
        """``ws://host:port``, as the load generator's layout takes it."""
        return f"ws://{HOST}:{self.port}"

    def stat(self) -> tuple[float, float]:
        """CPU seconds and RSS MiB of the process and its children (granian's worker)."""
        if self.proc is None or self.proc.poll() is not None:
            return math.nan, math.nan
        cpu, rss = _proc_stat(self.proc.pid)
        with contextlib.suppress(OSError, ValueError):
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            for child in children.split():
                child_cpu, child_rss = _proc_stat(int(child))
                cpu, rss = cpu + child_cpu, rss + child_rss
        return cpu, rss


@dataclass
class Target:
    name: str
    app: str  # ceiling | baseline | project
    server: str = "daphne"
    redis: bool = False
    instances: int = 1
    #: Run only when ``--targets`` names it, not in every ``make bench``.
    extra: bool = False

    @property
    def wire(self) -> str:
        return "proto" if self.app == "project" else "simple"


TARGETS = [
    Target("node-ws", "node"),  # bench/node/peer.js: the reference every figure is divided by
    # Interface servers side by side, on the bare app and on the project (docs/operations.md,
    # Production server); uvicorn is as pianorhythm.server --interface uvicorn runs it.
    Target("ceiling-daphne", "ceiling"),
    Target("ceiling-uvicorn", "ceiling", server="uvicorn"),
    Target("ceiling-granian", "ceiling", server="granian"),
    Target("ceiling-hypercorn", "ceiling", server="hypercorn"),
    Target("project-memory", "project"),
    Target("project-uvicorn", "project", server="uvicorn"),
    Target("project-redis", "project", redis=True),
    Target("project-redis-x2", "project", redis=True, instances=2),
    # Only when named (the run must stay under 20 minutes).
    Target("baseline", "baseline", redis=True, extra=True),
    Target("ceiling-uvicorn-websockets", "ceiling", server="uvicorn-websockets", extra=True),
    Target("ceiling-uvicorn-wsproto", "ceiling", server="uvicorn-wsproto", extra=True),
    Target("project-uvicorn-websockets", "project", server="uvicorn-websockets", extra=True),
    Target("project-uvicorn-wsproto", "project", server="uvicorn-wsproto", extra=True),
    Target("project-granian", "project", server="granian", extra=True),
    Target("project-hypercorn", "project", server="hypercorn", extra=True),
    Target("project-uvicorn-redis", "project", server="uvicorn", redis=True, extra=True),
]
_MODULE = {
    "ceiling": "bench.ceiling:app",
    "baseline": "bench.baseline.asgi:application",
    "project": "pianorhythm.asgi:application",
}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="pianorhythm-bench-"))
        self.var_dir = self.workdir / "var"
        self.var_dir.mkdir()
        self.redis: RedisServer | None = None
        self.migrated = False
        self.room_serial = 0

    def log(self, text: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)

    def env(self, redis: bool) -> dict[str, str]:
        env = project_env(
            self.var_dir,
            THROTTLE_REGISTER="1000/min",
            THROTTLE_AUTH="1000/min",
            THROTTLE_ANON="100000/min",
            THROTTLE_USER="100000/min",
            # Idle benchmark sockets must outlive a target's steps.
            REALTIME_IDLE_SECONDS="900",
            # One load generator opens every room; each simulated player has its own address
            # (bench.loadgen.player_address), as through a proxy.
            MAX_ROOMS_PER_ACCOUNT="1000",
            NUM_PROXIES="1",
        )
        if redis:
            if self.redis is None:
                self.redis = RedisServer(free_port(), self.workdir)
                self.redis.start(START_TIMEOUT)
            self.redis.flush()
            env["REDIS_URL"] = self.redis.url
        return env

    def migrate(self) -> None:
        # Before every start, not once: a migration added while the run goes on (a shared
        # work tree) must not leave a later server without its tables. A no-op takes ~2 s.
        if not self.migrated:
            self.log("migrating the throwaway database")
        migrate(self.env(redis=False), self.workdir / "migrate.log")
        self.migrated = True

    @contextlib.contextmanager
    def servers(self, target: Target) -> Iterator[list[Server]]:
        if target.app not in ("ceiling", "node"):
            self.migrate()
        env = self.env(target.redis)
        started: list[Server] = []
        try:
            for index in range(target.instances):
                port = free_port()
                if target.app == "node":
                    command = peer_command(port)
                elif target.app == "project":  # as `make run` serves it, on target.server
                    command = project_command(port, interface=target.server)
                else:
                    command = server_command(target.server, _MODULE[target.app], port)
                name = f"{target.name}-{index}"
                server = Server(name, port, command, env, self.workdir / f"{name}-{port}.log")
                started.append(server)
                probe = "/" if target.app in ("ceiling", "node") else "/api/v1/rooms/"
                server.start(probe, START_TIMEOUT)
            yield started
        finally:
            for server in started:
                server.terminate()

    def rooms(
        self, target: Target, servers: list[Server], count: int, create: bool = True
    ) -> list[str]:
        """Fresh room names; the project's are created (REST) unless ``create`` is False."""
        self.room_serial += 1
        names = [f"b{self.room_serial}-{target.name}-{i}" for i in range(count)]
        if target.app == "project" and create:
            create_project_rooms(servers[0].url, names)
        return names


# --------------------------------------------------------------------------------------------
# Sampling the servers while a step runs
# --------------------------------------------------------------------------------------------


@dataclass
class Sampler:
    servers: list[Server]
    every: float = 0.5
    started: float = field(default_factory=time.monotonic)
    cpu_start: list[float] = field(default_factory=list)
    rss: list[tuple[float, list[float]]] = field(default_factory=list)
    _last: float = 0.0

    def __post_init__(self) -> None:
        self.cpu_start = [s.stat()[0] for s in self.servers]
        self.tick()

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        self.rss.append(
            (round(now - self.started, 2), [round(s.stat()[1], 1) for s in self.servers])
        )

    def summary(self) -> dict[str, Any]:
        wall = time.monotonic() - self.started
        cpu = [
            round((s.stat()[0] - before) / wall, 3)
            for s, before in zip(self.servers, self.cpu_start, strict=True)
        ]
        peak = [max(sample[1][i] for sample in self.rss) for i in range(len(self.servers))]
        return {"cpu": cpu, "rss_mib_peak": peak}


class Generator(Protocol):
    """A load generator holding one layout's clients: ``bench.loadgen.LoadGenerator``
    (Python) or ``bench.nodegen.NodeLoadGenerator`` (Node.js)."""

    def connect(self) -> dict[str, Any]: ...

    def quiet(self, idle_for: float = 0.5, limit: float = 10.0) -> None: ...

    def step(
        self,
        step: int,
        deliveries_per_s: float,
        duration: float = 5.0,
        drain: float = 1.5,
        *,
        tick: Callable[[], None] | None = None,
    ) -> StepResult: ...

    def close(self) -> None: ...


def run_step(
    generator: Generator,
    servers: list[Server],
    step: int,
    deliveries: float,
    duration: float,
    drain: float = 1.5,
    timeline: bool = False,
) -> StepResult:
    sampler = Sampler(servers)
    result = generator.step(step, deliveries, duration, drain, tick=sampler.tick)
    result.server = sampler.summary()
    if timeline:
        result.server["rss_mib_timeline"] = sampler.rss
    return result


def _brief(result: StepResult) -> str:
    lat = result.latency
    flag = " GENERATOR SATURATED" if result.generator_saturated else ""
    return (
        f"target {result.target_deliveries_per_s:>8.0f}/s got {result.deliveries_per_s:>8.0f}/s "
        f"delivered {result.delivered_ratio * 100:7.3f}% p50 {lat['p50_ms']:7.2f} "
        f"p99 {lat['p99_ms']:8.2f} ms  gen cpu {result.generator_cpu} "
        f"server cpu {result.server.get('cpu')}{flag}"
    )


# --------------------------------------------------------------------------------------------
# Layouts and the search
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayoutSpec:
    """One client layout and its pass criteria. ``targets`` empty: every target."""

    name: str
    rooms: int
    clients: int
    senders: int
    notes: int
    duration: float
    min_delivered: float
    node_workers: int
    targets: tuple[str, ...] = ()
    fixed: bool = False  # p50/p99 at FIXED_LOAD first (Python generator)

    def config(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("rooms", "clients", "senders", "notes", "duration", "node_workers")
        }

    def criteria(self) -> dict[str, float]:
        return {"p99_ms_below": P99_LIMIT_MS, "delivered_at_least": self.min_delivered}


#: The second layout is the independent measurement of the performance issue: 10 senders per
#: room, 1-note batches, 6 s steps, pass at p99 < 50 ms and >= 99 % delivered, no retries,
#: one Node process.
ONE_NOTE = LayoutSpec(
    "1-note",
    10,
    20,
    10,
    1,
    6.0,
    0.99,
    1,
    targets=("node-ws", "project-memory", "project-uvicorn", "project-redis"),
)
GENERATORS = ("python", "node")


def passed(result: StepResult, layout: LayoutSpec) -> bool:
    return result.passed(P99_LIMIT_MS, layout.min_delivered)


@dataclass
class Search:
    """Where a sweep starts, how it steps, and how many halvings (in log) between the last
    pass and the first miss it ends with."""

    start: float
    factor: float
    bisections: int


@dataclass
class Sweep:
    """The steps of one generator on one target, first tries and (apart) retries."""

    bench: Bench
    generator: Generator
    servers: list[Server]
    layout: LayoutSpec
    label: str
    steps: list[StepResult] = field(default_factory=list)
    retries: list[StepResult] = field(default_factory=list)
    number: int = 0

    def run(self, rate: float, kind: str = "step") -> bool:
        args = self.bench.args
        self.number += 1
        result = run_step(
            self.generator, self.servers, self.number, rate, self.layout.duration, args.drain
        )
        self.steps.append(result)
        self.bench.log(f"{self.label} {kind:<5} " + _brief(result))
        ok = passed(result, self.layout)
        if not ok and args.retry:
            # Shown apart as a retry; the search and the headline go by the first try.
            self.generator.quiet(0.5, 10.0)
            self.number += 1
            again = run_step(
                self.generator, self.servers, self.number, rate, self.layout.duration, args.drain
            )
            self.retries.append(again)
            self.bench.log(f"{self.label} retry " + _brief(again))
        if not ok:
            self.generator.quiet(0.5, 10.0)
        return ok

    def search(
        self, how: Search, known_pass: float | None = None
    ) -> tuple[float | None, float | None]:
        """Step up (or down, from a first miss) by ``how.factor``, then bisect: (last pass,
        first miss). ``known_pass``: a lower rate that already passed (the fixed step)."""
        args = self.bench.args
        rate = how.start
        last_pass: float | None = known_pass
        first_fail: float | None = None
        while rate <= args.max_rate and len(self.steps) < args.max_steps:
            if self.run(rate):
                last_pass = rate
                if first_fail is not None:  # stepping down: the first pass ends it
                    break
                rate *= how.factor
            else:
                first_fail = rate
                if last_pass is not None or rate / how.factor < args.min_rate:
                    break
                rate /= how.factor
        for _ in range(how.bisections):
            if last_pass is None or first_fail is None:
                break
            middle = math.sqrt(last_pass * first_fail)
            if self.run(middle, "mid"):
                last_pass = middle
            else:
                first_fail = middle
        return last_pass, first_fail


def run_generator(
    bench: Bench,
    target: Target,
    layout: LayoutSpec,
    servers: list[Server],
    kind: str,
    how: Search,
) -> dict[str, Any]:
    """One generator's sweep of one target: connect, (fixed load), search."""
    args = bench.args
    bases = [s.ws_base for s in servers]
    generator: Generator
    if kind == "python":
        rooms = bench.rooms(target, servers, layout.rooms)
        shape = Layout(target.wire, bases, rooms, layout.clients, layout.senders, layout.notes)
        generator = LoadGenerator(shape, args.workers)
        workers = args.workers
    else:  # the Node generator creates the project's rooms itself, through the REST API
        rooms = bench.rooms(target, servers, layout.rooms, create=False)
        shape = Layout(target.wire, bases, rooms, layout.clients, layout.senders, layout.notes)
        workers = args.node_workers or layout.node_workers
        log = bench.workdir / f"loadgen-js-{target.name}-{layout.name}.log"
        http = servers[0].url if target.app == "project" else ""
        generator = NodeLoadGenerator(shape, workers, http=http, log_path=log)
    label = f"[{layout.name} {kind:<6}]"
    out: dict[str, Any] = {"generator": kind, "workers": workers}
    try:
        connected = generator.connect()
        bench.log(f"{label} connected {connected}")
        out["connected"] = connected
        if connected["connected"] < connected["expected"]:
            raise RuntimeError(f"only {connected['connected']} clients connected")
        sweep = Sweep(bench, generator, servers, layout, label)
        # The fixed load: every target with the Python generator, the project's with both.
        known: list[StepResult] = []
        known_pass: float | None = None
        if layout.fixed and (kind == "python" or target.app == "project"):
            fixed = run_step(generator, servers, 0, FIXED_LOAD, layout.duration, args.drain)
            bench.log(f"{label} fixed " + _brief(fixed))
            out["fixed_load"] = fixed.as_dict()
            generator.quiet(0.5, 10.0)
            if passed(fixed, layout):
                # A first try like any other: it counts, and a search starting below it goes
                # on from above it instead.
                known.append(fixed)
                if how.start <= FIXED_LOAD:
                    how = Search(FIXED_LOAD * how.factor, how.factor, how.bisections)
                    known_pass = FIXED_LOAD
        _last_pass, first_fail = sweep.search(how, known_pass)
        best = max(
            (s for s in [*known, *sweep.steps] if passed(s, layout)),
            key=lambda s: s.deliveries_per_s,
            default=None,
        )
        if kind == "python" and target.app == "project" and best is not None:
            out["overload"] = run_overload(bench, sweep, best)
    finally:
        generator.close()
    retried = max(
        (s for s in sweep.retries if passed(s, layout)),
        key=lambda s: s.deliveries_per_s,
        default=None,
    )
    out.update(
        steps=[s.as_dict() for s in sweep.steps],
        retries=[{**s.as_dict(), "retry": True} for s in sweep.retries],
        max_sustained=best.deliveries_per_s if best else 0.0,
        max_step=best.as_dict() if best else None,
        max_passing_retry=retried.deliveries_per_s if retried else None,
        search_capped=first_fail is None,
    )
    return out


def _late_note_batches(servers: list[Server]) -> dict[str, float]:
    """The servers' pianorhythm_late_note_batches_total by stage ("arrival", "outbox"),
    summed over the servers (the bench reads /metrics from loopback, which the settings
    allow)."""
    totals = {"arrival": 0.0, "outbox": 0.0}
    for server in servers:
        status, text = server.request("GET", "/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}")
        for stage, value in re.findall(
            r'^pianorhythm_late_note_batches_total\{stage="(\w+)"\} ([0-9.e+]+)$', text, re.M
        ):
            totals[stage] = totals.get(stage, 0.0) + float(value)
    return totals


def run_overload(bench: Bench, sweep: Sweep, best: StepResult) -> dict[str, Any]:
    """One step at twice the highest passing rate: past capacity, latency must stay bounded
    and most notes arrive; note batches cut for being late are read from /metrics."""
    rate = 2 * best.target_deliveries_per_s
    before = _late_note_batches(sweep.servers)
    sweep.number += 1
    result = run_step(
        sweep.generator,
        sweep.servers,
        sweep.number,
        rate,
        sweep.layout.duration,
        bench.args.drain,
    )
    after = _late_note_batches(sweep.servers)
    late = {stage: after[stage] - before.get(stage, 0.0) for stage in after}
    bench.log(
        f"{sweep.label} 2x    "
        + _brief(result)
        + f" late batches cut on arrival {late['arrival']:.0f}, in outboxes {late['outbox']:.0f}"
    )
    sweep.generator.quiet(0.5, 10.0)
    return {**result.as_dict(), "late_note_batches": sum(late.values()), "late_by_stage": late}


def _searches(args: argparse.Namespace, first: dict[str, Any]) -> Search:
    """The second generator's search, started near the first one's figure: both measure
    the same thing, and seeding saves the climb (the first try still decides each step)."""
    found = first.get("max_step")
    if not found:
        return Search(args.start, args.factor, args.bisections)
    return Search(0.8 * found["target_deliveries_per_s"], 1.25, 1)


def run_target(bench: Bench, target: Target, layouts: list[LayoutSpec]) -> list[dict[str, Any]]:
    """Every layout of ``target`` on one start of its servers: one result per layout."""
    args = bench.args
    bench.log(f"== {target.name}")
    results: list[dict[str, Any]] = []
    with bench.servers(target) as servers:
        for layout in layouts:
            out: dict[str, Any] = {
                "target": target.name,
                "app": target.app,
                "server": target.server,
                "redis": target.redis,
                "instances": target.instances,
                "generators": {},
            }
            how = Search(args.start, args.factor, args.bisections)
            for kind in args.generators:
                try:
                    sweep = run_generator(bench, target, layout, servers, kind, how)
                except Exception as exc:
                    bench.log(f"{target.name} {layout.name} {kind} failed: {exc}")
                    sweep = {"generator": kind, "error": str(exc)}
                out["generators"][kind] = sweep
                if "error" not in sweep:
                    how = _searches(args, sweep)
            figures = [g.get("max_sustained") for g in out["generators"].values()]
            if len(figures) == 2 and all(figures):
                node, python = out["generators"]["node"], out["generators"]["python"]
                out["node_vs_python"] = round(node["max_sustained"] / python["max_sustained"], 3)
            results.append(out)
    return results


def run_memory(bench: Bench, target: Target, counts: list[int]) -> dict[str, Any]:
    """Server RSS per idle socket (connected and welcomed, in no room)."""
    bench.log(f"== memory {target.name}")
    with bench.servers(target) as servers:
        server = servers[0]
        layout = Layout(target.wire, [server.ws_base], ["none"], 2, 1)
        generator = LoadGenerator(layout, bench.args.workers)
        out: dict[str, Any] = {"target": target.name, "points": []}
        try:
            # Warm up (imports, first-connection caches) so they are not counted per socket.
            generator.open_idle(100, server.ws_base)
            generator.close_idle()
            time.sleep(1.5)
            before = server.stat()[1]
            out["rss_mib_before"] = round(before, 1)
            opened = 0
            for count in counts:
                reply = generator.open_idle(count - opened, server.ws_base)
                opened = count
                time.sleep(2.0)
                rss = server.stat()[1]
                point = {
                    "sockets": count,
                    "connected_now": reply["connected"],
                    "failures": reply["failures"],
                    "open_seconds": reply["seconds"],
                    "rss_mib": round(rss, 1),
                    "kib_per_socket": round((rss - before) * 1024 / count, 1),
                }
                out["points"].append(point)
                bench.log(f"memory {point}")
        finally:
            generator.close()
    return out


def run_slow_consumer(bench: Bench) -> dict[str, Any]:
    """One room of 20, 4 senders at 50 batches/s of 300 notes (~3 KB): first everyone reads,
    then one client stops reading. The others' latency and the server's RSS over time."""
    target = Target("project-memory", "project")
    bench.log("== slow consumer (project-memory)")
    args = bench.args
    with bench.servers(target) as servers:
        rooms = bench.rooms(target, servers, 1)
        layout = Layout("proto", [servers[0].ws_base], rooms, 20, 4, notes=300)
        generator = LoadGenerator(layout, args.workers)
        try:
            generator.connect()
            deliveries = 50.0 * 4 * 19
            normal = run_step(generator, servers, 1, deliveries, 6.0, timeline=True)
            bench.log("normal " + _brief(normal))
            sampler = Sampler(servers)
            slow = generator.step(2, deliveries, args.slow_seconds, slow=(19,), tick=sampler.tick)
            slow.server = {**sampler.summary(), "rss_mib_timeline": sampler.rss}
            bench.log("slow   " + _brief(slow))
            bench.log(f"slow client {slow.slow} rss {slow.server['rss_mib_timeline']}")
        finally:
            generator.close()
    p99_normal = normal.latency["p99_ms"]
    p99_slow = slow.latency["p99_ms"]
    return {
        "deliveries_per_s": deliveries,
        "batch_notes": 300,
        "normal": normal.as_dict(),
        "with_slow_client": slow.as_dict(),
        "p99_ratio": round(p99_slow / p99_normal, 2) if p99_normal else None,
        "slow_client": slow.slow,
        "rss_growth_mib": round(
            slow.server["rss_mib_timeline"][-1][1][0] - slow.server["rss_mib_timeline"][0][1][0],
            1,
        ),
    }


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _pct(values: list[float]) -> str:
    return ", ".join(f"{c:.0%}" for c in values)


def _headline(sweep: dict[str, Any] | None) -> str:
    """A generator's first-try figure, flagged when capped or generator-bound."""
    if not sweep:
        return "-"
    if "error" in sweep:
        return f"failed: {sweep['error'][:60]}"
    best = sweep["max_step"]
    capped = " (cap)" if sweep["search_capped"] else ""
    saturated = " ⚠ gen. saturated" if best and best["generator_saturated"] else ""
    return f"{_fmt(sweep['max_sustained'], 0)}{capped}{saturated}"


def _at_max(sweep: dict[str, Any] | None, what: str) -> str:
    best = (sweep or {}).get("max_step")
    if not best:
        return "-"
    if what == "p99":
        return f"{_fmt(best['latency']['p99_ms'], 1)}"
    if what == "server":
        return _pct(best["server"]["cpu"])
    return _pct(best["generator_cpu"])


def _agreement(target: dict[str, Any]) -> str:
    ratio = target.get("node_vs_python")
    if ratio is None:
        return "-"
    flag = "" if 1 / AGREE <= ratio <= AGREE else " ⚠"
    return f"{ratio:.2f}{flag}"


def _fixed(sweep: dict[str, Any] | None) -> str:
    """p50 / p99 at the fixed load, or "-" where this generator did not run it."""
    latency = (sweep or {}).get("fixed_load", {}).get("latency")
    if not latency:
        return "-"
    return f"{_fmt(latency['p50_ms'], 2)} / {_fmt(latency['p99_ms'], 2)}"


def _layout_table(layout: dict[str, Any]) -> list[str]:
    config, criteria = layout["config"], layout["criteria"]
    fixed = any("fixed_load" in g for t in layout["targets"] for g in t["generators"].values())
    lines = [
        f"Layout `{layout['name']}`: {config['rooms']} rooms x {config['clients']} clients x "
        f"{config['senders']} senders, {config['notes']} note(s) per batch, "
        f"{config['duration']} s steps; a step passes at p99 < {criteria['p99_ms_below']:g} ms "
        f"and ≥ {criteria['delivered_at_least']:.1%} delivered, first try; the Node generator "
        f"in {config['node_workers']} process(es), the Python one in {layout['python_workers']}.",
        "",
        "| target | max deliveries/s, Python gen. | max deliveries/s, Node gen. | Node / Python "
        "| x node-ws (Python / Node gen.) | p99 at max, ms (Py / Node) "
        "| server CPU at max (Py / Node) | generator CPU at max (Py / Node) |"
        + (" p50 / p99 at 5,000/s, ms (Py; Node) |" if fixed else ""),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if fixed else ""),
    ]
    reference = next((t for t in layout["targets"] if t["target"] == "node-ws"), None)
    for target in layout["targets"]:
        py = target["generators"].get("python")
        node = target["generators"].get("node")
        ratios = []
        for kind in ("python", "node"):
            mine = target["generators"].get(kind) or {}
            ref = (reference or {"generators": {}})["generators"].get(kind) or {}
            if mine.get("max_sustained") is not None and ref.get("max_sustained"):
                ratios.append(f"{mine['max_sustained'] / ref['max_sustained']:.2f}")
            else:
                ratios.append("-")
        row = (
            f"| {target['target']} | {_headline(py)} | {_headline(node)} | {_agreement(target)} "
            f"| {' / '.join(ratios)} | {_at_max(py, 'p99')} / {_at_max(node, 'p99')} "
            f"| {_at_max(py, 'server')} / {_at_max(node, 'server')} "
            f"| {_at_max(py, 'gen')} / {_at_max(node, 'gen')} |"
        )
        if fixed:
            row += f" {_fixed(py)}; {_fixed(node)} |"
        lines.append(row)
    return lines


def _retry_lines(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for layout in report["layouts"]:
        for target in layout["targets"]:
            for kind, sweep in target["generators"].items():
                for retry in sweep.get("retries", []):
                    lat = retry["latency"]
                    lines.append(
                        f"- {layout['name']} {target['target']} ({kind} gen.): retry at "
                        f"{_fmt(retry['target_deliveries_per_s'], 0)}/s: "
                        f"{retry['delivered_ratio']:.3%} delivered, p99 {_fmt(lat['p99_ms'], 1)} "
                        f"ms"
                    )
    if not lines:
        return []
    return [
        "",
        "Retries (a missed step run once more; not in the headline, which is the first try):",
        "",
        *lines,
    ]


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        f"Fan-out benchmark, {report['date']} — {machine['cores']} cores, "
        f"Python {machine['python']}, Node {machine['node']}. Figures: deliveries/s of the "
        f"highest step that passed on its first try; x node-ws divides by the bare Node `ws` "
        f"peer's figure of the same run and generator; Node / Python compares the two load "
        f"generators (⚠ beyond {AGREE - 1:.0%}).",
    ]
    for layout in report["layouts"]:
        lines += ["", *_layout_table(layout)]
    lines += _retry_lines(report)
    lines += _overload_lines(report)
    cross = (
        next(
            (t for t in report["layouts"][0]["targets"] if t["target"] == "project-redis-x2"), None
        )
        if report["layouts"]
        else None
    )
    fixed_cross = ((cross or {}).get("generators", {}).get("python") or {}).get("fixed_load")
    if fixed_cross:
        local = fixed_cross["latency_local"]
        remote = fixed_cross["latency_cross"]
        lines += [
            "",
            f"Cross-instance latency at 5,000/s (project-redis-x2): same instance p50 "
            f"{_fmt(local['p50_ms'], 2)} / p99 {_fmt(local['p99_ms'], 2)} ms; across instances "
            f"p50 {_fmt(remote['p50_ms'], 2)} / p99 {_fmt(remote['p99_ms'], 2)} ms.",
        ]
    for memory in report.get("memory", []):
        if "error" in memory:
            lines += ["", f"Memory ({memory['target']}): failed: {memory['error'][:200]}"]
            continue
        points = "; ".join(
            f"{p['sockets']:,} sockets: {p['kib_per_socket']} KiB each "
            f"({p['connected_now']:,} opened in {p['open_seconds']} s)"
            for p in memory["points"]
        )
        lines += ["", f"RSS per idle socket ({memory['target']}): {points}."]
    lines += _slow_lines(report.get("slow_consumer"))
    lines += ["", f"Total run time: {report['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def _overload_lines(report: dict[str, Any]) -> list[str]:
    """Each project target's step at twice its highest passing rate (Python generator)."""
    lines = []
    for layout in report["layouts"]:
        for target in layout["targets"]:
            over = (target["generators"].get("python") or {}).get("overload")
            if not over:
                continue
            lines.append(
                f"- {layout['name']} {target['target']}: {_fmt(over['target_deliveries_per_s'], 0)}"
                f"/s offered, p50 {_fmt(over['latency'].get('p50_ms'), 1)} / p99 "
                f"{_fmt(over['latency'].get('p99_ms'), 1)} ms, "
                f"{over['delivered_ratio']:.1%} delivered, "
                f"{over['late_note_batches']:,.0f} note batches cut late"
                + _late_stages(over.get("late_by_stage"))
            )
    if not lines:
        return []
    return ["", "At twice the highest passing rate (first try, Python generator):", "", *lines]


def _late_stages(stages: dict[str, float] | None) -> str:
    if not stages:
        return ""
    return f" ({stages['arrival']:,.0f} on arrival, {stages['outbox']:,.0f} in outboxes)"


def _slow_lines(slow: dict[str, Any] | None) -> list[str]:
    if not slow:
        return []
    if "error" in slow:
        return ["", f"Slow consumer: failed: {slow['error'][:200]}"]
    normal = slow["normal"]["latency"]
    slowed = slow["with_slow_client"]["latency"]
    timeline = slow["with_slow_client"]["server"]["rss_mib_timeline"]
    rss = ", ".join(f"{t:.1f} s: {v[0]:.0f}" for t, v in timeline[:: max(len(timeline) // 8, 1)])
    return [
        "",
        f"Slow consumer ({_fmt(slow['deliveries_per_s'], 0)} deliveries/s, 300-note batches, "
        f"one of 20 stops reading): others' p99 {_fmt(normal['p99_ms'], 2)} ms → "
        f"{_fmt(slowed['p99_ms'], 2)} ms (x {slow['p99_ratio']}); server RSS grew "
        f"{slow['rss_growth_mib']} MiB (MiB over time: {rss}); slow client afterwards: "
        f"{slow['slow_client']}.",
    ]


def _failed(report: dict[str, Any]) -> bool:
    sweeps = [
        g
        for layout in report["layouts"]
        for t in layout["targets"]
        for g in t["generators"].values()
    ]
    parts = [*sweeps, *report["memory"], report.get("slow_consumer") or {}]
    return any("error" in part for part in parts)


def _run_all(
    bench: Bench, args: argparse.Namespace, targets: list[Target], report: dict[str, Any]
) -> None:
    """Every measurement in turn, into ``report``; one that fails is reported, not fatal."""
    layouts: list[LayoutSpec] = args.layout_specs
    by_name = {layout["name"]: layout for layout in report["layouts"]}
    for target in targets:
        mine = [lay for lay in layouts if not lay.targets or target.name in lay.targets]
        if not mine:
            continue
        try:
            results = run_target(bench, target, mine)
        except Exception as exc:
            bench.log(f"{target.name} failed: {exc}")
            error = {"generator": "-", "error": str(exc)}
            results = [{"target": target.name, "generators": {"-": error}} for _ in mine]
        for layout, result in zip(mine, results, strict=True):
            by_name[layout.name]["targets"].append(result)
    counts = [int(c) for c in args.memory.split(",") if c.strip()]
    for target in (Target("project-memory", "project"), Target("ceiling-daphne", "ceiling")):
        if not counts:
            break
        try:
            report["memory"].append(run_memory(bench, target, counts))
        except Exception as exc:
            bench.log(f"memory {target.name} failed: {exc}")
            report["memory"].append({"target": target.name, "error": str(exc)})
    if not args.no_slow:
        try:
            report["slow_consumer"] = run_slow_consumer(bench)
        except Exception as exc:
            bench.log(f"slow consumer failed: {exc}")
            report["slow_consumer"] = {"error": str(exc)}


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "-"
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().lstrip("v") or "-"


def _ratios(report: dict[str, Any]) -> dict[str, Any]:
    """Each layout's and generator's figures divided by node-ws' of the same run."""
    out: dict[str, Any] = {}
    for layout in report["layouts"]:
        reference = next((t for t in layout["targets"] if t["target"] == "node-ws"), None)
        if reference is None:
            continue
        for kind, ref in reference["generators"].items():
            if not ref.get("max_sustained"):
                continue
            out.setdefault(layout["name"], {})[kind] = {
                t["target"]: round(t["generators"][kind]["max_sustained"] / ref["max_sustained"], 3)
                for t in layout["targets"]
                if t["generators"].get(kind, {}).get("max_sustained") is not None
            }
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Fan-out benchmark (README, Benchmark).")
    parser.add_argument("--targets", default=",".join(t.name for t in TARGETS if not t.extra))
    parser.add_argument(
        "--layouts", default="fanout,1-note", help="fanout (the options below) and/or 1-note"
    )
    parser.add_argument("--generators", default=",".join(GENERATORS), help="python and/or node")
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--notes", type=int, default=4)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per step")
    parser.add_argument("--drain", type=float, default=1.0, help="seconds after each step")
    parser.add_argument("--start", type=float, default=2000.0, help="first step, deliveries/s")
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument("--bisections", type=int, default=2, help="steps between pass and miss")
    parser.add_argument("--max-rate", type=float, default=300000.0)
    parser.add_argument("--min-rate", type=float, default=300.0, help="lowest step down")
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="Python generator processes")
    parser.add_argument(
        "--node-workers", type=int, default=0, help="Node generator processes (0: the layout's)"
    )
    parser.add_argument("--retry", action="store_true", help="run a missed step again, apart")
    parser.add_argument("--memory", default="1000,5000", help="idle socket counts; '' skips")
    parser.add_argument("--slow-seconds", type=float, default=10.0)
    parser.add_argument("--no-slow", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser


def fanout_layout(args: argparse.Namespace) -> LayoutSpec:
    """The fanout layout as the options give it (10 x 20 x 4, 4-note batches, 4 s steps)."""
    return LayoutSpec(
        "fanout", args.rooms, args.clients, args.senders, args.notes, args.duration,
        MIN_DELIVERED, 2, fixed=True,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    known_layouts = {layout.name: layout for layout in (fanout_layout(args), ONE_NOTE)}
    args.layout_specs = [
        known_layouts[name.strip()] for name in args.layouts.split(",") if name.strip()
    ]
    args.generators = [g.strip() for g in args.generators.split(",") if g.strip()]
    if not set(args.generators) <= set(GENERATORS):
        parser.error(f"generators are {GENERATORS}")

    raise_file_limit()  # the servers inherit it: 5,000 sockets need more than 1,024 files
    bench = Bench(args)
    started = time.monotonic()
    wanted = [name.strip() for name in args.targets.split(",") if name.strip()]
    known = {t.name: t for t in TARGETS}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {sorted(known)}")
    report: dict[str, Any] = {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "node": _node_version(),
            "platform": platform.platform(),
        },
        "search": {
            k: getattr(args, k)
            for k in ("start", "factor", "bisections", "max_rate", "max_steps", "drain", "retry")
        },
        "layouts": [
            {
                "name": layout.name,
                "config": layout.config(),
                "python_workers": args.workers,
                "criteria": layout.criteria(),
                "targets": [],
            }
            for layout in args.layout_specs
        ],
        "memory": [],
    }
    try:
        _run_all(bench, args, [known[name] for name in wanted], report)
    finally:
        if bench.redis is not None:
            bench.redis.stop()
        if _failed(report):
            bench.log(f"something failed: server logs kept in {bench.workdir}")
        else:
            shutil.rmtree(bench.workdir, ignore_errors=True)
    report["ratios_vs_node_ws"] = _ratios(report)
    report["seconds"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    (args.out / f"{stamp}.json").write_text(json.dumps(report, indent=1) + "\n")
    table = markdown(report)
    (args.out / f"{stamp}.md").write_text(table)
    print(table, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
