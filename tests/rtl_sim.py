"""Drive the Verilog of rtl/ under Icarus Verilog: compile a testbench once per session, run it with
plusargs, read back its "RESULT pass=P fail=F" line. Tests skip (with the reason) where iverilog is absent,
except under BITMIXER_REQUIRE_IVERILOG=1 (set by .ci/run), where its absence fails them."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwsim.hexfile import write_hex

RTL = Path(__file__).resolve().parents[1] / "rtl"
HAVE_IVERILOG = shutil.which("iverilog") is not None and shutil.which("vvp") is not None
REQUIRED = os.environ.get("BITMIXER_REQUIRE_IVERILOG") == "1"
needs_iverilog = pytest.mark.skipif(not HAVE_IVERILOG and not REQUIRED,
                                    reason="Icarus Verilog (iverilog, vvp) is not installed; .ci/run installs it")


def compile_tb(out_dir: Path, tb: str, sources: list[str], defines: dict[str, str] | None = None) -> Path:
    assert HAVE_IVERILOG, "BITMIXER_REQUIRE_IVERILOG=1 but iverilog/vvp are not on PATH (apt-get install iverilog)"
    exe = out_dir / f"{tb}{''.join('_' + v for v in (defines or {}).values())}.vvp"
    cmd = ["iverilog", "-g2005", "-Wall", "-I", str(RTL / "tb"), "-o", str(exe)] + \
          [f"-D{k}={v}" for k, v in (defines or {}).items()] + \
          [str(RTL / s) for s in sources] + [str(RTL / "tb" / f"{tb}.v")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"iverilog failed:\n{r.stderr}"
    return exe


def run_tb(exe: Path, **plusargs) -> tuple[int, int, str]:
    """(pass, fail, stdout) of one simulation."""
    r = subprocess.run(["vvp", "-n", str(exe)] + [f"+{k}={v}" for k, v in plusargs.items()],
                       capture_output=True, text=True, timeout=300)
    m = re.search(r"RESULT pass=(\d+) fail=(\d+)", r.stdout)
    assert m, f"no RESULT line:\n{r.stdout}\n{r.stderr}"
    return int(m.group(1)), int(m.group(2)), r.stdout


def hexfile(path: Path, values, width: int, signed: bool) -> Path:
    write_hex(path, np.asarray(values, np.int64), width, signed)
    return path
