"""Training at scale: determinism, data-parallel ranks (gloo on CPU) against one process, rank 0 as the only
writer, resume of a killed multi-process run, and the CIFAR-10 recipe's pipeline on tiny written batches."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cifar_files import write_cifar
from quantnet.checkpoint import read_checkpoint
from quantnet.train import load_config, train
from quantnet.data import make_synthetic
from quantnet.train import loop as loop_mod
from quantnet.train.loop import build_for
from quantnet.train.distributed import DistributedError, Ranks

ROOT = Path(__file__).resolve().parents[1]
# SGD (Adam would magnify float rounding in near-zero gradients); batch 61 of 256 samples: shards of 30 and 31,
# the last batch 12; the mixed stage's last sub-network leaves parameters of the others unused.
COMMON = """\
data: synthetic
width: 4
threads: 1
batch_size: 61
calibration_configs: 4
optim: {name: sgd, lr: 0.05, warmup_epochs: 0}
"""
TINY = COMMON + """\
stages:
  - {name: a, kind: act, epochs: 2}
  - {name: b, kind: mixed, epochs: 2, subnets: [max, min, random], distill: true}
"""
# Mining on 2 ranks: each rank scores the candidates on its own shard and the summed losses decide. (It follows one
# process up to rounding: a last-bit difference in the running statistics that score the candidates reordered
# two of them on 1 of 10 mined steps of TINY with mine: 2, so it is not compared with one process here.)
MINED = COMMON + """\
stages:
  - {name: a, kind: act, epochs: 1}
  - {name: b, kind: mixed, epochs: 1, subnets: [max, random, random], mine: 3}
"""
# Float training has no rounding of activations to codes: there, the 1-vs-2-process difference stays at float
# rounding. With quantised activations a last-bit difference in BN statistics moves a value across a code
# boundary now and then (7 of 62 samples at the first step of the act stage above: logits 0.02 apart).
FLOAT = COMMON + """\
stages:
  - {name: f, kind: float, epochs: 2}
