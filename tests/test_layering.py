"""hwsim must never import torch: the dependency runs quantnet -> hwsim only, so the simulator installs and runs without it."""
import pkgutil
import subprocess
import sys
from pathlib import Path

import hwsim


def test_hwsim_imports_without_torch():
    modules = [m.name for m in pkgutil.walk_packages(hwsim.__path__, "hwsim.")]
    assert len(modules) > 10  # the walk really found the package
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'quantnet')))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(hwsim.__file__).parent.parent)
    assert out.stdout.strip() == "", f"hwsim pulled in: {out.stdout.strip()}"
