"""Meta-network checkpoints: weights, every step size, every BN bank, model name and candidate bits.

Loaded with torch.load(weights_only=True): a checkpoint can hold only tensors and plain
containers, never code.
"""
from __future__ import annotations

from hwsim.errors import UserError

from pathlib import Path

import torch

from .models import MetaResNet, build_model

FORMAT = "bitmixer-checkpoint"
VERSION = 2   # 2: TBN entries keyed by the (prev, a, w) transition


class CheckpointError(UserError):
    pass


def save_checkpoint(model: MetaResNet, path: str | Path, extra: dict | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT, "version": VERSION,
        "model": model.name, "model_kwargs": model.model_kwargs(), "arch_kwargs": dict(getattr(model, "arch_kwargs", {})),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint under the real name


def read_tagged(path: str | Path, fmt: str, version: int, keys: tuple[str, ...], error: type[UserError],
                what: str, kind: str) -> dict:
    """torch.load(weights_only=True) of a dict tagged {format: fmt, version}, holding `keys`; `error`
    names the file and what is wrong (`what`: 'checkpoint'; `kind`: 'bitmixer checkpoint')."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or unsafe files
        raise error(f"{path}: not a readable {what} ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise error(f"{path}: not a {kind} (missing format tag {fmt!r})")
    if payload.get("version") != version:
        raise error(f"{path}: {what} version {payload.get('version')!r}, this code reads version {version}")
    for key in keys:
        if key not in payload:
            raise error(f"{path}: {what} lacks {key!r}")
    return payload


def read_checkpoint(path: str | Path) -> dict:
    return read_tagged(path, FORMAT, VERSION, ("model", "model_kwargs", "state_dict"), CheckpointError, "checkpoint",
                       "bitmixer checkpoint")


def load_checkpoint(path: str | Path) -> tuple[MetaResNet, dict]:
    """Rebuild the meta-network from a checkpoint; returns (model in eval mode, extra)."""
    payload = read_checkpoint(path)
    model = build_model(payload["model"], **payload["model_kwargs"], **payload.get("arch_kwargs", {}))
    missing, unexpected = model.load_state_dict(payload["state_dict"], strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit model {payload['model']!r} "
                              f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.eval()
    return model, payload.get("extra", {})
