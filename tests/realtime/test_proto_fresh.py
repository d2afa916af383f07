"""The committed protocol code must be what `make proto` makes from the committed .proto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "realtime" / "proto"
GENERATED = ("pianorhythm/v1/protocol_pb2.py", "pianorhythm/v1/protocol_pb2.pyi")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("proto")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(PROTO_ROOT),
            f"--python_out={out}",
            f"--pyi_out={out}",
            str(PROTO_ROOT / "pianorhythm" / "v1" / "protocol.proto"),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return out


@pytest.mark.parametrize("relative", GENERATED)
def test_generated_code_is_fresh(regenerated: Path, relative: str) -> None:
    committed = (PROTO_ROOT / relative).read_bytes()
    fresh = (regenerated / relative).read_bytes()
    assert committed == fresh, f"realtime/proto/{relative} is stale: run `make proto`"


def test_generated_code_loads_on_the_pinned_runtime() -> None:
    # The generated module checks its protoc version against the runtime when imported.
    from realtime.proto.pianorhythm.v1 import protocol_pb2

    assert protocol_pb2.DESCRIPTOR.package == "pianorhythm.v1"
