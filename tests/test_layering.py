"""Dependency direction: bitmixer -> studies -> quantnet -> hwsim. No package imports one above it,
and hwsim never imports torch (it must run where torch is not installed)."""
import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"hwsim": ("torch", "quantnet", "studies", "bitmixer"),
             "quantnet": ("studies", "bitmixer"),
             "studies": ("bitmixer",)}


def imported_names(source: str) -> set[str]:
    """Every absolute module name a source imports, at top level or inside a function, including
    importlib.import_module("...") with a literal (or the literal start of an f-string). Relative imports
    stay inside their package and are left out."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) \
                in ("import_module", "__import__") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.JoinedStr) and arg.values:
                arg = arg.values[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
    return names


def test_imported_names_sees_every_form_of_import():
    src = ("import torch.nn\nfrom studies import x\nfrom . import y\n"
           "def f():\n    from bitmixer.cli import main\n    importlib.import_module(f'quantnet.{n}')\n")
    assert {n.split(".")[0] for n in imported_names(src)} == {"torch", "studies", "bitmixer", "quantnet"}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_a_package_above_it(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert len(files) > 5  # the walk really found the package
    bad = [f"{f.relative_to(ROOT)} imports {name}" for f in files for name in sorted(imported_names(f.read_text()))
           if name.split(".")[0] in FORBIDDEN[package]]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_importing_every_module_loads_no_package_above_it(package):
    """The same at run time, in a fresh interpreter: catches an arrow that runs through a third package."""
    pkg = importlib.import_module(package)
    modules = [m.name for m in pkgutil.walk_packages(pkg.__path__, package + ".")]
    assert len(modules) > 5
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN[package]!r})\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "", f"{package} pulled in: {out.stdout.strip()}"