"""
EPOCHS = 4
RUN_FILES = {".lock", "config.yaml", "metrics.jsonl", "checkpoint.pt", "train_state.pt"}


def _state(run):
    return read_checkpoint(run / "checkpoint.pt")["state_dict"]


def _cli(*args):
    return [sys.executable, "-m", "bitmixer.cli", "train", "--no-progress", *args]


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each recipe trained by 2 gloo ranks (through `train --nproc 2`, the runs at once) and by one process:
    tmp/two, tmp/one (TINY, sub-network draws in tmp/log) and tmp/two_float, tmp/one_float (FLOAT); MINED by 2
    ranks only (tmp/two_mined, draws in tmp/log_mined)."""
    tmp = tmp_path_factory.mktemp("ddp")
    procs = []
    for name, text, extra in (("", TINY, ["--subnet-log", str(tmp / "log")]), ("_float", FLOAT, []),
                              ("_mined", MINED, ["--subnet-log", str(tmp / "log_mined")])):
        (tmp / f"tiny{name}.yaml").write_text(text)
        procs.append(subprocess.Popen(_cli("--config", str(tmp / f"tiny{name}.yaml"), "--out", str(tmp / f"two{name}"),
                                           "--nproc", "2", *extra),
                                      cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        if name != "_mined":
            train(load_config(tmp / f"tiny{name}.yaml"), tmp / f"one{name}", progress=False)
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()[-3000:]
    return tmp


# ---- one process ------------------------------------------------------------------------------------
def test_same_seed_machine_and_threads_give_an_identical_checkpoint(tmp_path):
    cfg = load_config(None, ["data=synthetic", "width=4", "threads=1", "calibration_configs=2",
                             "stages=[{name: b, kind: mixed, epochs: 1, subnets: [max, random], distill: true}]"])
    train(cfg, tmp_path / "x", progress=False)
    train(cfg, tmp_path / "y", progress=False)
    a, b = _state(tmp_path / "x"), _state(tmp_path / "y")
    assert a.keys() == b.keys() and len(a) > 100
    assert all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def test_shards_cover_each_global_batch_once_and_differ_by_at_most_one():
    for world in (1, 2, 3, 4):
        for n in range(world, 40):
            parts = [Ranks(r, world).shard(n) for r in range(world)]
            idx = [i for p in parts for i in range(n)[p]]
            assert idx == list(range(n))
            sizes = [p.stop - p.start for p in parts]
            assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


def test_a_rank_without_samples_in_a_batch_is_refused():
    with pytest.raises(DistributedError, match=r"3 processes but a global batch of 2 samples \(batch_size 64, 130"):
        Ranks(0, 3).check_batches(130, 64)        # the last batch holds 2
    Ranks(0, 2).check_batches(130, 64)


def test_cuda_requested_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(DistributedError, match="no CUDA device"):
        Ranks().device("cuda")


# ---- two gloo ranks ---------------------------------------------------------------------------------
@pytest.mark.slow   # three python processes per run: a minute and more on a loaded 2-core machine
def test_two_ranks_draw_the_same_subnetworks_at_every_step(runs):
    logs = [[json.loads(l) for l in (runs / "log" / f"rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)]
    assert [rec["epochs_done"] for rec in logs[0]] == list(range(EPOCHS))
    draws = [[rec["subnets"] for rec in log] for log in logs]
    assert draws[0] == draws[1]
    steps = [s for epoch in draws[0] for s in epoch]
    assert len(steps) == EPOCHS * 5                      # ceil(256 / 61) batches per epoch
    mixed = {cfg for s in steps for kind, cfg in s if kind == "random" and len(set(cfg.split())) > 2}
    assert len(mixed) > 3                                # per-layer draws, so equality is not trivial


def test_two_ranks_keep_the_same_mined_subnetworks(runs):
    """Each rank scores the candidates on a different shard; only the summed losses keep them in step."""
    logs = [[json.loads(l) for l in (runs / "log_mined" / f"rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)]
    mined = [rec["subnets"] for rec in logs[0] if rec["epochs_done"] == 1]
    assert len(mined) == 1 and len(mined[0]) == 5 and {len(step) for step in mined[0]} == {3}
    assert [rec["subnets"] for rec in logs[0]] == [rec["subnets"] for rec in logs[1]]


@pytest.mark.slow
def test_two_ranks_train_the_weights_of_one_process_on_the_global_batch(runs):
    one, two = _state(runs / "one_float"), _state(runs / "two_float")
    assert one.keys() == two.keys()
    diff = {k: float((one[k].double() - two[k].double()).abs().max()) for k in one if one[k].is_floating_point()}
    assert max(diff.values()) < 1e-5, sorted(diff.items(), key=lambda kv: -kv[1])[:5]
    start = build_for(load_config(runs / "tiny_float.yaml"), make_synthetic()).state_dict()
    assert max(float((one[k] - start[k]).abs().max()) for k in diff if "weight" in k) > 1e-2   # it did train
    ints = [k for k in one if not one[k].is_floating_point()]
    assert ints and all(torch.equal(one[k], two[k]) for k in ints)   # BN batch counts


@pytest.mark.slow
def test_two_ranks_with_quantised_subnetworks_follow_one_process(runs):
    """Same draws, same BN entries and step sizes reached; losses as close as rounding to codes allows."""
    one, two = _state(runs / "one"), _state(runs / "two")
    assert one.keys() == two.keys()
    ints = [k for k in one if not one[k].is_floating_point()]
    assert ints and all(torch.equal(one[k], two[k]) for k in ints)   # batch counts, affine uses, step init flags
    m1, m2 = ([json.loads(l) for l in (runs / r / "metrics.jsonl").read_text().splitlines()] for r in ("one", "two"))
    assert [r["loss"] for r in m1] == pytest.approx([r["loss"] for r in m2], rel=2e-2)


@pytest.mark.slow
def test_rank_0_alone_writes_the_run_directory(runs):
    run = runs / "two"
    assert {p.name for p in run.iterdir()} == RUN_FILES
    assert len((run / "metrics.jsonl").read_text().splitlines()) == EPOCHS    # one writer: no doubled epochs
    pids = {json.loads(l)["rank"]: json.loads(l)["pid"] for r in (0, 1)
            for l in (runs / "log" / f"rank{r}.jsonl").read_text().splitlines()}
    assert len(set(pids.values())) == 2 and (run / ".lock").read_text() == str(pids[0])


@pytest.mark.slow
def test_killed_two_rank_run_resumes_from_its_last_checkpoint(runs, tmp_path):
    part = tmp_path / "part"
    (tmp_path / "tiny.yaml").write_text(TINY)
    proc = subprocess.Popen(_cli("--config", str(tmp_path / "tiny.yaml"), "--out", str(part), "--nproc", "2"),
                            cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    t0 = time.time()
    while not (part / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() - t0 < 300
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)          # the launcher and both ranks at once, like a lost machine;
    # mostly within stage a's 2nd epoch, so the optimiser's momentum must come back too
    proc.wait(timeout=60)
    done = read_checkpoint(part / "checkpoint.pt")["extra"]["epochs_done"]
    assert 1 <= done < EPOCHS
    resumed = subprocess.run(_cli("--out", str(part), "--resume", "--nproc", "2"), cwd=ROOT, env=_env(),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    epochs = [json.loads(l)["epoch"] for l in (part / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, EPOCHS + 1))
    a, b = _state(runs / "two"), _state(part)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- the CIFAR-10 recipe ----------------------------------------------------------------------------
def test_random_flip_mirrors_about_half_the_images_and_is_seeded():
    from quantnet.train.augment import random_flip
    x = np.random.default_rng(0).integers(0, 256, (400, 3, 4, 5), dtype=np.uint8)
    out = random_flip(x, np.random.default_rng(3))
    flipped = [i for i in range(len(x)) if np.array_equal(out[i], x[i, :, :, ::-1])]
    same = [i for i in range(len(x)) if np.array_equal(out[i], x[i])]
    assert len(flipped) + len(same) == len(x) and 150 < len(flipped) < 250
    assert np.array_equal(out, random_flip(x, np.random.default_rng(3)))


def test_cifar10_recipe_trains_end_to_end_on_written_batches(tmp_path, monkeypatch):
    write_cifar(tmp_path / "cifar", n=4)
    recipe = ROOT / "configs" / "train" / "cifar10_resnet20.yaml"
    full = load_config(recipe)
    assert full.model == "resnet20" and full.total_epochs >= 150 and full.augment_shift == 4 and full.augment_flip
    assert full.stages[-1].mine > 1                      # stage 3 mines hard configs, as the default recipe does
    flips = []
    real_flip = loop_mod.random_flip
    monkeypatch.setattr(loop_mod, "random_flip", lambda x, rng: flips.append(len(x)) or real_flip(x, rng))
    tiny = [f"stages.{i}.epochs=1" for i in range(len(full.stages))]
    cfg = load_config(recipe, tiny + ["device=cpu", "threads=1", f"data_dir={tmp_path / 'cifar'}", "batch_size=10",
                                      "calibration_configs=2", "eval_every=1"])
    train(cfg, tmp_path / "run", progress=False)
    model_state = read_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert model_state["model"] == "resnet20" and model_state["extra"]["complete"]
    convs = [k for k in model_state["state_dict"] if k.endswith("conv1.weight") or k.endswith("conv2.weight")]
    assert len(convs) == 1 + 2 * 9                       # the stem and 3 stages x 3 BasicBlocks x 2
    widths = {int(model_state["state_dict"][f"layer{s}.0.conv1.weight"].shape[0]) for s in (1, 2, 3)}
    assert widths == {16, 32, 64}
    metrics = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["stage"] for m in metrics] == [s.name for s in full.stages]
    assert "test_acc/W2A2" in metrics[-1] and metrics[-1]["bn_calibrated"] > 0
    assert flips == [20] * len(full.stages)              # every epoch flips its 5 x 4 training images


RANK_SCRIPT = """\
import os, sys
from quantnet.train import load_config, loop
rank = int(os.environ["RANK"])
if rank == 1:      # this rank alone sees a non-finite loss
    loop._divergence = lambda loss, where: f"training diverged: injected at {where}"
try:
    loop.train(load_config(sys.argv[1]), sys.argv[2], progress=False)
except loop.TrainingDiverged as e:
    print(f"rank {rank}: {e}", file=sys.stderr)
    sys.exit(3)
"""


def test_a_non_finite_loss_on_one_rank_stops_every_rank(tmp_path):
    """The ranks agree on divergence after each step's backward passes, so every rank stops with the message;
    a rank that raised alone left the others in a collective with it (seen: a gloo 'connection closed by peer'
    traceback on rank 0; a rank still alive but elsewhere leaves them waiting)."""
    from bitmixer.launch import free_port
    (tmp_path / "rank.py").write_text(RANK_SCRIPT)
    (tmp_path / "tiny.yaml").write_text(COMMON + "stages:\n  - {name: a, kind: uniform, epochs: 1}\n")
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, str(tmp_path / "rank.py"), str(tmp_path / "tiny.yaml"), str(tmp_path / "run")],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env=dict(_env(), RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                                       MASTER_PORT=port)) for r in (0, 1)]
    try:
        codes = [p.wait(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    errs = [p.stderr.read().decode() for p in procs]
    assert codes == [3, 3], errs
    assert "another rank's loss was non-finite at stage 'a' epoch 1 batch 1" in errs[0]
    assert "rank 1: training diverged: injected at stage 'a' epoch 1 batch 1" in errs[1]

