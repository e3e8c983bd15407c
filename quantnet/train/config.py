"""The training configuration: frozen dataclasses loaded from YAML, unknown keys rejected.

A YAML file gives any subset of the fields; the rest keep the defaults below (the default run
is the 3-stage Bit-Mixer meta-network on digits). `stages`, when given, replaces the whole list.
Overrides (`--set a.b=VALUE`, or the dedicated CLI flags) are applied to the plain-dict form
and the result is validated again, so a flag can never produce a config a file could not.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, get_args

import yaml

from hwsim import documents, typed_yaml
from hwsim.errors import UserError, excerpt

from ..tbn import BN_MODES

StageKind = Literal["float", "act", "uniform", "mixed"]  # fp net; stage 1; stage 2; stage 3
SubnetKind = Literal["max", "min", "random"]
SUBNET_KINDS: tuple[str, ...] = get_args(SubnetKind)
BnMode = Literal[BN_MODES]   # the BN module's own list of modes


class TrainConfigError(UserError):
    """A training configuration value or key that is not valid (names the file and key path)."""


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adam", "sgd"] = "adam"
    lr: float = 0.003
    weight_decay: float = 0.0     # applied to conv/linear weights only (not steps, not BN)
    momentum: float = 0.9         # sgd only
    warmup_epochs: float = 1.0    # linear warm-up at the start of every stage
    schedule: Literal["cosine", "constant"] = "cosine"   # over each stage
    step_lr_scale: float = 0.1    # LSQ step sizes learn at lr * this (Adam moves every parameter by ~lr)

    def check(self, where: str) -> None:
        _positive(self.lr, f"{where}.lr")
        _positive(self.step_lr_scale, f"{where}.step_lr_scale")
        if self.weight_decay < 0 or self.momentum < 0 or self.warmup_epochs < 0:
            raise TrainConfigError(f"{where}: weight_decay, momentum and warmup_epochs must be >= 0")


@dataclass(frozen=True)
class DistillConfig:
    # inplace: the batch's highest-bit sub-network; checkpoint: a frozen float net
    teacher: Literal["inplace", "checkpoint"] = "inplace"
    checkpoint: str | None = None
    temperature: float = 1.0

    def check(self, where: str) -> None:
        _positive(self.temperature, f"{where}.temperature")
        if self.teacher == "checkpoint" and not self.checkpoint:
            raise TrainConfigError(f"{where}.checkpoint: teacher 'checkpoint' needs the path of a trained checkpoint")


@dataclass(frozen=True)
class StageConfig:
    """One phase of training. kind: float (fp network), act (stage 1: activations quantised, float
    weights, whole-network bits), uniform (stage 2: all quantised, whole-network bits), mixed
    (stage 3: per-layer/per-block bits, share of deviating units ramped 0 -> 1)."""
    name: str
    kind: StageKind
    epochs: int
    subnets: tuple[SubnetKind, ...] = ("random",)   # sub-networks per batch, gradients accumulated, one step
    bits: tuple[int, ...] | None = None      # whole-network bit-widths drawn (default: candidate_bits)
    distill: bool = False                    # non-teacher sub-networks learn from the teacher's soft outputs
    granularity: Literal["layer", "block"] = "layer"   # mixed: per layer or per block
    ramp: float = 0.5                        # mixed: fraction of the stage over which p_deviate goes 0 -> 1
    lr: float | None = None                  # overrides optim.lr for this stage
    frozen_stats: bool = False               # BN statistics calibrated before the stage and kept (mining.py)
    mine: int = 1                            # each random sub-network: the hardest of this many drawn (mining.py)

    def check(self, where: str, candidate_bits: tuple[int, ...], distill: DistillConfig) -> None:
        if self.epochs < 0:
            raise TrainConfigError(f"{where}.epochs: must be >= 0, got {self.epochs}")
        if self.mine < 1:
            raise TrainConfigError(f"{where}.mine: must be >= 1 (1: no mining), got {self.mine}")
        if self.kind == "float" and (self.frozen_stats or self.mine != 1):
            raise TrainConfigError(f"{where}: a float stage has no bit configs to mine or statistics to freeze")
        if not self.subnets:
            raise TrainConfigError(f"{where}.subnets: name at least one sub-network ({', '.join(SUBNET_KINDS)})")
        if self.bits is not None:
            bad = [b for b in self.bits if b not in candidate_bits]
            if not self.bits or bad:
                raise TrainConfigError(f"{where}.bits: {list(self.bits)} must be a non-empty subset of "
                                       f"candidate_bits {list(candidate_bits)}")
        if not 0.0 <= self.ramp <= 1.0:
            raise TrainConfigError(f"{where}.ramp: must be in [0, 1], got {self.ramp}")
        if self.lr is not None:
            _positive(self.lr, f"{where}.lr")
        if self.kind == "float" and (self.distill or self.subnets != ("random",)):
            raise TrainConfigError(f"{where}: a float stage trains one network; leave subnets and distill unset")
        if self.kind == "mixed" and self.bits is not None and tuple(sorted(self.bits)) != tuple(candidate_bits):
            raise TrainConfigError(f"{where}.bits: a mixed stage draws per-layer bits from all candidate_bits")
        if self.distill and distill.teacher == "inplace" and self.subnets[0] != "max":
            raise TrainConfigError(f"{where}.subnets: in-place distillation needs 'max' first (the teacher), "
                                   f"got {list(self.subnets)}")

    @property
    def mode(self) -> str:
        """The model's quantisation mode during this stage."""
        return {"float": "fp", "act": "act"}.get(self.kind, "full")


