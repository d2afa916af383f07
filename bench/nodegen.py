"""The Node.js tools of the benchmark, driven from Python (README, Benchmark).

``bench/node/peer.js`` is the ``node-ws`` target (a bare ``ws`` broadcast peer, the reference
the other targets are divided by); ``bench/node/loadgen.js`` is the second load generator,
written apart from ``bench.loadgen`` so the two check each other. ``NodeLoadGenerator`` runs
one generator process for one layout and target: it keeps its sockets across steps and takes
one JSON command per line on stdin, answering one JSON line on stdout; a step's answer has the
fields of ``bench.loadgen.StepResult``, computed in Node.

Their npm packages (bench/node/package.json, pinned in package-lock.json) are installed by
``make bench-node`` (``npm ci``); nothing is downloaded at run time.
"""

from __future__ import annotations

import json
import math
import os
import select
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.loadgen import Layout, StepResult

REPO = Path(__file__).resolve().parents[1]
NODE_DIR = REPO / "bench" / "node"
PEER = NODE_DIR / "peer.js"
LOADGEN = NODE_DIR / "loadgen.js"
INSTALL_HINT = "Node.js and npm are needed (apt-get install nodejs npm), then `make bench-node`"


def node_binary() -> str:
    """The ``node`` executable, with its npm packages installed; RuntimeError otherwise."""
    binary = shutil.which("node")
    if binary is None:
        raise RuntimeError(f"node is not installed: {INSTALL_HINT}")
    for package in ("ws", "protobufjs"):
        if not (NODE_DIR / "node_modules" / package / "package.json").exists():
            raise RuntimeError(f"bench/node/node_modules/{package} is missing: `make bench-node`")
    return binary


def peer_command(port: int) -> list[str]:
    """The ``node-ws`` peer on ``port`` (bench/node/peer.js)."""
    return [node_binary(), str(PEER), str(port)]


def _nan(summary: dict[str, Any]) -> dict[str, float]:
    """JSON's nulls (no samples) back to NaN, as ``bench.stats.LatencySummary`` has them."""
    return {k: math.nan if v is None else float(v) for k, v in summary.items()}


class NodeLoadGenerator:
    """One ``bench/node/loadgen.js`` process holding the clients of ``layout``.

    ``http`` (the project's HTTP root) makes it create the layout's rooms itself through the
    REST API, as ``bench.loadgen.create_project_rooms`` does. ``workers`` > 1 spreads the
    clients over that many Node processes. Its stderr goes to ``log_path``. ``node_args`` go
    to ``node`` itself (bench.profile: ``--cpu-prof``).
    """

    def __init__(
        self,
        layout: Layout,
        workers: int = 1,
        http: str = "",
        log_path: Path | None = None,
        node_args: list[str] | None = None,
    ) -> None:
        if layout.wire not in ("proto", "simple"):
            raise ValueError(f"the Node generator speaks proto and simple, not {layout.wire}")
        self.layout = layout
        command = [node_binary(), *(node_args or []), str(LOADGEN), "--wire", layout.wire]
        for base in layout.bases:
            command += ["--base", base]
        command += ["--rooms", ",".join(layout.rooms), "--clients", str(layout.clients)]
        command += ["--senders", str(layout.senders), "--notes", str(layout.notes)]
        command += ["--workers", str(workers)]
        if http:
            command += ["--http", http]
        self.log_path = log_path
        log = log_path.open("ab") if log_path is not None else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                command,
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        finally:
            if not isinstance(log, int):
                log.close()
        self._buffer = b""

    def _ask(
        self, command: dict[str, Any], timeout: float, tick: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        proc = self.proc
        if proc.stdin is None or proc.stdout is None:
            raise RuntimeError("the Node generator has no pipes")
        proc.stdin.write(json.dumps(command).encode() + b"\n")
        proc.stdin.flush()
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the Node generator did not answer {command['cmd']!r}")
            ready, _, _ = select.select([fd], [], [], min(left, 0.25))
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"the Node generator exited: {self._log_tail()}")
                self._buffer += chunk
            if tick is not None:
                tick()
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply: dict[str, Any] = json.loads(line)
        if not reply.pop("ok", False):
            raise RuntimeError(f"the Node generator failed {command['cmd']!r}: {reply['error']}")
        return reply

    def _log_tail(self) -> str:
        self.proc.wait(timeout=5)
        if self.log_path is None or not self.log_path.exists():
            return f"exit code {self.proc.returncode}"
        return self.log_path.read_text(errors="replace")[-2000:]

    def connect(self) -> dict[str, Any]:
        return self._ask({"cmd": "connect"}, timeout=180)

    def quiet(self, idle_for: float = 0.5, limit: float = 10.0) -> None:
        self._ask({"cmd": "quiet", "idle_for": idle_for, "limit": limit}, timeout=limit + 30)

    def step(
        self,
        step: int,
        deliveries_per_s: float,
        duration: float = 5.0,
        drain: float = 1.5,
        tick: Callable[[], None] | None = None,
    ) -> StepResult:
        command = {
            "cmd": "step",
            "step": step,
            "deliveries": deliveries_per_s,
            "duration": duration,
            "drain": drain,
            "start_at": time.time() + 0.3,
        }
        reply = self._ask(command, timeout=duration + 60, tick=tick)
        for key in ("latency", "latency_local", "latency_cross"):
            reply[key] = _nan(reply[key])
        return StepResult(**reply)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self._ask({"cmd": "quit"}, timeout=10)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
