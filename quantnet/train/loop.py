"""The training loop: stages in order, one optimiser per stage, a checkpoint after every epoch.

Determinism: the model is initialised from torch.manual_seed(seed); each epoch's shuffling and
sub-network draws come from numpy's default_rng([seed, epoch]), so a resumed run repeats exactly
what the uninterrupted run would have done.

Data parallel (distributed.py): every rank draws that same stream and trains its shard of each global
batch through DistributedDataParallel, with batch statistics of the global batch (global_batch.py) and
each shard's loss weighted by its share of the batch, so the averaged gradient is the one-process
gradient of the global batch. Rank 0 alone evaluates, calibrates BN and writes the run directory.
"""
from __future__ import annotations

import gc
import json
import math
import os
import sys
import time
import warnings
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from hwsim.bits import BitConfig
from hwsim.errors import UserError

from ..data import Dataset, batches, load_dataset
from ..evaluate import accuracy_configured
from ..layers import QConv2d, QLinear
from ..models import MetaResNet, build_model
from .augment import default_shift, random_flip, random_shift
from .calibrate import calibrate_bn, calibration_configs
from .bn_init import warm_start_untrained_bns
from .config import StageConfig, TrainConfig, TrainConfigError, save_config
from .global_batch import local_statistics, use_global_batch_statistics
from .distill import FrozenTeacher, distill_loss, soft_targets
from .distributed import PeerStopped, Ranks
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
                           first_last_bits=cfg.first_last_bits, weight_codes=cfg.weight_codes, **arch)
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
                  teacher=None, temperature: float = 1.0, net=None):
    """Yield (kind, config, logits, loss) per sub-network, in order; the caller back-propagates each
    loss before the next forward (gradients accumulate, one graph alive at a time).

    Without distillation every sub-network learns from the labels. With it, a `teacher` callable
    (frozen float net) gives every sub-network its targets; without one the first sub-network (the
    highest-bit one) learns from the labels and its detached soft outputs teach the others.

    `net` runs the forward (default: the model); a DistributedDataParallel net averages gradients across
    ranks on the last sub-network's backward only, the earlier ones accumulating locally.
    """
    targets = soft_targets(teacher(xb), temperature) if stage.distill and teacher is not None else None
    for i, (kind, bc) in enumerate(subnets):
        select(model, stage.mode, bc)
        with _local_gradients(net, last=i == len(subnets) - 1):
            logits = (net or model)(xb)
        loss = distill_loss(logits, targets, temperature) if targets is not None else F.cross_entropy(logits, yb)
        yield kind, bc, logits, loss
        if stage.distill and teacher is None and i == 0:
            targets = soft_targets(logits, temperature)


def _local_gradients(net, last: bool):
    """DDP reads this at the forward: all but the step's last backward keep their gradients local."""
    return net.no_sync() if isinstance(net, DistributedDataParallel) and not last else nullcontext()


def _bits_text(bc: BitConfig | None) -> str:
    """Every layer's w/a bits, e.g. '8/8 2/3 ...' ('fp': the float net)."""
    return "fp" if bc is None else " ".join(f"{w}/{a}" for w, a in bc.bits.values())


def _divergence(loss: torch.Tensor, where: str) -> str | None:
    """The message for a non-finite loss (None when it is finite)."""
    if torch.isfinite(loss):
        return None
    return (f"training diverged: loss is {loss.item()} at {where}; nothing was saved for this epoch (the last "
            f"checkpoint, if any, is intact). Lower the learning rate (optim.lr / --lr) or check the data.")


