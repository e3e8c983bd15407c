"""Bit-Mixer training: the 3-stage meta-network and its baselines, from one YAML-configured loop."""
from .config import DistillConfig, OptimConfig, StageConfig, TrainConfig, TrainConfigError, load_config, save_config
from .loop import Trainer, TrainingDiverged, train
from .rundir import ResumeError, RunDir

__all__ = ["DistillConfig", "OptimConfig", "ResumeError", "RunDir", "StageConfig", "TrainConfig", "TrainConfigError",
           "Trainer", "TrainingDiverged", "load_config", "save_config", "train"]
