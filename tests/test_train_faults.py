"""Faults during training: SIGKILL at any moment then --resume gives the uninterrupted run's checkpoint; a
second writer on one run directory is refused; a failed save leaves the last checkpoint intact."""
import errno
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from bitmixer import cli
from quantnet.checkpoint import read_checkpoint
from quantnet.train import ResumeError, load_config, train

SETS = ["data=synthetic", "model=digits_resnet", "width=4", "batch_size=64", "eval_every=1", "threads=1", "calibration_configs=4",
        "stages=[{name: a, kind: act, epochs: 2}, {name: b, kind: uniform, epochs: 3, subnets: [max, random]}]"]


def _start(out):
    args = [sys.executable, "-m", "bitmixer.cli", "train", "--out", str(out), "--no-progress"]
    for s in SETS:
        args += ["--set", s]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _wait_for(path, proc, timeout=180):
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() - t0 < timeout, f"{path} never appeared"
        time.sleep(0.02)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    full = tmp_path / "full"
    train(load_config(None, SETS), full, progress=False)
    part = tmp_path / "part"
    proc = _start(part)
    _wait_for(part / "metrics.jsonl", proc)         # inside the first epochs' saves
    time.sleep(random.Random(os.getpid()).uniform(0.0, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    # config.yaml precedes metrics.jsonl, so --resume works wherever the kill fell (before the first
    # checkpoint it starts over)
    assert cli.main(["train", "--out", str(part), "--resume", "--no-progress"]) == 0
    a, b = read_checkpoint(full / "checkpoint.pt")["state_dict"], read_checkpoint(part / "checkpoint.pt")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_second_writer_refused(tmp_path):
    run = tmp_path / "run"
    proc = _start(run)
    try:
        _wait_for(run / "config.yaml", proc)
        with pytest.raises(ResumeError, match=r"another process \(pid \d+\) is writing"):
            train(load_config(None, SETS), run, resume=True, progress=False)
    finally:
        proc.kill()
        proc.wait(timeout=60)


def test_failed_save_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    cfg = load_config(None, SETS[:-1] + ["stages=[{name: a, kind: act, epochs: 1}]"])
    train(cfg, run, progress=False)
    before = (run / "checkpoint.pt").read_bytes()
    real = torch.save

    def full_disk(obj, f, *a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    more = load_config(None, SETS[:-1] + ["stages=[{name: a, kind: act, epochs: 2}]"])
    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(ResumeError, match="cannot save epoch 2 .*No space left"):
        train(more, run, resume=True, progress=False)
    monkeypatch.setattr(torch, "save", real)
    assert (run / "checkpoint.pt").read_bytes() == before
    assert read_checkpoint(run / "checkpoint.pt")["extra"]["epochs_done"] == 1


@pytest.mark.parametrize("dies_at", [1, 2])
def test_kill_between_state_and_checkpoint_resumes(tmp_path, monkeypatch, dies_at):
    """The narrowest window: the optimiser state of an epoch is on disk, its checkpoint is not. At epoch 1
    nothing was committed yet, and --resume must start over rather than refuse (CI once saw it refuse)."""
    from quantnet.train import rundir
    cfg = load_config(None, SETS)
    full = tmp_path / "full"
    train(cfg, full, progress=False)
    part = tmp_path / "part"
    real, calls = rundir.save_checkpoint, {"n": 0}

    def dies_at_save(*a, **k):
        calls["n"] += 1
        if calls["n"] == dies_at:
            raise KeyboardInterrupt   # stands in for SIGKILL: nothing after this point runs
        return real(*a, **k)

    monkeypatch.setattr(rundir, "save_checkpoint", dies_at_save)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, part, progress=False)
    monkeypatch.setattr(rundir, "save_checkpoint", real)
    assert (part / "train_state.next.pt").exists() and (dies_at > 1) == (part / "checkpoint.pt").exists()
    train(cfg, part, resume=True, progress=False)
    a, b = read_checkpoint(full / "checkpoint.pt")["state_dict"], read_checkpoint(part / "checkpoint.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
