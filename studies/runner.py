"""`run_study(name, ...)`: load a study's YAML (the packaged default or the user's), the meta-network
and the accelerators, run it, and write its outputs and index.html."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from hwsim.errors import UserError

from .schema import build, load_yaml

STUDY_NAMES = ("pareto", "runtime-switch", "accelerators", "ablation", "selection", "papers", "storage")
PACKAGE_DIR = Path(__file__).resolve().parent


def default_config_path(name: str) -> Path:
    return PACKAGE_DIR / f"{name}.yaml"


def _module(name: str):
    if name not in STUDY_NAMES:
        raise UserError(f"unknown study {name!r}; available: {', '.join(STUDY_NAMES)}")
    import importlib
    return importlib.import_module(f"studies.{name.replace('-', '_')}")


def load_study_config(name: str, path: str | Path | None = None):
    mod = _module(name)
    path = Path(path) if path else default_config_path(name)
    return build(mod.CONFIG, load_yaml(path), path.name if not path.is_absolute() else str(path))


def with_checkpoint(cfg, checkpoint: str | Path | None):
    """The config with --checkpoint written into its model section, so that resolved_config.yaml records the
    checkpoint the study actually used."""
    model = getattr(cfg, "model", None)
    if checkpoint is None or not hasattr(model, "checkpoint"):
        return cfg
    return dataclasses.replace(cfg, model=dataclasses.replace(model, checkpoint=str(checkpoint)))


def run_study(name: str, config: str | Path | None = None, out: str | Path | None = None,
              checkpoint: str | None = None, progress: bool = True, cfg=None) -> Path:
    """Returns the path of the study's index.html."""
    mod = _module(name)
    cfg = with_checkpoint(cfg if cfg is not None else load_study_config(name, config), checkpoint)
    out_dir = Path(out) if out else Path("runs") / f"study-{name}"
    output = mod.main(cfg, out_dir, checkpoint=checkpoint, progress=progress)
    output.finish()
    return out_dir / "index.html"
