"""The training loop: stages in order, one optimiser per stage, a checkpoint after every epoch.

Determinism: the model is initialised from torch.manual_seed(seed); each epoch's shuffling and
sub-network draws come from numpy's default_rng([seed, epoch]), so a resumed run repeats exactly
what the uninterrupted run would have done.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hwsim.bits import BitConfig
from hwsim.errors import UserError

from ..data import Dataset, batches, load_dataset
from ..evaluate import accuracy_configured
from ..layers import QConv2d, QLinear
from ..models import MetaResNet, build_model
from .augment import default_shift, random_shift
from .calibrate import calibrate_bn, calibration_configs
from .bn_init import warm_start_untrained_bns
from .config import StageConfig, TrainConfig, TrainConfigError, save_config
from .distill import FrozenTeacher, distill_loss, soft_targets
from .mining import freeze_statistics, mine_subnets
from .rundir import ResumeError, RunDir
from .sampling import p_deviate, sample_subnets, stage_bits
from .schedule import lr_at


class TrainingDiverged(UserError):
    """The loss or the weights became NaN/inf; the last good checkpoint is left as it was."""


@dataclass(frozen=True)
class StagePosition:
    index: int
    stage: StageConfig
    epoch: int            # epochs of this stage already done


def locate(cfg: TrainConfig, epochs_done: int) -> StagePosition | None:
    """Where a run that has finished `epochs_done` epochs continues (None: finished)."""
    left = epochs_done
    for i, s in enumerate(cfg.stages):
        if left < s.epochs:
            return StagePosition(i, s, left)
        left -= s.epochs
    return None


def build_for(cfg: TrainConfig, data: Dataset) -> MetaResNet:
    c, h, _ = data.input_shape
    arch = {"in_channels": c, "input_size": h, "num_classes": data.num_classes}
    if cfg.width is not None:
        arch["width"] = cfg.width
    torch.manual_seed(cfg.seed)
    try:
        return build_model(cfg.model, candidate_bits=cfg.candidate_bits, bn_mode=cfg.bn_mode,
                           first_last_bits=cfg.first_last_bits, **arch)
    except ValueError as e:
        raise TrainConfigError(f"model {cfg.model!r}: {e}") from None


def select(model: MetaResNet, mode: str, bc: BitConfig | None) -> None:
    model.set_mode(mode)
    if bc is not None:
        model.apply_bits(bc)


def make_optimizer(model: MetaResNet, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Weight decay on conv/linear weights only; LSQ step sizes get lr * optim.step_lr_scale."""
    decayed = {id(m.weight) for m in model.modules() if isinstance(m, (QConv2d, QLinear))}
    steps = {id(p) for n, p in model.named_parameters() if ".steps." in n}
    params = list(model.parameters())
    groups = [{"params": [p for p in params if id(p) in decayed], "weight_decay": cfg.optim.weight_decay},
              {"params": [p for p in params if id(p) in steps], "weight_decay": 0.0,
               "lr_scale": cfg.optim.step_lr_scale},
              {"params": [p for p in params if id(p) not in decayed and id(p) not in steps], "weight_decay": 0.0}]
    if cfg.optim.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.optim.lr, momentum=cfg.optim.momentum)
    return torch.optim.Adam(groups, lr=cfg.optim.lr)


@torch.no_grad()
def evaluate_stage(model: MetaResNet, stage: StageConfig, x: np.ndarray, y: np.ndarray,
                   device: torch.device, batch_size: int = 512) -> dict[str, float]:
    """Test accuracy in the stage's own mode: the float net, or each uniform bit-width of the stage."""
    cfgs = [("fp", None)] if stage.kind == "float" else \
        [(f"W{b}A{b}", BitConfig.uniform(model.spec, b)) for b in stage_bits(stage, model.spec)]
    out = {}
    for name, bc in cfgs:
        select(model, stage.mode, bc)
        out[name] = accuracy_configured(model, x, y, batch_size, device)
    return out


