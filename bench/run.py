"""``make bench``: the fan-out benchmark (README, Benchmark), every target in one run.

Targets, each started here as real processes (a private redis-server on a free port when
needed, Daphne or uvicorn, all sharing one throwaway VAR_DIR):

- ``ceiling-daphne`` / ``ceiling-uvicorn``: the bare ASGI broadcast app (bench/ceiling.py),
  the calibration ceiling of this machine, interface server and load generator;
- ``baseline``: the textbook Channels consumer (bench/baseline/), Daphne + Redis layer;
- ``project-memory``: the project, one Daphne instance, in-memory channel layer;
- ``project-redis``: the project, one Daphne instance, Redis;
- ``project-redis-x2``: two project instances on one Redis, each room's clients split
  between them (cross-instance latency comes from this one).

Only when named in ``--targets``: the same ceiling and ``project-memory`` on other interface
servers (``ceiling-granian``, ``ceiling-hypercorn``, ``ceiling-uvicorn-sansio``/``-wsproto``,
``project-uvicorn`` as ``--interface uvicorn`` serves it, ``project-granian``...; the list is
TARGETS, the command lines ``harness.processes``).

For each: p50/p99 at a fixed moderate load (5,000 deliveries/s), then the send rate stepped
up until a step misses p99 < 50 ms or 99.9 % delivered, plus one step between the last pass
and the first miss. Then memory per idle socket (1,000 and 5,000 sockets) and a
slow-consumer run. Results go to bench/results/<date>.json and .md; the table is printed.
Ratios against the baseline of the same run are the headline: the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import Layout, LoadGenerator, StepResult, create_project_rooms, raise_file_limit
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
    Target("ceiling-daphne", "ceiling"),
    Target("ceiling-uvicorn", "ceiling", server="uvicorn-websockets"),
    Target("baseline", "baseline", redis=True),
    Target("project-memory", "project"),
    Target("project-redis", "project", redis=True),
    Target("project-redis-x2", "project", redis=True, instances=2),
    # Interface servers side by side (docs/operations.md, Production server): only when named.
    Target("ceiling-uvicorn-sansio", "ceiling", server="uvicorn", extra=True),
    Target("ceiling-uvicorn-wsproto", "ceiling", server="uvicorn-wsproto", extra=True),
    Target("ceiling-granian", "ceiling", server="granian", extra=True),
    Target("ceiling-hypercorn", "ceiling", server="hypercorn", extra=True),
    Target("project-uvicorn", "project", server="uvicorn", extra=True),
    Target("project-uvicorn-websockets", "project", server="uvicorn-websockets", extra=True),
    Target("project-uvicorn-wsproto", "project", server="uvicorn-wsproto", extra=True),
    Target("project-granian", "project", server="granian", extra=True),
    Target("project-hypercorn", "project", server="hypercorn", extra=True),
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
        if target.app != "ceiling":
            self.migrate()
        env = self.env(target.redis)
        started: list[Server] = []
        try:
            for index in range(target.instances):
                port = free_port()
                if target.app == "project":  # as `make run` serves it, on target.server
                    command = project_command(port, interface=target.server)
                else:
                    command = server_command(target.server, _MODULE[target.app], port)
                name = f"{target.name}-{index}"
                server = Server(name, port, command, env, self.workdir / f"{name}-{port}.log")
                started.append(server)
                server.start("/" if target.app == "ceiling" else "/api/v1/rooms/", START_TIMEOUT)
            yield started
        finally:
            for server in started:
                server.terminate()

    def rooms(self, target: Target, servers: list[Server], count: int) -> list[str]:
        self.room_serial += 1
        names = [f"b{self.room_serial}-{target.name}-{i}" for i in range(count)]
        if target.app == "project":
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


def run_step(
    generator: LoadGenerator,
    servers: list[Server],
    step: int,
    deliveries: float,
    duration: float,
    slow: tuple[int, ...] = (),
    timeline: bool = False,
) -> StepResult:
    sampler = Sampler(servers)
    result = generator.step(step, deliveries, duration, slow=slow, tick=sampler.tick)
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


def passed(result: StepResult) -> bool:
    return result.passed(P99_LIMIT_MS, MIN_DELIVERED)


# --------------------------------------------------------------------------------------------
# The runs
# --------------------------------------------------------------------------------------------


def run_target(bench: Bench, target: Target) -> dict[str, Any]:
    args = bench.args
    bench.log(f"== {target.name}")
    with bench.servers(target) as servers:
        rooms = bench.rooms(target, servers, args.rooms)
        layout = Layout(
            target.wire, [s.ws_base for s in servers], rooms, args.clients, args.senders, args.notes
        )
        generator = LoadGenerator(layout, args.workers)
        try:
            connected = generator.connect()
            bench.log(f"connected {connected}")
            if connected["connected"] < connected["expected"]:
                raise RuntimeError(f"only {connected['connected']} clients connected")
            step = 0
            fixed = run_step(generator, servers, step, FIXED_LOAD, args.duration)
            bench.log("fixed " + _brief(fixed))
            steps: list[StepResult] = []
            rate = args.start
            last_pass: float | None = None
            first_fail: float | None = None
            descending = False
            while rate <= args.max_rate and len(steps) < args.max_steps:
                step += 1
                result = run_step(generator, servers, step, rate, args.duration)
                steps.append(result)
                bench.log("step  " + _brief(result))
                if not passed(result) and args.retry:
                    # The machine is shared: one noisy step must not end the search.
                    generator.quiet(0.5, 10.0)
                    step += 1
                    result = run_step(generator, servers, step, rate, args.duration)
                    steps.append(result)
                    bench.log("retry " + _brief(result))
                if not passed(result):
                    first_fail = rate
                    if last_pass is None and rate / args.factor >= args.min_rate:
                        # A slow target: step down from the start until a step passes.
                        rate /= args.factor
                        first_fail = None
                        descending = True
                        generator.quiet(0.5, 10.0)
                        continue
                    break
                last_pass = rate
                if descending:
                    first_fail = rate * args.factor
                    break
                rate *= args.factor
            if last_pass is not None and first_fail is not None:
                generator.quiet(0.5, 10.0)
                step += 1
                middle = math.sqrt(last_pass * first_fail)
                result = run_step(generator, servers, step, middle, args.duration)
                steps.append(result)
                bench.log("mid   " + _brief(result))
        finally:
            generator.close()
    passing = [s for s in steps if passed(s)]
    best = max(passing, key=lambda s: s.deliveries_per_s, default=None)
    return {
        "target": target.name,
        "app": target.app,
        "server": target.server,
        "redis": target.redis,
        "instances": target.instances,
        "connected": connected,
        "fixed_load": fixed.as_dict(),
        "steps": [s.as_dict() for s in steps],
        "max_sustained": best.deliveries_per_s if best else 0.0,
        "max_step": best.as_dict() if best else None,
        "search_capped": first_fail is None,
    }


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
            slow = run_step(
                generator, servers, 2, deliveries, args.slow_seconds, slow=(19,), timeline=True
            )
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


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        f"Fan-out benchmark, {report['date']} — {machine['cores']} cores, "
        f"Python {machine['python']}; {report['config']['rooms']} rooms x "
        f"{report['config']['clients']} clients x {report['config']['senders']} senders, "
        f"{report['config']['notes']} notes per batch, {report['config']['duration']} s steps.",
        "",
        "| target | max deliveries/s (p99 < 50 ms, ≥ 99.9 %) | x baseline | p50 / p99 at 5,000/s "
        "| p99 at max | server CPU at max | generator CPU at max |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    baseline = next((t for t in report["targets"] if t["target"] == "baseline"), None)
    base_max = baseline["max_sustained"] if baseline else 0.0
    for target in report["targets"]:
        if "error" in target:
            lines.append(f"| {target['target']} | failed: {target['error'][:80]} | | | | | |")
            continue
        fixed = target["fixed_load"]["latency"]
        best = target["max_step"]
        ratio = target["max_sustained"] / base_max if base_max else math.nan
        capped = " (cap)" if target["search_capped"] else ""
        saturated = " ⚠ saturated" if best and best["generator_saturated"] else ""
        lines.append(
            f"| {target['target']} | {_fmt(target['max_sustained'], 0)}{capped} "
            f"| {_fmt(ratio, 1)}x | {_fmt(fixed['p50_ms'], 2)} / {_fmt(fixed['p99_ms'], 2)} ms "
            f"| {_fmt(best['latency']['p99_ms'], 2) if best else '-'} ms "
            f"| {', '.join(f'{c:.0%}' for c in best['server']['cpu']) if best else '-'} "
            f"| {', '.join(f'{c:.0%}' for c in best['generator_cpu']) if best else '-'}"
            f"{saturated} |"
        )
    cross = next((t for t in report["targets"] if t["target"] == "project-redis-x2"), None)
    if cross and "fixed_load" in cross:
        local = cross["fixed_load"]["latency_local"]
        remote = cross["fixed_load"]["latency_cross"]
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
    slow = report.get("slow_consumer")
    if slow and "error" not in slow:
        normal = slow["normal"]["latency"]
        slowed = slow["with_slow_client"]["latency"]
        timeline = slow["with_slow_client"]["server"]["rss_mib_timeline"]
        rss = ", ".join(
            f"{t:.1f} s: {v[0]:.0f}" for t, v in timeline[:: max(len(timeline) // 8, 1)]
        )
        lines += [
            "",
            f"Slow consumer ({_fmt(slow['deliveries_per_s'], 0)} deliveries/s, 300-note batches, "
            f"one of 20 stops reading): others' p99 {_fmt(normal['p99_ms'], 2)} ms → "
            f"{_fmt(slowed['p99_ms'], 2)} ms (x {slow['p99_ratio']}); server RSS grew "
            f"{slow['rss_growth_mib']} MiB (MiB over time: {rss}); slow client afterwards: "
            f"{slow['slow_client']}.",
        ]
    elif slow:
        lines += ["", f"Slow consumer: failed: {slow['error'][:200]}"]
    lines += ["", f"Total run time: {report['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def _failed(report: dict[str, Any]) -> bool:
    parts = [*report["targets"], *report["memory"], report.get("slow_consumer") or {}]
    return any("error" in part for part in parts)


def _run_all(
    bench: Bench, args: argparse.Namespace, targets: list[Target], report: dict[str, Any]
) -> None:
    """Every measurement in turn, into ``report``; one that fails is reported, not fatal."""
    for target in targets:
        try:
            report["targets"].append(run_target(bench, target))
        except Exception as exc:
            bench.log(f"{target.name} failed: {exc}")
            report["targets"].append({"target": target.name, "error": str(exc)})
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fan-out benchmark (README, Benchmark).")
    parser.add_argument("--targets", default=",".join(t.name for t in TARGETS if not t.extra))
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--notes", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per step")
    parser.add_argument("--start", type=float, default=2000.0, help="first step, deliveries/s")
    parser.add_argument("--factor", type=float, default=1.6)
    parser.add_argument("--max-rate", type=float, default=90000.0)
    parser.add_argument("--min-rate", type=float, default=300.0, help="lowest step down")
    parser.add_argument("--max-steps", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-retry", dest="retry", action="store_false", help="no 2nd try")
    parser.add_argument("--memory", default="1000,5000", help="idle socket counts; '' skips")
    parser.add_argument("--slow-seconds", type=float, default=10.0)
    parser.add_argument("--no-slow", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

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
            "platform": platform.platform(),
        },
        "config": {
            k: getattr(args, k) for k in ("rooms", "clients", "senders", "notes", "duration")
        },
        "criteria": {"p99_ms_below": P99_LIMIT_MS, "delivered_at_least": MIN_DELIVERED},
        "targets": [],
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
    base = next((t for t in report["targets"] if t.get("target") == "baseline"), None)
    if base and base.get("max_sustained"):
        report["ratios_vs_baseline"] = {
            t["target"]: round(t["max_sustained"] / base["max_sustained"], 2)
            for t in report["targets"]
            if "max_sustained" in t
        }
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