class Trainer:
    def __init__(self, cfg: TrainConfig, out: str | Path, progress: bool = True, subnet_log: str | Path | None = None):
        """subnet_log: a directory where each rank appends the sub-networks it draws (rank<R>.jsonl)."""
        self.cfg, self.run = cfg, RunDir(Path(out))
        self.ranks = Ranks.from_env()
        self.progress = progress and self.ranks.main
        self.subnet_log = Path(subnet_log) if subnet_log is not None else None
        self.device = self.ranks.device(cfg.device)   # a clear error when CUDA is asked for but absent
        if self.ranks.world > 1:
            # a frozen stage's calibration runs on rank 0 only: the ranks' statistics would drift apart
            odd = [s.name for s in cfg.stages if s.frozen_stats]
            if odd:
                raise TrainConfigError(f"stage(s) {odd}: frozen_stats is single-process only; "
                                       f"train them without --nproc / torchrun")
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.data = load_dataset(cfg.data, cfg.data_dir)
        self.ranks.check_batches(len(self.data.y_train), cfg.batch_size)
        self.model = build_for(cfg, self.data).to(self.device)
        self.net = self.model      # what runs the training forward: the model, or its DDP wrapper
        self.teacher = FrozenTeacher(cfg.distill.checkpoint, self.device) \
            if cfg.distill.teacher == "checkpoint" and any(s.distill for s in cfg.stages) else None

    # ---- one epoch ----------------------------------------------------------------------------
    def _epoch(self, pos: StagePosition, opt: torch.optim.Optimizer, epochs_done: int) -> dict:
        cfg, stage, model, ranks = self.cfg, pos.stage, self.model, self.ranks
        rng = np.random.default_rng([cfg.seed, epochs_done])
        n = len(self.data.y_train)
        steps = math.ceil(n / cfg.batch_size)
        base_lr = stage.lr if stage.lr is not None else cfg.optim.lr
        T = cfg.distill.temperature
        sums, correct, seen = defaultdict(float), defaultdict(int), defaultdict(int)
        shift = cfg.augment_shift if cfg.augment_shift is not None else default_shift(cfg.data)
        x_train = random_shift(self.data.x_train, shift, rng)
        if cfg.augment_flip:
            x_train = random_flip(x_train, rng)
        self.net.train()
        if stage.frozen_stats:
            freeze_statistics(model)
        lr = p = 0.0
        drawn = []
        for step, (xb, yb) in enumerate(batches(x_train, self.data.y_train, cfg.batch_size, True, rng)):
            # this rank's shard; its mean loss weighs len/n_global * world, so the DDP average is the batch mean
            share = ranks.shard(len(yb))
            weight = (share.stop - share.start) * ranks.world / len(yb)
            xb, yb = xb[share].to(self.device), yb[share].to(self.device)
            k = pos.epoch * steps + step
            lr = lr_at(base_lr, k, steps, stage.epochs, cfg.optim.warmup_epochs, cfg.optim.schedule)
            for g in opt.param_groups:
                g["lr"] = lr * g.get("lr_scale", 1.0)
            p = p_deviate(stage, k / max(1, steps * stage.epochs))
            subnets = sample_subnets(stage, model.spec, rng, k / max(1, steps * stage.epochs))
            subnets = mine_subnets(model, stage, subnets, xb, yb, rng, ranks.sum)
            drawn.append([[kind, _bits_text(bc)] for kind, bc in subnets])
            opt.zero_grad(set_to_none=True)
            diverged = None
            for kind, bc, logits, loss in subnet_losses(model, stage, subnets, xb, yb, self.teacher, T, self.net):
                diverged = diverged or _divergence(loss, f"stage {stage.name!r} epoch {pos.epoch + 1} batch {step + 1} "
                                                         f"(sub-network {kind}, {bc.name if bc else 'fp'})")
                # every backward still runs: the last one all-reduces gradients, and a rank that left before it
                # would leave the others waiting there
                (loss / len(subnets) * weight).backward()
                sums[kind] += float(loss.detach()) * len(yb)
                correct[kind] += int((logits.detach().argmax(1) == yb).sum())
                seen[kind] += len(yb)
            if not ranks.all_ok(diverged is None):
                raise TrainingDiverged(diverged or f"training diverged: another rank's loss was non-finite at stage "
                                                   f"{stage.name!r} epoch {pos.epoch + 1} batch {step + 1}; nothing "
                                                   f"was saved for this epoch. Lower the learning rate (optim.lr / --lr).")
            opt.step()
        self._record_draws(epochs_done, drawn)
        sums, correct, seen = self._summed_over_ranks(sums, correct, seen)
        rec = {"lr": lr, "loss": sum(sums.values()) / sum(seen.values())}
        if stage.kind == "mixed":
            rec["p_deviate"] = p
        for kind in seen:
            rec[f"loss/{kind}"] = sums[kind] / seen[kind]
            rec[f"train_acc/{kind}"] = correct[kind] / seen[kind]
        return rec

    def _record_draws(self, epochs_done: int, drawn: list) -> None:
        text = json.dumps(drawn)
        if self.subnet_log is not None:
            self.subnet_log.mkdir(parents=True, exist_ok=True)
            with (self.subnet_log / f"rank{self.ranks.rank}.jsonl").open("a") as f:
                f.write(json.dumps({"rank": self.ranks.rank, "pid": os.getpid(), "epochs_done": epochs_done,
                                    "subnets": drawn}) + "\n")
        self.ranks.check_lockstep(text, f"sub-networks in epoch {epochs_done + 1}")

    def _summed_over_ranks(self, sums: dict, correct: dict, seen: dict) -> tuple[dict, dict, dict]:
        """The epoch's loss and accuracy sums over all ranks' shards (kinds come in the same order on all)."""
        if not self.ranks.active:
            return sums, correct, seen
        kinds = list(seen)
        total = self.ranks.sum([d[k] for d in (sums, correct, seen) for k in kinds])
        n = len(kinds)
        return (dict(zip(kinds, total[:n])), {k: int(v) for k, v in zip(kinds, total[n:2 * n])},
                {k: int(v) for k, v in zip(kinds, total[2 * n:])})

    def _check_weights(self, where: str) -> None:
        for name, t in list(self.model.named_parameters()) + list(self.model.named_buffers()):
            if t.is_floating_point() and not torch.isfinite(t).all():
                raise TrainingDiverged(f"training diverged: {name} holds NaN/inf after {where}; nothing was saved "
                                       f"for this epoch (the last checkpoint, if any, is intact). Lower the "
                                       f"learning rate (optim.lr / --lr).")

    # ---- the run ------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict:
        self.ranks.start(self.device)
        try:
            if self.ranks.main:
                with self.run.lock():
                    last = self._fit(resume)
            else:
                last = self._fit(resume)
            self.ranks.all_ok(True)   # the others wait for rank 0's last save before the group closes
            return last
        finally:
            if self.net is not self.model:   # DDP's reducer must go before its process group, or exit hangs
                self.net = self.model
                gc.collect()
            self.ranks.stop()

    def _open(self, resume: bool) -> tuple[int, dict | None]:
        """(epochs done, optimiser state) to start from. Rank 0 checks and prepares the run directory (the
        others wait for its word, so one failure stops all); then every rank reads the same checkpoint."""
        cfg, run, ranks = self.cfg, self.run, self.ranks
        failure = None
        if ranks.main:
            try:
                if resume:
                    run.load_for_resume()       # validates; trims metrics of an epoch never saved
                elif run.has_run():
                    raise ResumeError(f"{run.root} already holds a training run; pass --resume to continue it "
                                      f"or choose another --out")
                else:
                    run.root.mkdir(parents=True, exist_ok=True)
                    save_config(cfg, run.config)
            except Exception as e:   # noqa: BLE001 - re-raised below, after telling the other ranks
                failure = e
        if not ranks.all_ok(failure is None):
            if failure is not None:
                raise failure
            raise PeerStopped(f"rank {ranks.rank}: rank 0 could not open {run.root}; it reports why")
        if not resume:
            return 0, None
        saved = run.load_for_resume(trim=False)
        if saved is None:   # killed before its first checkpoint: nothing to keep, so it starts over
            if ranks.main:
                print(f"{run.root}: no epoch was saved before the run stopped; training from epoch 0",
                      file=sys.stderr)
            return 0, None
        payload, state = saved
        self.model.load_state_dict(payload["state_dict"])
        return int(state["epochs_done"]), state["optimizer"]

    def _wrap(self) -> None:
        """The training forward of a multi-rank run: global-batch BN statistics, gradients averaged by DDP.
        find_unused_parameters: a sub-network leaves the other widths' step sizes and BN entries unused;
        all ranks draw the same sub-networks, so a parameter is unused on every rank or on none."""
        if self.ranks.active and self.net is self.model:
            use_global_batch_statistics(self.model)
            ids = [self.device.index] if self.device.type == "cuda" else None
            with warnings.catch_warnings():   # torch 2.13 renames broadcast_buffers; older ones know only it
                warnings.filterwarnings("ignore", "`broadcast_buffers`", FutureWarning)
                self.net = DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=True,
                                                   broadcast_buffers=False)

    def _fit(self, resume: bool) -> dict:
        cfg, run, model, main = self.cfg, self.run, self.model, self.ranks.main
        epochs_done, opt_state = self._open(resume)
        self._wrap()
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
                    if not main:   # the other ranks go on to the next epoch; rank 0 joins them when done
                        continue
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
        with local_statistics(self.model):   # rank 0 alone: whole batches, as one process would
            return calibrate_bn(self.model, anchors, self.data.x_train, self.device, others,
                                samples=self.cfg.calibration_samples, seed=10_000 + self.cfg.seed)

    def _extra(self, pos: StagePosition, stage_epoch: int, epochs_done: int) -> dict:
        return {"data": self.cfg.data, "data_dir": self.cfg.data_dir, "stage": pos.stage.name,
                "stage_index": pos.index, "epoch": stage_epoch, "complete": epochs_done == self.cfg.total_epochs,
                "train_config": self.cfg.to_dict()}


def train(cfg: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True,
          subnet_log: str | Path | None = None) -> dict:
    """Run (or continue) training into `out`; returns the last epoch's metrics record (rank 0's is complete).
    Under torchrun (WORLD_SIZE > 1 in the environment) this process is one rank of a data-parallel run."""
    return Trainer(cfg, out, progress, subnet_log).fit(resume)