def subnet_losses(model: MetaResNet, stage: StageConfig, subnets, xb: torch.Tensor, yb: torch.Tensor,
                  teacher=None, temperature: float = 1.0):
    """Yield (kind, config, logits, loss) per sub-network, in order; the caller back-propagates each
    loss before the next forward (gradients accumulate, one graph alive at a time).

    Without distillation every sub-network learns from the labels. With it, a `teacher` callable
    (frozen float net) gives every sub-network its targets; without one the first sub-network (the
    highest-bit one) learns from the labels and its detached soft outputs teach the others.
    """
    targets = soft_targets(teacher(xb), temperature) if stage.distill and teacher is not None else None
    for i, (kind, bc) in enumerate(subnets):
        select(model, stage.mode, bc)
        logits = model(xb)
        loss = distill_loss(logits, targets, temperature) if targets is not None else F.cross_entropy(logits, yb)
        yield kind, bc, logits, loss
        if stage.distill and teacher is None and i == 0:
            targets = soft_targets(logits, temperature)


def _check_finite(loss: torch.Tensor, where: str) -> None:
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"training diverged: loss is {loss.item()} at {where}; nothing was saved for this "
                               f"epoch (the last checkpoint, if any, is intact). Lower the learning rate "
                               f"(optim.lr / --lr) or check the data.")


