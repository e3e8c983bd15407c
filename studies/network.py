"""The meta-network a study measures: the model, the test samples, and accuracy at many bit configs
from one source: the torch fake-quant model, or the bit-exact integer simulator (the exported IR run
by hwsim's executor). Accuracies are cached by config so a search can ask twice for free."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from hwsim.bits import BitConfig, LayerTable
from hwsim.errors import UserError

AccuracySource = Literal["torch", "simulator"]
SOURCE_LABEL = {"torch": "torch fake-quant model", "simulator": "bit-exact integer simulator"}


@dataclass(frozen=True)
class ModelSection:
    """Which meta-network and which test samples."""
    checkpoint: str = "runs/demo/train/checkpoint.pt"
    data: str | None = None          # default: the data set the checkpoint was trained on
    data_dir: str | None = None
    samples: int | None = 500        # first N test samples; null: all
    accuracy: AccuracySource = "torch"
    threads: int = 1                 # torch CPU threads while measuring (0: torch's default); small nets run
                                     # fastest on one, and far faster than on two contended cores


def config_key(cfg: BitConfig) -> tuple:
    return tuple(sorted(cfg.bits.items()))


@dataclass
class MetaNet:
    model: object                    # quantnet MetaResNet
    x: np.ndarray                    # uint8 codes of the test samples
    y: np.ndarray
    source: AccuracySource = "torch"
    data_name: str = ""
    ir: object | None = None         # the exported integer model, for source == "simulator"
    threads: int = 1
    x_train: np.ndarray | None = None   # training samples, for searches that learn (FracBits)
    y_train: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def spec(self) -> LayerTable:
        return self.model.spec

    @property
    def source_label(self) -> str:
        return f"accuracy: {SOURCE_LABEL[self.source]}, {len(self.y)} {self.data_name} test samples".replace("  ", " ")

    def accuracy(self, configs: Sequence[BitConfig]) -> np.ndarray:
        out = np.empty(len(configs))
        with torch_threads(self.threads):
            for i, c in enumerate(configs):
                k = config_key(c)
                if k not in self._cache:
                    self._cache[k] = self._measure(c)
                out[i] = self._cache[k]
        return out

    def _measure(self, cfg: BitConfig) -> float:
        if self.source == "torch":
            from quantnet.evaluate import accuracy
            return accuracy(self.model, cfg, self.x, self.y)
        from hwsim.executor import execute
        logits = execute(self.ir, cfg, self.x).logits
        return float((np.asarray(logits).argmax(1) == self.y).mean())


def load_metanet(section: ModelSection, checkpoint: str | None = None) -> MetaNet:
    """The checkpoint (the CLI's --checkpoint wins over the YAML), its data, and the IR if needed."""
    from quantnet.checkpoint import load_checkpoint
    from quantnet.data import load_dataset

    path = Path(checkpoint or section.checkpoint)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist: train one (`bitmixer train` or `bitmixer demo`) "
                        f"or name one with --checkpoint or model.checkpoint in the study config")
    model, extra = load_checkpoint(path)
    data = load_dataset(section.data or extra.get("data", "digits"), section.data_dir or extra.get("data_dir"))
    net = from_model(model, data.x_test, data.y_test, section.samples, section.accuracy, data.name, section.threads)
    net.x_train, net.y_train = data.x_train, data.y_train
    return net


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with n torch CPU threads (0: leave as is), then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def from_model(model, x: np.ndarray, y: np.ndarray, samples: int | None = None,
               source: AccuracySource = "torch", data_name: str = "", threads: int = 1) -> MetaNet:
    x, y = x[:samples], y[:samples]
    ir = None
    if source == "simulator":
        from quantnet.export import export_model
        ir = export_model(model)
    return MetaNet(model, x, y, source, data_name, ir, threads)


def int_model(net: MetaNet):
    """The integer model whose layer shapes the cost model prices (exported once per network)."""
    if net.ir is None:
        from quantnet.export import export_model
        net.ir = export_model(net.model)
    return net.ir