def _default_stages() -> tuple[StageConfig, ...]:
    return (
        StageConfig("float", "float", 30, lr=0.01),
        StageConfig("stage1", "act", 10, subnets=("random",)),
        StageConfig("stage2", "uniform", 30, subnets=("max", "min", "random"), distill=True),
        StageConfig("stage3", "mixed", 70, subnets=("max", "min", "random", "random"), distill=True, ramp=0.3,
                    mine=4),
    )


@dataclass(frozen=True)
class TrainConfig:
    model: str = "digits_resnet10"
    width: int | None = None               # arch width (None: the model's default)
    data: str = "digits"
    data_dir: str | None = None
    candidate_bits: tuple[int, ...] = (2, 3, 4)
    first_last_bits: int | None = 8
    bn_mode: BnMode = "transitional"
    weight_codes: Literal["per_width", "nested"] = "per_width"   # nested: narrower codes derived from the widest
    seed: int = 0
    device: Literal["cpu", "cuda"] = "cpu"
    batch_size: int = 64
    threads: int = 1                       # torch CPU threads (0: torch default); tiny nets run best on one
    eval_every: int = 5                    # evaluate on the test split every N epochs (and at each stage end);
                                           # each evaluation of the default net takes ~0.6 s, ~70 s a run at 1
    augment_shift: int | None = None       # random translation of training images by up to N pixels (0: off;
                                           # None: the data set's default, augment.DEFAULT_SHIFT: 1 on digits)
    augment_flip: bool = False             # mirror each training image left-right with probability 1/2
    calibrate_bn: bool = True              # recompute BN statistics with the final weights (calibrate.py)
    calibration_configs: int = 1000        # random per-layer configs in that pass (when the last stage is mixed)
    calibration_samples: int = 256         # training samples each random config's pass sees, drawn afresh per
                                           # config (0: the whole set); fewer samples let more configs reach
                                           # every (prev, prev_sc, a, w) entry for the same cost
    optim: OptimConfig = field(default_factory=OptimConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    stages: tuple[StageConfig, ...] = field(default_factory=_default_stages)

    def check(self, where: str) -> "TrainConfig":
        cands = self.candidate_bits
        if not cands or list(cands) != sorted(set(cands)) or min(cands) < 2 or max(cands) > 8:
            raise TrainConfigError(f"{where}: candidate_bits must be increasing integers in [2, 8], got {list(cands)}")
        for key in ("calibration_configs", "calibration_samples"):
            if getattr(self, key) < 0:
                raise TrainConfigError(f"{where}: {key} must be >= 0, got {getattr(self, key)}")
        for key in ("batch_size", "eval_every"):
            if getattr(self, key) < 1:
                raise TrainConfigError(f"{where}: {key} must be >= 1, got {getattr(self, key)}")
        if self.augment_shift is not None and self.augment_shift < 0:
            raise TrainConfigError(f"{where}: augment_shift must be >= 0 (or null), got {self.augment_shift}")
        if self.threads < 0 or (self.width is not None and self.width < 1):
            raise TrainConfigError(f"{where}: threads must be >= 0 and width >= 1")
        self.optim.check(f"{where}: optim")
        self.distill.check(f"{where}: distill")
        if not self.stages:
            raise TrainConfigError(f"{where}: stages: give at least one stage")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise TrainConfigError(f"{where}: stages: names must be unique, got {names}")
        for i, s in enumerate(self.stages):
            s.check(f"{where}: stages[{i}] ({s.name})", cands, self.distill)
        frozen = [s.frozen_stats for s in self.stages]
        if any(frozen):
            first = frozen.index(True)
            if not all(frozen[first:]) or first == 0 or not self.calibrate_bn:
                raise TrainConfigError(f"{where}: stages with frozen_stats must come last, after at least one "
                                       f"other stage, with calibrate_bn: true (their statistics are calibrated "
                                       f"once, when the stage before them ends)")
        return self

    @property
    def calibration_epoch(self) -> int:
        """Epochs done when BN statistics are calibrated: before the first frozen_stats stage, else at the end."""
        done = 0
        for s in self.stages:
            if s.frozen_stats:
                return done
            done += s.epochs
        return done

    @property
    def total_epochs(self) -> int:
        return sum(s.epochs for s in self.stages)

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


# ---- loading ----------------------------------------------------------------------------------
def config_from_dict(data: Any, source: str = "<config>") -> TrainConfig:
    if data is None:
        data = {}
    cfg = typed_yaml.build(TrainConfig, data, source, TrainConfigError)
    return cfg.check(source)


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Defaults, then the YAML file (if any), then `key.path=VALUE` overrides (VALUE read as YAML)."""
    data: dict = {}
    source = "<defaults>"
    if path is not None:
        path = Path(path)
        source = str(path)
        data = typed_yaml.read_yaml(path, TrainConfigError, "training config") or {}
        if not isinstance(data, Mapping):
            raise TrainConfigError(f"{path}: a training config must be a mapping of keys, got {type(data).__name__}")
    base = config_from_dict(data, source).to_dict()
    for item in overrides:
        _set_path(base, item, source)
        base = typed_yaml.build(TrainConfig, base, f"override {item!r}", TrainConfigError).to_dict()  # fill defaults of new entries
    where = source + (f" with overrides {list(overrides)}" if overrides else "")
    return config_from_dict(base, where)


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def _set_path(data: dict, item: str, source: str) -> None:
    if "=" not in item:
        raise TrainConfigError(f"override {item!r}: expected KEY.PATH=VALUE")
    key, text = item.split("=", 1)
    value = documents.parse(text, f"override {excerpt(item)}: value", TrainConfigError)
    parts = key.strip().split(".")
    node: Any = data
    for i, p in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[:i + 1])
        if isinstance(node, list):
            if not p.isdigit() or int(p) >= len(node):
                raise TrainConfigError(f"override {item!r}: {where}: index out of range (there are {len(node)})")
            idx: Any = int(p)
        elif isinstance(node, dict):
            if p not in node:
                raise TrainConfigError(f"override {item!r}: unknown key {where!r}; known here: {sorted(node)}")
            idx = p
        else:
            raise TrainConfigError(f"override {item!r}: {'.'.join(parts[:i])} is not a mapping or list")
        if last:
            node[idx] = value
        else:
            node = node[idx]


def _plain(v):
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _positive(value: float, where: str) -> None:
    if not value > 0:
        raise TrainConfigError(f"{where}: must be > 0, got {value}")