class Trainer:
    def __init__(self, cfg: TrainConfig, out: str | Path, progress: bool = True):
        self.cfg, self.run, self.progress = cfg, RunDir(Path(out)), progress
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise TrainConfigError("device: 'cuda' requested but torch sees no CUDA device")
        self.device = torch.device(cfg.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.data = load_dataset(cfg.data, cfg.data_dir)
        self.model = build_for(cfg, self.data).to(self.device)
        self.teacher = FrozenTeacher(cfg.distill.checkpoint, self.device) \
            if cfg.distill.teacher == "checkpoint" and any(s.distill for s in cfg.stages) else None

    # ---- one epoch ----------------------------------------------------------------------------
    def _epoch(self, pos: StagePosition, opt: torch.optim.Optimizer, epochs_done: int) -> dict:
        cfg, stage, model = self.cfg, pos.stage, self.model
        rng = np.random.default_rng([cfg.seed, epochs_done])
        n = len(self.data.y_train)
        steps = math.ceil(n / cfg.batch_size)
        base_lr = stage.lr if stage.lr is not None else cfg.optim.lr
        T = cfg.distill.temperature
        sums, correct, seen = defaultdict(float), defaultdict(int), defaultdict(int)
        shift = cfg.augment_shift if cfg.augment_shift is not None else default_shift(cfg.data)
        x_train = random_shift(self.data.x_train, shift, rng)
        model.train()
        if stage.frozen_stats:
            freeze_statistics(model)
        lr = p = 0.0
        for step, (xb, yb) in enumerate(batches(x_train, self.data.y_train, cfg.batch_size, True, rng)):
            xb, yb = xb.to(self.device), yb.to(self.device)
            k = pos.epoch * steps + step
            lr = lr_at(base_lr, k, steps, stage.epochs, cfg.optim.warmup_epochs, cfg.optim.schedule)
            for g in opt.param_groups:
                g["lr"] = lr * g.get("lr_scale", 1.0)
            p = p_deviate(stage, k / max(1, steps * stage.epochs))
            subnets = sample_subnets(stage, model.spec, rng, k / max(1, steps * stage.epochs))
            subnets = mine_subnets(model, stage, subnets, xb, yb, rng)
            opt.zero_grad(set_to_none=True)
            for kind, bc, logits, loss in subnet_losses(model, stage, subnets, xb, yb, self.teacher, T):
                _check_finite(loss, f"stage {stage.name!r} epoch {pos.epoch + 1} batch {step + 1} "
                                    f"(sub-network {kind}, {bc.name if bc else 'fp'})")
                (loss / len(subnets)).backward()
                sums[kind] += float(loss.detach()) * len(yb)
                correct[kind] += int((logits.detach().argmax(1) == yb).sum())
                seen[kind] += len(yb)
            opt.step()
        rec = {"lr": lr, "loss": sum(sums.values()) / sum(seen.values())}
        if stage.kind == "mixed":
            rec["p_deviate"] = p
        for kind in seen:
            rec[f"loss/{kind}"] = sums[kind] / seen[kind]
            rec[f"train_acc/{kind}"] = correct[kind] / seen[kind]
        return rec

    def _check_weights(self, where: str) -> None:
        for name, t in list(self.model.named_parameters()) + list(self.model.named_buffers()):
            if t.is_floating_point() and not torch.isfinite(t).all():
                raise TrainingDiverged(f"training diverged: {name} holds NaN/inf after {where}; nothing was saved "
                                       f"for this epoch (the last checkpoint, if any, is intact). Lower the "
                                       f"learning rate (optim.lr / --lr).")

    # ---- the run ------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict:
        with self.run.lock():
            return self._fit(resume)

    def _fit(self, resume: bool) -> dict:
        cfg, run, model = self.cfg, self.run, self.model
        epochs_done, opt_state = 0, None
        if resume:
            payload, state = run.load_for_resume()
            model.load_state_dict(payload["state_dict"])
            epochs_done, opt_state = int(state["epochs_done"]), state["optimizer"]
        else:
            if run.has_run():
                raise ResumeError(f"{run.root} already holds a training run; pass --resume to continue it "
                                  f"or choose another --out")
            run.root.mkdir(parents=True, exist_ok=True)
            save_config(cfg, run.config)
        last: dict = {}
        bar = tqdm(total=cfg.total_epochs, initial=epochs_done, desc="train", unit="epoch", disable=not self.progress)
        try:
            while (pos := locate(cfg, epochs_done)) is not None:
                opt = make_optimizer(model, cfg)
                if pos.epoch == 0:
                    warm_start_untrained_bns(model)
                elif opt_state is not None:
                    opt.load_state_dict(opt_state)
                opt_state = None
                for e in range(pos.epoch, pos.stage.epochs):
                    here = StagePosition(pos.index, pos.stage, e)
                    t0 = time.perf_counter()
                    rec = self._epoch(here, opt, epochs_done)
                    self._check_weights(f"stage {pos.stage.name!r} epoch {e + 1}")
                    epochs_done += 1
                    if epochs_done == cfg.calibration_epoch and cfg.calibrate_bn:
                        rec["bn_calibrated"] = self._calibrate(pos.stage)
                    if epochs_done % cfg.eval_every == 0 or e + 1 == pos.stage.epochs:
                        rec.update({f"test_acc/{k}": v for k, v in evaluate_stage(
                            model, pos.stage, self.data.x_test, self.data.y_test, self.device).items()})
                    last = {"epoch": epochs_done, "stage": pos.stage.name, "stage_index": pos.index,
                            "stage_kind": pos.stage.kind, "stage_epoch": e + 1, **rec,
                            "seconds": round(time.perf_counter() - t0, 3)}
                    run.append_metrics(last)
                    run.save(model, opt.state_dict(), epochs_done, self._extra(pos, e + 1, epochs_done))
                    bar.update(1)
                    bar.set_postfix(stage=pos.stage.name, loss=f"{rec['loss']:.3f}")
        finally:
            bar.close()
        return last

    def _calibrate(self, stage: StageConfig) -> int:
        n = self.cfg.calibration_configs if stage.kind == "mixed" else 0
        bits = () if stage.kind == "float" else stage_bits(stage, self.model.spec)
        anchors, others = calibration_configs(self.model, stage.mode, bits, n, stage.granularity,
                                              seed=10_000 + self.cfg.seed,
                                              include_float=any(s.kind == "float" for s in self.cfg.stages))
        return calibrate_bn(self.model, anchors, self.data.x_train, self.device, others)

    def _extra(self, pos: StagePosition, stage_epoch: int, epochs_done: int) -> dict:
        return {"data": self.cfg.data, "data_dir": self.cfg.data_dir, "stage": pos.stage.name,
                "stage_index": pos.index, "epoch": stage_epoch, "complete": epochs_done == self.cfg.total_epochs,
                "train_config": self.cfg.to_dict()}


def train(cfg: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Run (or continue) training into `out`; returns the last epoch's metrics record."""
    return Trainer(cfg, out, progress).fit(resume)
