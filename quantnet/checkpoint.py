"""Meta-network checkpoints: weights, every step size, every BN bank, model name and candidate bits.

Loaded with torch.load(weights_only=True): a checkpoint can hold only tensors and plain
containers, never code.
"""
from __future__ import annotations

from hwsim.errors import UserError, excerpt

import os
from pathlib import Path

import torch

from .models import MetaResNet, build_model
from .tbn import FLOAT_KEY, TransitionalBN, key_bits, stat_key

_KEYS = ("format", "version", "model", "model_kwargs", "arch_kwargs", "state_dict", "extra")
MAX_ARCH_INT = 4096   # widths, sizes, classes: a larger one would allocate a model before its weights are checked
FORMAT = "bitmixer-checkpoint"
VERSION = 3   # 2: TBN entries keyed by the (prev, a, w) transition; 3: banks reading a block's output key
              # statistics by (prev, prev_sc, a, w) (a version 2 file loads: see _widen_v2_statistics)
READS = (2, VERSION)


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")   # one per process: two writers never share it
    try:
        torch.save(payload, tmp)
        tmp.replace(path)  # never leave a half-written checkpoint under the real name
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"{path}: cannot write the checkpoint ({e.strerror}); the previous one is intact") \
            from None


def read_tagged(path: str | Path, fmt: str, version: int | tuple[int, ...], keys: tuple[str, ...],
                error: type[UserError], what: str, kind: str) -> dict:
    """torch.load(weights_only=True) of a dict tagged {format: fmt, version} (one of `version` when a tuple),
    holding `keys`; `error` names the file and what is wrong (`what`: 'checkpoint'; `kind`: 'bitmixer checkpoint')."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises several types for corrupt or unsafe files
        raise error(f"{path}: not a readable {what} ({type(e).__name__}: "
                    f"{excerpt(str(e).partition(chr(10))[0], 200)})") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise error(f"{path}: not a {kind} (missing format tag {fmt!r})")
    versions = version if isinstance(version, tuple) else (version,)
    if type(payload.get("version")) is not int or payload["version"] not in versions:
        raise error(f"{path}: {what} version {excerpt(payload.get('version'))}, this code reads version "
                    f"{' or '.join(map(str, versions))}")
    for key in keys:
        if key not in payload:
            raise error(f"{path}: {what} lacks {key!r}")
    return payload


def read_checkpoint(path: str | Path) -> dict:
    payload = read_tagged(path, FORMAT, READS, ("model", "model_kwargs", "state_dict"), CheckpointError,
                          "checkpoint", "bitmixer checkpoint")
    _check_payload(Path(path), payload)
    return payload


def _check_payload(path: Path, payload: dict) -> None:
    """Keys, their types, and every tensor finite: a NaN or inf weight would export and verify silently."""
    unknown = [k for k in payload if k not in _KEYS]
    if unknown:
        raise CheckpointError(f"{path}: checkpoint has unknown keys {excerpt(unknown)}")
    if not isinstance(payload["model"], str):
        raise CheckpointError(f"{path}: model must be a name, got {excerpt(payload['model'])}")
    for key in ("model_kwargs", "arch_kwargs", "extra", "state_dict"):
        value = payload.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise CheckpointError(f"{path}: {key} must be a mapping with string keys, got {excerpt(value)}")
    for name, t in payload["state_dict"].items():
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"{path}: state_dict[{name!r}] is not a tensor")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{path}: state_dict[{name!r}] holds NaN or inf values")


def load_checkpoint(path: str | Path) -> tuple[MetaResNet, dict]:
    """Rebuild the meta-network from a checkpoint; returns (model in eval mode, extra)."""
    payload = read_checkpoint(path)
    kwargs = {**payload["model_kwargs"], **payload.get("arch_kwargs", {})}
    stem = payload["state_dict"].get("conv1.weight")
    if "width" not in kwargs and isinstance(stem, torch.Tensor) and stem.dim() == 4:
        # written before checkpoints recorded a default width (digits_resnet10's went from 8 to 16): the stem
        # conv has `width` filters in every registered model
        kwargs["width"] = int(stem.shape[0])
    if any(isinstance(v, int) and not 0 <= v <= MAX_ARCH_INT for v in kwargs.values()):
        raise CheckpointError(f"{path}: model arguments {excerpt(kwargs, 200)} outside [0, {MAX_ARCH_INT}]")
    try:
        model = build_model(payload["model"], **kwargs)
        state = payload["state_dict"]
        if payload["version"] == 2:
            state = _widen_v2_statistics(model, state)
        missing, unexpected = model.load_state_dict(state, strict=False)
    # the arguments come from the file: any failure to build from them, or to fit the weights (torch names the
    # mismatching tensor), is a property of the checkpoint
    except (ValueError, TypeError, RuntimeError, KeyError, IndexError, OverflowError, ZeroDivisionError) as e:
        raise CheckpointError(f"{path}: weights do not fit model {excerpt(payload['model'])} "
                              f"({type(e).__name__}: {excerpt(' '.join(str(e).split()), 300)})") from None
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit model {payload['model']!r} "
                              f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.eval()
    return model, payload.get("extra", {})


def _widen_v2_statistics(model: MetaResNet, state: dict) -> dict:
    """A version 2 state dict for this model: each (prev, prev_sc, a, w) statistics entry of a bank reading a
    block's output starts as the (prev, a, w) entry it refines, so the network computes what it computed
    (until BN calibration gives the new entries their own statistics)."""
    state = dict(state)
    for path, bank in model.named_modules():
        if not isinstance(bank, TransitionalBN) or bank.sc_candidates is None or bank.mode != "transitional":
            continue
        for key in bank.stats:
            if key == FLOAT_KEY:
                continue
            prev, _, a, w = key_bits(key)
            for field in bank.stats[key].state_dict():
                old = f"{path}.stats.{stat_key(bank.mode, prev, a, w)}.{field}"
                if old in state:
                    state[f"{path}.stats.{key}.{field}"] = state[old]
        for key in list(state):
            if key.startswith(f"{path}.stats.") and key.split(".")[-2].count("_") == 2:
                del state[key]
    return state
